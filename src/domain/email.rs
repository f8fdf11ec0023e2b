//! Email addresses: parsed by the `email_address` crate (RFC 5321/5322 syntax, not a
//! hand-written pattern), with the comparison form that decides uniqueness.

/// A syntactically valid address and its comparison form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    address: String,
    key: String,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(pub String);

/// Longest address accepted (RFC 5321's path limit).
const MAX_LEN: usize = 254;

impl EmailAddress {
    /// Parses `raw` (trimmed). Display names (`Name <a@b>`) and IP-literal domains are
    /// refused: an account's address is a plain mailbox on a named domain.
    /// `case_insensitive_local` folds the local part's case in the comparison form too
    /// (the domain's case never matters).
    pub fn parse(raw: &str, case_insensitive_local: bool) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(EmailError(format!(
                "email must be an address of 1 to {MAX_LEN} characters"
            )));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            raw,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal()
                .with_required_tld(),
        )
        .map_err(|e| EmailError(format!("email is not a valid address: {e}")))?;
        let (local, domain) = (parsed.local_part(), parsed.domain());
        if domain.starts_with('[') || !domain.contains('.') {
            return Err(EmailError(
                "email must be on a named domain such as example.com".into(),
            ));
        }
        let domain = domain.to_lowercase();
        let local_key = if case_insensitive_local {
            local.to_lowercase()
        } else {
            local.to_owned()
        };
        Ok(Self {
            address: format!("{local}@{domain}"),
            key: format!("{local_key}@{domain}"),
        })
    }

    /// The address as stored and written to (domain in lower case).
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The form two addresses are compared in.
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_parsed_and_compared_on_the_domain_without_case() {
        let a = EmailAddress::parse(" Alice.Smith@Example.COM ", false).ok();
        let a = a.unwrap_or_else(|| panic!("valid"));
        assert_eq!(a.as_str(), "Alice.Smith@example.com");
        assert_eq!(a.key(), "Alice.Smith@example.com");
        let folded = EmailAddress::parse("Alice.Smith@Example.COM", true).ok();
        assert_eq!(
            folded.map(|f| f.key().to_owned()).as_deref(),
            Some("alice.smith@example.com")
        );
    }

    #[test]
    fn malformed_or_unusual_addresses_are_refused() {
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "a@",
            "a@localhost",
            "a@[127.0.0.1]",
            "Alice <alice@example.com>",
            "a b@example.com",
            "a@@example.com",
        ] {
            assert!(EmailAddress::parse(bad, false).is_err(), "{bad}");
        }
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(250)), false).is_err());
    }
}
