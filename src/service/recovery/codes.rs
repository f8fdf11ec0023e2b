//! Codes sent by mail: a link token (256 random bits) and a short code typed by a person
//! (8 characters of an alphabet without look-alikes: no 0/O, 1/I/L). Only keyed digests
//! are stored (HMAC under the key-encryption key's digest key, labelled by purpose), so
//! the table gives nothing back; the code's digest includes the user id, so it is looked
//! up per account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::random_bytes;
use crate::store::CodePurpose;
use crate::tokens::kek::Kek;

/// The code's characters: upper-case letters and digits that cannot be misread.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters in a code (about 40 bits; guessing is bounded by `email.code_attempts`).
pub(super) const CODE_LEN: usize = 8;

/// A fresh code pair, as sent and as stored.
pub(super) struct IssuedCode {
    pub token: String,
    pub code: String,
    pub token_digest: Vec<u8>,
    pub code_digest: Vec<u8>,
}

pub(super) fn issue(kek: &Kek, purpose: CodePurpose, user_id: i64) -> IssuedCode {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let code = random_code();
    IssuedCode {
        token_digest: token_digest(kek, purpose, &token),
        code_digest: code_digest(kek, purpose, user_id, &code).unwrap_or_default(),
        token,
        code,
    }
}

pub(super) fn token_digest(kek: &Kek, purpose: CodePurpose, token: &str) -> Vec<u8> {
    kek.digest(label(purpose, "token").as_bytes(), token.trim().as_bytes())
}

/// The digest of a typed code, forgiving case, spaces and dashes; `None` when it cannot
/// be a code at all (then nothing is looked up).
pub(super) fn code_digest(
    kek: &Kek,
    purpose: CodePurpose,
    user_id: i64,
    typed: &str,
) -> Option<Vec<u8>> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() != CODE_LEN || !code.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    let data = format!("{user_id}\0{code}");
    Some(kek.digest(label(purpose, "code").as_bytes(), data.as_bytes()))
}

fn label(purpose: CodePurpose, what: &str) -> String {
    format!("account {} {what}", purpose.as_str())
}

/// Eight characters of the alphabet, each uniform (bytes past the largest multiple of
/// the alphabet's size are drawn again).
fn random_code() -> String {
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut code = String::with_capacity(CODE_LEN);
    while code.len() < CODE_LEN {
        for byte in random_bytes::<16>() {
            if byte < limit && code.len() < CODE_LEN {
                code.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn kek() -> Kek {
        Kek::from_secret(&Secret::new("k".repeat(40))).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet_and_typing_variants_match() {
        let kek = kek();
        let issued = issue(&kek, CodePurpose::Reset, 7);
        assert_eq!(issued.code.len(), CODE_LEN);
        assert!(issued.code.bytes().all(|b| ALPHABET.contains(&b)));
        assert!(!issued.code.contains(['0', 'O', '1', 'I', 'L']));
        let spaced = format!(
            "{}-{} ",
            &issued.code[..4].to_ascii_lowercase(),
            &issued.code[4..]
        );
        assert_eq!(
            code_digest(&kek, CodePurpose::Reset, 7, &spaced),
            Some(issued.code_digest.clone())
        );
        // Another user, another purpose, another code: another digest.
        assert_ne!(
            code_digest(&kek, CodePurpose::Reset, 8, &issued.code),
            Some(issued.code_digest.clone())
        );
        assert_ne!(
            code_digest(&kek, CodePurpose::VerifyEmail, 7, &issued.code),
            Some(issued.code_digest.clone())
        );
        assert_eq!(code_digest(&kek, CodePurpose::Reset, 7, "short"), None);
        assert_eq!(code_digest(&kek, CodePurpose::Reset, 7, "00000000"), None);
        assert_eq!(
            token_digest(&kek, CodePurpose::Reset, &issued.token),
            issued.token_digest
        );
        assert_ne!(issue(&kek, CodePurpose::Reset, 7).token, issued.token);
    }
}
