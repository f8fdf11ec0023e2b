//! The device-token lockout, as a rule on attempts: may a login that presents a valid
//! device token be checked as a known device's, or has that token had its failures?
//!
//! OWASP's device-cookie scheme: failed logins presented with a device token count against
//! that token, not against the name; after `max_failures` of them within `window_secs` the
//! token is locked out until its window ends, and a login presenting it is a normal one
//! (shared hashing pool, per-name back-off). Attempts are counted *before* the password is
//! checked (so concurrent guesses with one stolen token cannot exceed the count) and a
//! success forgets them. The store writes the new state with one conditional statement
//! that succeeds only if the state it was decided from is still there.
//!
//! | stored state                                  | decision                              |
//! |-----------------------------------------------|---------------------------------------|
//! | none, or window started `window_secs` ago     | trusted; count restarts at 1          |
//! | attempts < max_failures                       | trusted; attempts + 1                 |
//! | attempts ≥ max_failures, window not over      | locked out until the window ends      |

/// The lockout settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceLockoutPolicy {
    /// Failures a token may have in one window (at least 1).
    pub max_failures: u32,
    /// Length of a window, from its first counted attempt.
    pub window_secs: i64,
}

/// What the store keeps per device token (by the digest of its nonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAttempts {
    /// Attempts since the token's last success (each counted before its check).
    pub attempts: u32,
    /// When the current window started, in Unix seconds.
    pub window_start: i64,
}

/// What [`decide_device_attempt`] says about one login presenting a valid device token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceDecision {
    /// A known device's login; first store `next` (conditionally on the state decided from).
    Trusted {
        /// The state to store.
        next: DeviceAttempts,
    },
    /// The token has had its failures: a normal login, until `until` (Unix seconds).
    LockedOut {
        /// When the window ends.
        until: i64,
    },
}

/// Decides whether a login presenting a valid device token at `now` is a known device's,
/// given the token's stored attempts (`None`: nothing stored).
pub fn decide_device_attempt(
    state: Option<&DeviceAttempts>,
    now: i64,
    policy: &DeviceLockoutPolicy,
) -> DeviceDecision {
    let fresh = DeviceAttempts {
        attempts: 1,
        window_start: now,
    };
    let Some(state) = state else {
        return DeviceDecision::Trusted { next: fresh };
    };
    let until = state.window_start.saturating_add(policy.window_secs);
    if now >= until {
        return DeviceDecision::Trusted { next: fresh };
    }
    if state.attempts < policy.max_failures.max(1) {
        return DeviceDecision::Trusted {
            next: DeviceAttempts {
                attempts: state.attempts.saturating_add(1),
                window_start: state.window_start,
            },
        };
    }
    DeviceDecision::LockedOut { until }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: DeviceLockoutPolicy = DeviceLockoutPolicy {
        max_failures: 3,
        window_secs: 600,
    };

    fn state(attempts: u32, window_start: i64) -> Option<DeviceAttempts> {
        Some(DeviceAttempts {
            attempts,
            window_start,
        })
    }

    fn trusted(attempts: u32, window_start: i64) -> DeviceDecision {
        DeviceDecision::Trusted {
            next: DeviceAttempts {
                attempts,
                window_start,
            },
        }
    }

    #[test]
    fn each_row_of_the_rule() {
        let now = 1_000_000;
        let zero = DeviceLockoutPolicy {
            max_failures: 0,
            ..POLICY
        };
        #[rustfmt::skip]
        let table: Vec<(&str, Option<DeviceAttempts>, DeviceLockoutPolicy, DeviceDecision)> = vec![
            ("nothing stored: count starts",          None,                        POLICY, trusted(1, now)),
            ("below the limit: counted",              state(2, now - 10),          POLICY, trusted(3, now - 10)),
            ("at the limit: locked out",              state(3, now - 10),          POLICY, DeviceDecision::LockedOut { until: now + 590 }),
            ("far over the limit: locked out",        state(u32::MAX, now - 10),   POLICY, DeviceDecision::LockedOut { until: now + 590 }),
            ("window over: count restarts",           state(3, now - 600),         POLICY, trusted(1, now)),
            ("a clock behind another instance's",     state(3, now + 50),          POLICY, DeviceDecision::LockedOut { until: now + 650 }),
            ("a limit of 0 is read as 1",             state(1, now),               zero,   DeviceDecision::LockedOut { until: now + 600 }),
        ];
        for (row, stored, policy, expected) in table {
            assert_eq!(
                decide_device_attempt(stored.as_ref(), now, &policy),
                expected,
                "{row}"
            );
        }
    }
}
