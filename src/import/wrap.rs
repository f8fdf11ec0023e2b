//! Importing a batch with its legacy hashes wrapped (see `crate::legacy_hash::wrapped`):
//! what is written is Argon2id over each legacy hash's output, never the hash as the
//! source had it. `hash_sha256` still digests the source hash, so a later import
//! recognises the user (`domain::import_match`).
//!
//! Wrapping costs one Argon2id per user (≈ 30 ms per core at the default parameters), so
//! only users the batch can insert are wrapped: names already taken (a second run, or
//! conflicts) are looked up first and cost nothing. The hashes are computed on one thread
//! per core, each with its own Argon2 memory, off the async runtime.

use std::collections::HashSet;

use anyhow::Context;

use crate::config::Argon2Config;
use crate::store::{ImportBatchReport, ImportedUser, Store};
use crate::tokens::now_unix;

/// Inserts the users of `batch` whose names are free, their hashes wrapped; reports the
/// accounts found under the others, as [`Store::import_users`] does.
pub(super) async fn import_wrapped(
    store: &dyn Store,
    batch: &[ImportedUser],
    argon2: Argon2Config,
) -> anyhow::Result<ImportBatchReport> {
    let canonicals: Vec<String> = batch.iter().map(|u| u.username_canonical.clone()).collect();
    let existing = store.existing_users(&canonicals).await?;
    let taken: HashSet<&str> = existing
        .iter()
        .map(|e| e.username_canonical.as_str())
        .collect();
    let free: Vec<ImportedUser> = batch
        .iter()
        .filter(|u| !taken.contains(u.username_canonical.as_str()))
        .cloned()
        .collect();
    let wrapped = tokio::task::spawn_blocking(move || wrap_all(free, argon2))
        .await
        .context("wrapping imported hashes")??;
    let mut report = store
        .import_users(&wrapped, now_unix())
        .await
        .context("importing a batch of users")?;
    report.existing.extend(existing);
    Ok(report)
}

/// Replaces each user's hash by its wrapped form, on one thread per core.
fn wrap_all(
    mut users: Vec<ImportedUser>,
    argon2: Argon2Config,
) -> anyhow::Result<Vec<ImportedUser>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = users.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = users
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for user in part {
                        // The error names the user, never the hash (FormatError holds none).
                        user.password_hash =
                            crate::password::wrap_legacy(&user.password_hash, argon2)
                                .with_context(|| {
                                    format!("cannot wrap the hash of {}", user.username)
                                })?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a hash-wrapping thread panicked"))?
        })
    })?;
    Ok(users)
}
