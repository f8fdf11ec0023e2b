//! What an imported user meets in tessera, decided in one pure function: is the account
//! under its name the one an earlier import brought over (then the import has nothing to
//! do), or somebody else's?
//!
//! A name alone proves nothing during a cut-over: while registration was open on either
//! side, anyone could register on tessera a name that exists (or will exist) on the Flask
//! side. Counting such an account as "already present" would leave the real user unable
//! to log in with their password, and the squatter holding their name in every service
//! that trusts `sub`. So an existing account counts as the imported user only if its
//! password hash came from the same source hash.
//!
//! | account under the canonical name                                 | decision                      |
//! |------------------------------------------------------------------|-------------------------------|
//! | none                                                             | [`ImportMatch::Free`]         |
//! | another spelling (`Alice` vs `alice`)                            | [`ImportMatch::NameTaken`]    |
//! | same spelling, imported from the same hash (even if since upgraded or changed on tessera) | [`ImportMatch::AlreadyPresent`] |
//! | same spelling, no import record, hash identical (imported before records were kept) | [`ImportMatch::AlreadyPresent`] |
//! | same spelling, any other hash (registered on tessera, or the password changed on the source since) | [`ImportMatch::DifferentPassword`] |

/// The account tessera has under an imported user's canonical name.
#[derive(Debug, Clone, Copy)]
pub struct ExistingAccount<'a> {
    /// The name as the account registered it.
    pub username: &'a str,
    /// Its stored hash (possibly upgraded since an import).
    pub password_hash: &'a str,
    /// SHA-256 of the source hash the account was imported with (`None`: registered on
    /// tessera, or imported before this was recorded).
    pub imported_hash_sha256: Option<&'a [u8]>,
}

/// An imported user as the rule needs it.
#[derive(Debug, Clone, Copy)]
pub struct IncomingUser<'a> {
    /// The name as the source has it.
    pub username: &'a str,
    /// The hash as the source has it.
    pub password_hash: &'a str,
    /// SHA-256 of `password_hash`.
    pub hash_sha256: &'a [u8],
}

/// Who the account under an imported user's name is (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMatch {
    /// Nobody has the name: import.
    Free,
    /// The same user, brought over before.
    AlreadyPresent,
    /// Another spelling of the name belongs to an account.
    NameTaken,
    /// An account has exactly this name but not this user's password.
    DifferentPassword,
}

/// Decides what `incoming` meets in tessera: `existing` is the account under its
/// canonical name, if any.
pub fn decide_import_match(
    incoming: &IncomingUser<'_>,
    existing: Option<&ExistingAccount<'_>>,
) -> ImportMatch {
    let Some(existing) = existing else {
        return ImportMatch::Free;
    };
    if existing.username != incoming.username {
        return ImportMatch::NameTaken;
    }
    let same_source = match existing.imported_hash_sha256 {
        Some(digest) => digest == incoming.hash_sha256,
        None => existing.password_hash == incoming.password_hash,
    };
    if same_source {
        ImportMatch::AlreadyPresent
    } else {
        ImportMatch::DifferentPassword
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_of_the_rule() {
        let incoming = IncomingUser {
            username: "alice",
            password_hash: "pbkdf2:sha256:600000$s$h",
            hash_sha256: b"digest-of-source",
        };
        let account = |username, password_hash, imported: Option<&'static [u8]>| ExistingAccount {
            username,
            password_hash,
            imported_hash_sha256: imported,
        };
        #[rustfmt::skip]
        let table: Vec<(&str, Option<ExistingAccount<'_>>, ImportMatch)> = vec![
            ("no account",                        None,                                                                    ImportMatch::Free),
            ("another spelling",                  Some(account("Alice", "pbkdf2:sha256:600000$s$h", None)),                ImportMatch::NameTaken),
            ("imported from this hash",           Some(account("alice", "pbkdf2:sha256:600000$s$h", Some(b"digest-of-source"))), ImportMatch::AlreadyPresent),
            ("imported, since upgraded",          Some(account("alice", "$argon2id$v=19$…", Some(b"digest-of-source"))),   ImportMatch::AlreadyPresent),
            ("imported from another hash",        Some(account("alice", "pbkdf2:sha256:600000$s$h", Some(b"another"))),    ImportMatch::DifferentPassword),
            ("no record, identical hash",         Some(account("alice", "pbkdf2:sha256:600000$s$h", None)),                ImportMatch::AlreadyPresent),
            ("registered on tessera",             Some(account("alice", "$argon2id$v=19$…", None)),                        ImportMatch::DifferentPassword),
        ];
        for (row, existing, expected) in table {
            assert_eq!(
                decide_import_match(&incoming, existing.as_ref()),
                expected,
                "{row}"
            );
        }
    }
}
