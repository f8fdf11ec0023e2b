//! The real `tessera` binary as a child process, for tests that need processes: the
//! binary itself, and several instances on one database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub struct ServerProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tessera` with none of the developer's tessera settings in its environment.
pub fn tessera_command() -> Command {
    without_tessera_env(Command::new(env!("CARGO_BIN_EXE_tessera")))
}

/// `tessera` run by `sh` after `ulimit -n limit` (soft and hard: it cannot raise it).
fn tessera_command_with_open_files(limit: u64) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(r#"ulimit -n {limit} && exec "$0" "$@""#))
        .arg(env!("CARGO_BIN_EXE_tessera"));
    without_tessera_env(command)
}

fn without_tessera_env(mut command: Command) -> Command {
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("TESSERA_")
            || key_text == "JWT_SECRET_KEY"
            || key_text == "RUST_LOG"
        {
            command.env_remove(key);
        }
    }
    command
}

impl ServerProcess {
    /// Starts `tessera serve` on a free loopback port with cheap Argon2 and JSON logs, plus
    /// `env`, and waits for its "listening" line.
    pub fn start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> ServerProcess {
        Self::start_with(data_dir, env, None)
    }

    /// [`ServerProcess::start`], with the open-files limit set to `open_files` (soft and
    /// hard) when given.
    pub fn start_with(
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
        open_files: Option<u64>,
    ) -> ServerProcess {
        let mut command = match open_files {
            Some(limit) => tessera_command_with_open_files(limit),
            None => tessera_command(),
        };
        command
            .args([
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .env("TESSERA_LOG_LEVEL", "debug")
            .env("TESSERA_ARGON2__MEMORY_KIB", "1024")
            .env("TESSERA_ARGON2__ITERATIONS", "1")
            // Every test client is 127.0.0.1: per-address limits would answer 429 (the
            // limits have their own tests, in-process).
            .env("TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE", "0")
            .env("TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__PER_MINUTE", "0")
            .env("TESSERA_RATE_LIMITS__REGISTER_PER_IP__PER_MINUTE", "0")
            .env("TESSERA_RATE_LIMITS__REFRESH_PER_IP__PER_MINUTE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tessera: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "tessera listening"
                {
                    let _ =
                        address_tx.send(event["address"].as_str().unwrap_or_default().to_owned());
                }
                if let Ok(mut logs) = sink.lock() {
                    logs.push(line);
                }
            }
        });
        let address = match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(e) => {
                let _ = child.kill();
                let logs = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("tessera did not start: {e}\n{logs}");
            }
        };
        ServerProcess {
            child,
            address: format!("http://{address}"),
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}
