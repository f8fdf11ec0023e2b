//! Argon2 computed in a memory buffer that each hashing thread keeps and reuses.
//!
//! The argon2 crate allocates its ~19 MiB working memory per call. With glibc that memory
//! lingers in per-thread malloc arenas (the dynamic mmap threshold rises to the block
//! size after the first free, so later blocks come from the arena and are not returned),
//! and under a login flood resident memory reached ~250 MiB with two hashing threads.
//! Reusing one buffer per thread makes it exactly `threads × memory_kib`, and saves the
//! page faults of a fresh allocation on every hash.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `count` blocks of this thread's buffer, growing it if needed. Only the
/// hashing pool's threads keep a buffer; any other thread (start-up's dummy hash,
/// `tessera calibrate`) gets memory that is freed again, so it keeps no 19 MiB for life.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if !crate::password::workers::on_worker_thread() {
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
    with_blocks(params.block_count(), |blocks| {
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
pub fn verify(password: &[u8], hash: &PasswordHash) -> Result<bool, String> {
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
    with_blocks(params.block_count(), |blocks| {
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
        assert!(verify(b"secret-password", &parsed)?);
        assert!(!verify(b"wrong-password", &parsed)?);
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
        assert!(verify(b"pw-pw-pw-pw", &parsed)?);
        Ok(())
    }
}
