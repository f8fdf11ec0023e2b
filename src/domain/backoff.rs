//! The per-name login back-off, as a rule on attempts: given what is stored of a name's
//! recent attempts, may one more password check run now, or must it wait?
//!
//! Every attempt is counted *before* its password is checked (a success resets the count
//! afterwards), and after `threshold` attempts the next one may start only a delay after
//! the previous one, the delay doubling per further attempt up to a cap. The store writes
//! the new state with one conditional statement that succeeds only if the state it was
//! decided from is still there, so of any number of concurrent requests, from any number
//! of addresses or instances, exactly one wins each step; the others are told to wait
//! (`429` with `Retry-After`). There is no permanent lock: once the step has passed, the
//! next attempt (the real user's, too) is checked.
//!
//! | stored state                                   | decision                                  |
//! |------------------------------------------------|-------------------------------------------|
//! | back-off off (`threshold` 0)                   | allow, nothing counted                    |
//! | none, or last attempt older than the window    | allow; count restarts at 1                |
//! | attempts < threshold                           | allow; attempts + 1                       |
//! | attempts ≥ threshold, step passed              | allow; attempts + 1                       |
//! | attempts ≥ threshold, step not passed          | wait until last attempt + step            |
//!
//! where step = `base_delay_ms · 2^(attempts − threshold)`, at most `max_delay_ms`.

use std::time::Duration;

/// The back-off settings, in the units the rule works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Attempts allowed without spacing; 0 turns the back-off off.
    pub threshold: u32,
    /// The step at the threshold; it doubles with each further attempt.
    pub base_delay_ms: u64,
    /// The step never grows beyond this.
    pub max_delay_ms: u64,
    /// Attempts older than this (after the last one) are forgotten.
    pub window_ms: i64,
}

/// What the store keeps per canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptState {
    /// Attempts since the last success (each counted before its check).
    pub attempts: u32,
    /// When the last counted attempt started, in milliseconds since the epoch.
    pub last_attempt_ms: i64,
}

/// What [`decide_attempt`] says about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptDecision {
    /// Check the password; first store `next` (conditionally on the state decided from).
    Allow {
        /// The state to store (`None`: the back-off is off, store nothing).
        next: Option<AttemptState>,
    },
    /// Refuse now; the next step opens after this long.
    Wait(Duration),
}

impl BackoffPolicy {
    /// The spacing required after `attempts` attempts (zero below the threshold).
    pub fn step_ms(&self, attempts: u32) -> u64 {
        if self.threshold == 0 || attempts < self.threshold {
            return 0;
        }
        let doublings = (attempts - self.threshold).min(30);
        self.base_delay_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_ms)
    }
}

/// Decides whether an attempt starting at `now_ms` may check a password, given the
/// stored `state` of its name (`None`: nothing stored).
pub fn decide_attempt(
    state: Option<&AttemptState>,
    now_ms: i64,
    policy: &BackoffPolicy,
) -> AttemptDecision {
    if policy.threshold == 0 {
        return AttemptDecision::Allow { next: None };
    }
    let fresh = AttemptState {
        attempts: 1,
        last_attempt_ms: now_ms,
    };
    let Some(state) = state else {
        return AttemptDecision::Allow { next: Some(fresh) };
    };
    if now_ms.saturating_sub(state.last_attempt_ms) > policy.window_ms {
        return AttemptDecision::Allow { next: Some(fresh) };
    }
    let step = i64::try_from(policy.step_ms(state.attempts)).unwrap_or(i64::MAX);
    let not_before = state.last_attempt_ms.saturating_add(step);
    if now_ms >= not_before {
        return AttemptDecision::Allow {
            next: Some(AttemptState {
                attempts: state.attempts.saturating_add(1),
                last_attempt_ms: now_ms,
            }),
        };
    }
    // Never more than one step, even if another instance's clock runs ahead of ours.
    let wait = (not_before - now_ms).min(step);
    AttemptDecision::Wait(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BackoffPolicy = BackoffPolicy {
        threshold: 3,
        base_delay_ms: 100,
        max_delay_ms: 1000,
        window_ms: 60_000,
    };

    fn state(attempts: u32, last_attempt_ms: i64) -> Option<AttemptState> {
        Some(AttemptState {
            attempts,
            last_attempt_ms,
        })
    }

    fn allow(attempts: u32, at: i64) -> AttemptDecision {
        AttemptDecision::Allow {
            next: state(attempts, at),
        }
    }

    fn wait(ms: u64) -> AttemptDecision {
        AttemptDecision::Wait(Duration::from_millis(ms))
    }

    #[test]
    fn each_row_of_the_rule() {
        let off = BackoffPolicy {
            threshold: 0,
            ..POLICY
        };
        let now = 1_000_000;
        #[rustfmt::skip]
        let table: Vec<(&str, Option<AttemptState>, BackoffPolicy, AttemptDecision)> = vec![
            ("off: nothing counted",                 state(50, now),          off,    AttemptDecision::Allow { next: None }),
            ("nothing stored: count starts",         None,                    POLICY, allow(1, now)),
            ("older than the window: count restarts", state(9, now - 60_001), POLICY, allow(1, now)),
            ("just inside the window: remembered",   state(9, now - 60_000),  POLICY, allow(10, now)),
            ("below the threshold: no spacing",      state(2, now),           POLICY, allow(3, now)),
            ("at the threshold, step not passed",    state(3, now - 40),      POLICY, wait(60)),
            ("at the threshold, step passed",        state(3, now - 100),     POLICY, allow(4, now)),
            ("one more: the step doubles",           state(4, now - 150),     POLICY, wait(50)),
            ("doubled step passed",                  state(4, now - 200),     POLICY, allow(5, now)),
            ("capped step",                          state(20, now - 999),    POLICY, wait(1)),
            ("capped step passed",                   state(20, now - 1000),   POLICY, allow(21, now)),
            ("a clock behind another instance's",    state(3, now + 5000),    POLICY, wait(100)),
            ("counts never overflow",                state(u32::MAX, now - 1000), POLICY, allow(u32::MAX, now)),
        ];
        for (row, stored, policy, expected) in table {
            assert_eq!(
                decide_attempt(stored.as_ref(), now, &policy),
                expected,
                "{row}"
            );
        }
    }

    #[test]
    fn the_step_doubles_from_the_threshold_up_to_the_cap() {
        let steps: Vec<u64> = (0..9).map(|n| POLICY.step_ms(n)).collect();
        assert_eq!(steps, vec![0, 0, 0, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(POLICY.step_ms(u32::MAX), 1000);
    }
}
