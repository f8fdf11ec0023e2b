//! Times one verification of each legacy hash format at the cost werkzeug (and others)
//! write by default, in this build: `cargo run --release --example legacy_hash_costs`.

use std::time::Instant;

use tessera::legacy_hash::{LegacyPolicy, verify};

fn werkzeug_pbkdf2(method: &str, iterations: u32, password: &[u8], salt: &str) -> String {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt.as_bytes(), iterations, &mut out);
    format!("{method}${salt}${}", hex::encode(out))
}

fn werkzeug_scrypt(password: &[u8], salt: &str) -> String {
    let mut out = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 1).unwrap_or_else(|e| panic!("{e}"));
    scrypt::scrypt(password, salt.as_bytes(), &params, &mut out).unwrap_or_else(|e| panic!("{e}"));
    format!("scrypt:32768:8:1${salt}${}", hex::encode(out))
}

fn main() {
    let password = b"correct horse battery staple";
    let salt = "sixteencharsalt!";
    let cases = [
        (
            "werkzeug 2.0-2.2 pbkdf2:sha256:260000",
            werkzeug_pbkdf2("pbkdf2:sha256:260000", 260_000, password, salt),
        ),
        (
            "werkzeug 2.3-3.0 pbkdf2:sha256:600000",
            werkzeug_pbkdf2("pbkdf2:sha256:600000", 600_000, password, salt),
        ),
        (
            "werkzeug 3.1 pbkdf2:sha256:1000000",
            werkzeug_pbkdf2("pbkdf2:sha256:1000000", 1_000_000, password, salt),
        ),
        (
            "bare pbkdf2 (all defaults, one pass)",
            werkzeug_pbkdf2("pbkdf2", 600_000, password, salt),
        ),
        (
            "werkzeug 3.x scrypt:32768:8:1",
            werkzeug_scrypt(password, salt),
        ),
        (
            "bcrypt cost 12",
            bcrypt::hash(password, 12).unwrap_or_default(),
        ),
    ];
    for (name, hash) in cases {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let ok = verify(password, &hash, LegacyPolicy::default());
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(ok, Ok(true), "{name}");
        }
        times.sort_by(f64::total_cmp);
        println!("{name:40} {:7.1} ms (median of 5)", times[2]);
    }
}
