//! Flood control for audit lines: an attacker who sends a million forged tokens must not
//! get a million log lines (a full disk is an outage, and a flood buries what matters).
//!
//! Refusals are counted per (event, reason): the first `burst` in a window are written in
//! full, the rest only counted, and one summary line per (event, reason) reports how many
//! were left out once the window has passed. Successes are never held back: they need
//! valid credentials, which an attacker flooding the log does not have. The keys are
//! `'static` event and reason names, so the table cannot grow with attacker input.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the gate decided for one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Write it in full.
    Write,
    /// Count it only.
    Suppress,
}

/// Lines left out for one (event, reason) in a window that has passed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Summary {
    pub event: &'static str,
    pub reason: &'static str,
    pub suppressed: u64,
}

struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
}

pub(super) struct FloodGate {
    window: Duration,
    burst: u32,
    windows: Mutex<HashMap<(&'static str, &'static str), Window>>,
}

impl FloodGate {
    pub(super) fn new(window: Duration, burst: u32) -> Self {
        Self {
            window,
            burst,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Decides for one refusal at `now`; a summary of the previous window comes back when
    /// this refusal starts a new one.
    pub(super) fn admit(
        &self,
        event: &'static str,
        reason: &'static str,
        now: Instant,
    ) -> (Admission, Option<Summary>) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = windows.entry((event, reason)).or_insert(Window {
            started: now,
            written: 0,
            suppressed: 0,
        });
        let mut summary = None;
        if now.duration_since(window.started) >= self.window {
            summary = take_summary(event, reason, window);
            *window = Window {
                started: now,
                written: 0,
                suppressed: 0,
            };
        }
        if window.written < self.burst {
            window.written += 1;
            (Admission::Write, summary)
        } else {
            window.suppressed += 1;
            (Admission::Suppress, summary)
        }
    }

    /// Summaries of every window that has passed by `now` with lines left out (called
    /// periodically, so a flood that stops is still reported).
    pub(super) fn flush(&self, now: Instant) -> Vec<Summary> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window_length = self.window;
        let mut summaries = Vec::new();
        windows.retain(|&(event, reason), window| {
            if now.duration_since(window.started) < window_length {
                return true;
            }
            summaries.extend(take_summary(event, reason, window));
            false
        });
        summaries
    }
}

fn take_summary(event: &'static str, reason: &'static str, window: &Window) -> Option<Summary> {
    (window.suppressed > 0).then_some(Summary {
        event,
        reason,
        suppressed: window.suppressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_written_the_rest_counted_and_summarised_once() {
        let gate = FloodGate::new(Duration::from_secs(10), 3);
        let start = Instant::now();
        let decisions: Vec<_> = (0..10)
            .map(|_| gate.admit("access_token", "invalid_signature", start).0)
            .collect();
        assert_eq!(
            decisions.iter().filter(|d| **d == Admission::Write).count(),
            3
        );
        // Another reason has a window of its own.
        assert_eq!(
            gate.admit("access_token", "token_expired", start).0,
            Admission::Write
        );
        assert!(gate.flush(start + Duration::from_secs(9)).is_empty());
        let summaries = gate.flush(start + Duration::from_secs(10));
        assert_eq!(
            summaries,
            vec![Summary {
                event: "access_token",
                reason: "invalid_signature",
                suppressed: 7
            }]
        );
        assert!(gate.flush(start + Duration::from_secs(30)).is_empty());
    }

    #[test]
    fn a_new_window_reports_the_previous_one() {
        let gate = FloodGate::new(Duration::from_secs(10), 1);
        let start = Instant::now();
        gate.admit("login", "rate_limited", start);
        gate.admit("login", "rate_limited", start);
        let (admission, summary) =
            gate.admit("login", "rate_limited", start + Duration::from_secs(11));
        assert_eq!(admission, Admission::Write);
        assert_eq!(summary.map(|s| s.suppressed), Some(1));
    }
}
