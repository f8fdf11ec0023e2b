//! The refresh-rotation rule, in one pure function: what presenting refresh token number
//! `presented` of a session means, given the session's stored state.
//!
//! The store does only the atomic parts: the conditional UPDATE that advances a current
//! token (the winner of any race is chosen there, by one statement) and the read of the
//! state when that UPDATE did not match. Everything else is decided here:
//!
//! | session state                              | decision                          |
//! |--------------------------------------------|-----------------------------------|
//! | no session with this id and nonce          | [`RotationDecision::Invalid`]     |
//! | revoked, expired or idle too long          | [`RotationDecision::Ended`]       |
//! | counter == presented                       | [`RotationDecision::Advance`]     |
//! | counter == presented + 1, within grace     | [`RotationDecision::GraceReplay`] |
//! | counter > presented otherwise              | [`RotationDecision::Reused`]      |
//! | counter < presented                        | [`RotationDecision::Invalid`]     |

/// The rules a rotation applies, from configuration, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The moment of the decision (Unix seconds).
    pub now: i64,
    /// How long after a rotation the previous token still gets the same successor.
    pub grace_secs: i64,
    /// 0: no idle timeout.
    pub idle_timeout_secs: i64,
}

/// What the store keeps of a session that the rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationState {
    /// The number of the current refresh token.
    pub counter: i64,
    /// When the counter last advanced.
    pub rotated_at: Option<i64>,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When the session ends however it is used.
    pub expires_at: i64,
    /// When a token of the session was last refreshed (or the session opened).
    pub last_used_at: i64,
}

impl RotationPolicy {
    /// Whether a session is live: not revoked, not expired, and (with an idle timeout)
    /// used recently. The store's SQL (`LIVE` in `store/sql.rs`) states the same rule for
    /// the statements that must apply it atomically.
    pub fn is_live(&self, state: &RotationState) -> bool {
        state.revoked_at.is_none()
            && state.expires_at > self.now
            && (self.idle_timeout_secs == 0
                || state.last_used_at > self.now - self.idle_timeout_secs)
    }
}

/// What presenting a refresh token means (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationDecision {
    /// The token is current: advance the session to the next one.
    Advance,
    /// The token was rotated moments ago (two tabs refreshing at once): answer with the
    /// same successor, number `counter`, instead of logging the user out.
    GraceReplay {
        /// The number of the successor to issue again.
        counter: i64,
    },
    /// A token rotated before the grace window came back: it was copied. The session
    /// must end, so that neither the thief nor the victim keeps it.
    Reused,
    /// The session was revoked, has expired, or was idle too long.
    Ended,
    /// No such session, or a counter ahead of the session's (which cannot carry a valid
    /// MAC unless the refresh-token key leaked).
    Invalid,
}

/// Decides what presenting token number `presented` means for a session in `state`
/// (`None`: no session has the token's id and nonce).
pub fn decide_rotation(
    state: Option<&RotationState>,
    presented: i64,
    policy: &RotationPolicy,
) -> RotationDecision {
    let Some(state) = state else {
        return RotationDecision::Invalid;
    };
    if !policy.is_live(state) {
        return RotationDecision::Ended;
    }
    let within_grace = state
        .rotated_at
        .is_some_and(|at| policy.now - at <= policy.grace_secs);
    match state.counter.checked_sub(presented) {
        Some(0) => RotationDecision::Advance,
        Some(1) if within_grace => RotationDecision::GraceReplay {
            counter: state.counter,
        },
        Some(behind) if behind > 0 => RotationDecision::Reused,
        _ => RotationDecision::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const GRACE: i64 = 10;
    const POLICY: RotationPolicy = RotationPolicy {
        now: NOW,
        grace_secs: GRACE,
        idle_timeout_secs: 0,
    };

    /// A live session at counter 5, rotated `ago` seconds before now.
    fn rotated(ago: i64) -> RotationState {
        RotationState {
            counter: 5,
            rotated_at: Some(NOW - ago),
            revoked_at: None,
            expires_at: NOW + 3600,
            last_used_at: NOW - ago,
        }
    }

    fn decide(state: RotationState, presented: i64) -> RotationDecision {
        decide_rotation(Some(&state), presented, &POLICY)
    }

    #[test]
    fn the_current_token_advances() {
        assert_eq!(decide(rotated(100), 5), RotationDecision::Advance);
    }

    #[test]
    fn the_previous_token_within_the_grace_window_gets_the_same_successor() {
        let replay = RotationDecision::GraceReplay { counter: 5 };
        assert_eq!(decide(rotated(0), 4), replay);
        // The edge: exactly `refresh_grace_secs` after the rotation still counts.
        assert_eq!(decide(rotated(GRACE), 4), replay);
    }

    #[test]
    fn the_previous_token_after_the_grace_window_is_reuse() {
        assert_eq!(decide(rotated(GRACE + 1), 4), RotationDecision::Reused);
    }

    #[test]
    fn a_token_two_behind_is_reuse_even_within_the_grace_window() {
        assert_eq!(decide(rotated(0), 3), RotationDecision::Reused);
    }

    #[test]
    fn a_token_that_was_never_rotated_away_from_is_reuse_when_behind() {
        let state = RotationState {
            rotated_at: None,
            ..rotated(0)
        };
        assert_eq!(decide(state, 4), RotationDecision::Reused);
    }

    #[test]
    fn a_token_ahead_of_the_session_is_invalid() {
        assert_eq!(decide(rotated(0), 6), RotationDecision::Invalid);
        assert_eq!(decide(rotated(0), i64::MIN), RotationDecision::Invalid);
    }

    #[test]
    fn an_unknown_session_is_invalid() {
        assert_eq!(decide_rotation(None, 0, &POLICY), RotationDecision::Invalid);
    }

    #[test]
    fn an_ended_session_is_ended_whatever_the_counter() {
        let revoked = RotationState {
            revoked_at: Some(NOW - 1),
            ..rotated(0)
        };
        let expired = RotationState {
            expires_at: NOW,
            ..rotated(0)
        };
        for state in [revoked, expired] {
            for presented in [3, 4, 5, 6] {
                assert_eq!(
                    decide(state, presented),
                    RotationDecision::Ended,
                    "{state:?}"
                );
            }
        }
    }

    #[test]
    fn a_session_idle_for_the_timeout_is_ended() {
        let idle = RotationPolicy {
            idle_timeout_secs: 60,
            ..POLICY
        };
        let used = |ago: i64| RotationState {
            last_used_at: NOW - ago,
            ..rotated(ago)
        };
        assert_eq!(
            decide_rotation(Some(&used(60)), 5, &idle),
            RotationDecision::Ended
        );
        assert_eq!(
            decide_rotation(Some(&used(59)), 5, &idle),
            RotationDecision::Advance
        );
        // 0 means no idle timeout at all.
        assert_eq!(decide(used(1_000_000), 5), RotationDecision::Advance);
    }
}
