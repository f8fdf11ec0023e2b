//! Checks of an import, record by record and batch by batch: which records can be
//! imported (and why not), and what a dry run would find in the database.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::report::Report;
use super::{ImportSummary, SourceRecord};
use crate::domain::{ExistingAccount, IncomingUser, Username};
use crate::legacy_hash::{self, FormatError};
use crate::store::{ExistingUser, ImportedUser, ReservedName, Store};

/// Checks one record; returns the user to import, or reports why not.
pub(super) fn accept(
    record: SourceRecord,
    names: &HashMap<String, u32>,
    report: &mut Report,
    summary: &mut ImportSummary,
    mut reserve: Option<&mut Vec<ReservedName>>,
) -> anyhow::Result<Option<ImportedUser>> {
    let mut skip = |reason: &str, username: &Username| {
        if let Some(reserve) = reserve.as_deref_mut() {
            reserve.push(ReservedName {
                username_canonical: username.canonical().to_owned(),
                username: username.as_str().to_owned(),
                reason: reason.to_owned(),
            });
        }
    };
    let raw_name = record.username.unwrap_or_default();
    let username = match Username::parse(&raw_name) {
        Ok(name) => name,
        Err(e) => {
            summary.invalid += 1;
            report.add("invalid_username", record.row, &raw_name, &e.to_string())?;
            return Ok(None);
        }
    };
    if names.get(username.canonical()).copied().unwrap_or(0) > 1 {
        // `Alice` and `alice` are one account here; which of the two people should own
        // it is not ours to guess, so neither is imported.
        summary.conflicts += 1;
        skip("conflict_in_source", &username);
        report.add(
            "conflict_in_source",
            record.row,
            username.as_str(),
            "another user in the source has the same name up to case or width",
        )?;
        return Ok(None);
    }
    let hash = record.hash.unwrap_or_default();
    // Weak formats are recognised and imported: wrapped, they verify (see
    // `legacy_hash::wrapped`). What cannot be taken apart for wrapping (an empty `plain`
    // password) is unusable. Argon2 hashes are stored as they are.
    let checked = legacy_hash::classify(&hash).and_then(|format| match format {
        legacy_hash::Format::Argon2 => Ok(()),
        _ => legacy_hash::wrapped::unwrap(&hash).map(|_| ()),
    });
    match checked {
        Ok(()) => {}
        Err(e) => {
            summary.invalid += 1;
            // Costs above the limits get their own reason: the hash is sound, but every
            // login attempt against it would cost too much time or memory.
            let reason = match e {
                FormatError::TooCostly(_) => "hash_too_costly",
                _ => "unusable_hash",
            };
            skip(reason, &username);
            report.add(reason, record.row, username.as_str(), &e.to_string())?;
            return Ok(None);
        }
    }
    Ok(Some(ImportedUser {
        username: username.as_str().to_owned(),
        username_canonical: username.canonical().to_owned(),
        hash_sha256: Sha256::digest(hash.as_bytes()).to_vec(),
        password_hash: hash,
    }))
}

/// What [`Store::import_users`] would do, read-only.
pub(super) async fn dry_run_batch(
    store: &dyn Store,
    users: &[ImportedUser],
) -> anyhow::Result<crate::store::ImportBatchReport> {
    let canonicals: Vec<String> = users.iter().map(|u| u.username_canonical.clone()).collect();
    let existing = store.existing_users(&canonicals).await?;
    let taken: HashSet<&str> = existing
        .iter()
        .map(|e| e.username_canonical.as_str())
        .collect();
    let inserted = users
        .iter()
        .filter(|u| !taken.contains(u.username_canonical.as_str()))
        .count() as u64;
    Ok(crate::store::ImportBatchReport { inserted, existing })
}

pub(super) fn incoming(user: &ImportedUser) -> IncomingUser<'_> {
    IncomingUser {
        username: &user.username,
        password_hash: &user.password_hash,
        hash_sha256: &user.hash_sha256,
    }
}

pub(super) fn account(existing: &ExistingUser) -> ExistingAccount<'_> {
    ExistingAccount {
        username: &existing.username,
        password_hash: &existing.password_hash,
        imported_hash_sha256: existing.imported_hash_sha256.as_deref(),
    }
}
