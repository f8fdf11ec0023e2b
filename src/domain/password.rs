//! New passwords, checked against the configured length policy.
//!
//! Only registration and password changes apply the policy; login accepts whatever
//! the stored hash was made from, so imported users with short passwords still log in.

/// The rule a new password must meet.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Shortest accepted, in bytes.
    pub min_bytes: usize,
    /// Longest accepted, in bytes (bounds hashing work).
    pub max_bytes: usize,
}

/// A password that satisfies the policy. Its `Debug` output never shows it.
pub struct NewPassword(String);

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than the policy's minimum (the minimum is given).
    #[error("Password must be at least {0} bytes long")]
    TooShort(usize),
    /// Longer than the policy's maximum (the maximum is given).
    #[error("Password must be at most {0} bytes long")]
    TooLong(usize),
}

impl NewPassword {
    /// Accepts `raw` as a new password if it meets `policy`.
    pub fn parse(raw: String, policy: PasswordPolicy) -> Result<Self, PasswordError> {
        if raw.len() < policy.min_bytes {
            return Err(PasswordError::TooShort(policy.min_bytes));
        }
        if raw.len() > policy.max_bytes {
            return Err(PasswordError::TooLong(policy.max_bytes));
        }
        Ok(Self(raw))
    }

    /// The password itself, for hashing.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy {
        min_bytes: 8,
        max_bytes: 16,
    };

    #[test]
    fn lengths_are_counted_in_bytes() {
        assert_eq!(
            NewPassword::parse("1234567".into(), POLICY).err(),
            Some(PasswordError::TooShort(8))
        );
        assert!(NewPassword::parse("12345678".into(), POLICY).is_ok());
        assert_eq!(
            NewPassword::parse("ééééééééé".into(), POLICY).err(),
            Some(PasswordError::TooLong(16))
        );
    }

    #[test]
    fn debug_never_shows_the_password() -> Result<(), PasswordError> {
        let p = NewPassword::parse("sw0rdfish-secret".into(), POLICY)?;
        assert!(!format!("{p:?}").contains("sw0rdfish"));
        Ok(())
    }
}
