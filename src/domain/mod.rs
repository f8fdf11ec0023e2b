//! Domain types and rules, below every other layer: types that parse instead of validate
//! (once a value exists, it is valid), the vocabulary of sessions, and the rules that
//! decide security outcomes as pure functions with a table test each.

mod backoff;
mod common_passwords;
mod device_lockout;
mod email;
mod import_match;
mod mfa;
mod password;
mod rotation;
mod session;
mod username;

pub use backoff::{AttemptDecision, AttemptState, BackoffPolicy, decide_attempt};
pub use device_lockout::{
    DeviceAttempts, DeviceDecision, DeviceLockoutPolicy, decide_device_attempt,
};
pub use email::{EmailAddress, EmailError};
pub use import_match::{ExistingAccount, ImportMatch, IncomingUser, decide_import_match};
pub use mfa::{
    Assurance, MFA_TOKEN_MAX_ATTEMPTS, RECOVERY_CODE_CHARS, RECOVERY_CODES_PER_SET, TOTP_DIGITS,
    TOTP_SKEW_STEPS, TOTP_STEP_SECS, display_recovery_code, normalize_recovery_code,
    parse_totp_code,
};
pub use password::{NewPassword, PasswordError, PasswordPolicy};
pub use rotation::{RotationDecision, RotationPolicy, RotationState, decide_rotation};
pub use session::{LogoutScope, RevocationReason};
pub use username::{Username, UsernameError};
