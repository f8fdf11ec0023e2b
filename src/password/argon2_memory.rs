//! Argon2 computed in a memory buffer that each hashing thread keeps and reuses.
//!
//! The argon2 crate allocates its ~19 MiB working memory per call. With glibc that memory
//! lingers in per-thread malloc arenas (the dynamic mmap threshold rises to the block
//! size after the first free, so later blocks come from the arena and are not returned),
//! and under a login flood resident memory reached ~250 MiB with two hashing threads.
//! Reusing one buffer per thread makes it exactly `threads × memory_kib`, and saves the
//! page faults of a fresh allocation on every hash.
//!
//! The kept buffer never grows past the configured parameters: an imported hash with more
//! memory (up to the legacy limits) is verified in memory allocated for that one call and
//! freed after it. Growing the kept buffer instead made every hashing thread hold the
//! largest imported hash's memory for life (two threads kept 526 MiB after a few logins
//! against 256 MiB hashes).

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `count` blocks of this thread's buffer, growing it up to `keep` blocks
/// (the configured parameters' count). Only the hashing pool's threads keep a buffer; any
/// other thread (start-up's dummy hash, `tessera calibrate`), and any call needing more
/// than `keep`, gets memory that is freed again when `f` returns.
fn with_blocks<T>(count: usize, keep: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if count > keep || !crate::password::workers::on_worker_thread() {
        return f(&mut vec![Block::default(); count]);
    }
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        f(&mut blocks[..count])
    })
}

/// A new Argon2id PHC string for `password` with `params` and `salt`.
pub fn hash(params: &Params, password: &[u8], salt: &[u8]) -> Result<String, String> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let count = params.block_count();
    with_blocks(count, count, |blocks| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, blocks)
    })
    .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches an Argon2 (id, i or d) PHC hash. Errors mean the stored
/// hash is not one tessera can check (unknown algorithm, corrupt). Cost limits for
/// imported hashes are the caller's business (`legacy_hash::argon2_within_limits`).
/// `configured` are the parameters new hashes use: memory beyond theirs is not kept.
pub fn verify(password: &[u8], hash: &PasswordHash, configured: &Params) -> Result<bool, String> {
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).map_err(|e| e.to_string())?,
        None => Version::default(),
    };
    let params = Params::try_from(hash).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err("hash has no salt or no output".into());
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    with_blocks(params.block_count(), configured.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, blocks)
    })
    .map_err(|e| e.to_string())?;
    // Output's equality is constant-time.
    Ok(Output::new(&out).map_err(|e| e.to_string())? == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(1024, 1, 1, None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn our_hashes_verify_and_match_the_argon2_crate() -> Result<(), String> {
        use argon2::{PasswordHasher, PasswordVerifier};
        let ours = hash(&params(), b"secret-password", b"0123456789abcdef")?;
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password_with_salt(b"secret-password", b"0123456789abcdef")
            .map_err(|e| e.to_string())?
            .to_string();
        assert_eq!(ours, theirs, "same PHC string as the argon2 crate");
        let parsed = PasswordHash::new(&ours).map_err(|e| e.to_string())?;
        assert!(verify(b"secret-password", &parsed, &params())?);
        assert!(!verify(b"wrong-password", &parsed, &params())?);
        let crate_check = Argon2::default().verify_password(b"secret-password", ours.as_str());
        assert!(crate_check.is_ok());
        Ok(())
    }

    #[test]
    fn argon2i_hashes_from_elsewhere_verify() -> Result<(), String> {
        use argon2::PasswordHasher;
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params())
            .hash_password_with_salt(b"pw-pw-pw-pw", b"saltsaltsaltsalt")
            .map_err(|e| e.to_string())?
            .to_string();
        let parsed = PasswordHash::new(&argon2i).map_err(|e| e.to_string())?;
        assert!(verify(b"pw-pw-pw-pw", &parsed, &params())?);
        Ok(())
    }

    /// The kept buffer stays at the configured size after verifying a dearer hash.
    #[tokio::test]
    async fn a_dearer_hash_leaves_no_bigger_buffer_behind() -> anyhow::Result<()> {
        use argon2::PasswordHasher;
        let dearer = Params::new(8 * 1024, 1, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, dearer)
            .hash_password_with_salt(b"pw-pw-pw-pw", b"saltsaltsaltsalt")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        let pool = crate::password::workers::WorkerPool::new("test-argon2", 1, 1)?;
        let (matched, kept) = pool
            .run(move || {
                let parsed = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
                hash(&params(), b"configured", b"0123456789abcdef")?;
                let matched = verify(b"pw-pw-pw-pw", &parsed, &params())?;
                Ok::<_, String>((matched, BLOCKS.with(|b| b.borrow().len())))
            })
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
        assert!(matched);
        assert_eq!(
            kept,
            params().block_count(),
            "only the configured size is kept"
        );
        Ok(())
    }
}
