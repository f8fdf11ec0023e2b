//! Vectors made by real werkzeug 2.2.3 and 3.1.9, hashlib, bcrypt and argon2-cffi
//! (scripts/make-hash-vectors.sh), plus hand-made corrupt and over-costly hashes.

use super::*;

pub(crate) struct Vector {
    pub kind: String,
    pub source: String,
    pub password: String,
    pub wrong: String,
    pub hash: String,
}

pub(crate) fn vectors() -> Vec<Vector> {
    let files = [
        include_str!("../../tests/data/password-hashes/werkzeug-2.2.3.jsonl"),
        include_str!("../../tests/data/password-hashes/werkzeug-3.1.9.jsonl"),
    ];
    let field = |v: &serde_json::Value, name: &str| v[name].as_str().unwrap_or_default().to_owned();
    files
        .iter()
        .flat_map(|f| f.lines())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|v| Vector {
            kind: field(&v, "kind"),
            source: field(&v, "source"),
            password: field(&v, "password"),
            wrong: field(&v, "wrong"),
            hash: field(&v, "hash"),
        })
        .collect()
}

const ALLOW_WEAK: LegacyPolicy = LegacyPolicy { allow_weak: true };

#[test]
fn every_vector_verifies_its_password_and_not_another() {
    let vectors = vectors();
    assert!(vectors.len() > 60, "vectors missing: {}", vectors.len());
    for v in vectors.iter().filter(|v| v.kind != "argon2") {
        let what = format!(
            "{} {} ({})",
            v.kind,
            &v.hash[..v.hash.len().min(24)],
            v.source
        );
        assert_eq!(
            verify(v.password.as_bytes(), &v.hash, ALLOW_WEAK),
            Ok(true),
            "{what}"
        );
        assert_eq!(
            verify(v.wrong.as_bytes(), &v.hash, ALLOW_WEAK),
            Ok(false),
            "{what}"
        );
    }
}

#[test]
fn vectors_are_classified_by_family() {
    for v in vectors() {
        let expected = match v.kind.as_str() {
            "werkzeug-weak" => Format::WerkzeugWeak,
            "phc" => Format::Phc,
            "bcrypt" => Format::Bcrypt,
            "argon2" => Format::Argon2,
            _ => Format::Werkzeug,
        };
        assert_eq!(classify(&v.hash), Ok(expected), "{}", v.kind);
    }
}

#[test]
fn weak_legacy_formats_are_refused_by_default() {
    let weak: Vec<Vector> = vectors()
        .into_iter()
        .filter(|v| v.kind == "werkzeug-weak")
        .collect();
    assert!(weak.len() >= 4);
    for v in weak {
        assert_eq!(
            verify(v.password.as_bytes(), &v.hash, LegacyPolicy::default()),
            Err(FormatError::WeakRefused)
        );
    }
}

#[test]
fn costs_above_the_limits_are_refused_before_running() {
    let salt = "abcdefgh";
    let hex64 = "0".repeat(64);
    let hex128 = "0".repeat(128);
    let too_costly = [
        format!("pbkdf2:sha256:4000000000${salt}${hex64}"),
        format!("pbkdf2:sha256:2000001${salt}${hex64}"),
        format!("scrypt:1048576:8:1${salt}${hex128}"),
        format!("scrypt:32768:8:64${salt}${hex128}"),
        format!("scrypt:2:4294967296:1${salt}${hex128}"),
        "$scrypt$ln=20,r=8,p=1$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "$pbkdf2-sha256$i=90000000,l=32$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "$2b$31$R9xnvN6QMjTexDsRBPDpeuAPkXOvlfmXSmjV5ilZ34ZGOoY1bmZda".into(),
        // 128·r·p = 256 MiB with a tiny N: 2.8 s and 256 MiB per attempt before.
        format!("scrypt:2:1:2097152${salt}${hex128}"),
        // N = 2^57: 128·N wrapped to 0 in the old check, so it was "within limits".
        format!("scrypt:144115188075855872:1:1${salt}${hex128}"),
        format!("scrypt:9223372036854775808:8:1${salt}${hex128}"),
        "$scrypt$ln=57,r=1,p=1$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        format!("scrypt:65536:8:4${salt}${hex128}"),
        format!("scrypt:131072:8:1${salt}${hex128}"),
        format!("pbkdf2:sha512:2000000${salt}${}", "0".repeat(128)),
        format!("pbkdf2:sha512:1000000${salt}${}", "0".repeat(128)),
        // Without a count werkzeug's dearest default (1,000,000) must be tried.
        format!("pbkdf2:sha512${salt}${}", "0".repeat(128)),
        "$pbkdf2$i=700000,l=64$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "$pbkdf2$i=2000000,l=64$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "$2b$13$R9xnvN6QMjTexDsRBPDpeuAPkXOvlfmXSmjV5ilZ34ZGOoY1bmZda".into(),
    ];
    for hash in &too_costly {
        assert!(
            matches!(
                verify(b"pw", hash, ALLOW_WEAK),
                Err(FormatError::TooCostly(_))
            ),
            "{hash}"
        );
        assert!(
            matches!(classify(hash), Err(FormatError::TooCostly(_))),
            "{hash}"
        );
    }
    let argon2_too_costly = [
        "$argon2id$v=19$m=262144,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=65536,t=7,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=32768,t=16,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=8192,t=1,p=9$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ];
    for hash in argon2_too_costly {
        assert!(
            matches!(classify(hash), Err(FormatError::TooCostly(_))),
            "{hash}"
        );
    }
}

#[test]
fn corrupt_and_unknown_hashes_are_errors_not_panics() {
    let hex64 = "0".repeat(64);
    let corrupt = [
        String::new(),
        "$".into(),
        "$$".into(),
        "$$$".into(),
        "nonsense".into(),
        "md5$salt$0123".into(),
        "pbkdf2".into(),
        "pbkdf2$$".into(),
        format!("pbkdf2:sha256:0$salt${hex64}"),
        format!("pbkdf2:sha256:-5$salt${hex64}"),
        format!("pbkdf2:sha256:1000:9$salt${hex64}"),
        format!("pbkdf2:whirlpool:1000$salt${hex64}"),
        format!("pbkdf2:sha256:1000$${hex64}"),
        format!(
            "pbkdf2:sha256:1000$salt${}",
            hex64.to_uppercase().replace('0', "A")
        ),
        "pbkdf2:sha256:1000$salt$abc".into(),
        "pbkdf2:sha256:1000$salt$zz".into(),
        "scrypt:1000:8:1$salt$00".into(),
        "scrypt:0:8:1$salt$00".into(),
        "scrypt:1024:0:1$salt$00".into(),
        "scrypt:1024:8$salt$00".into(),
        "scrypt:a:b:c$salt$00".into(),
        "$argon2id$".into(),
        "$argon2id$v=19$m=notanumber".into(),
        "$2b$".into(),
        "$2b$10$short".into(),
        "$2q$10$R9xnvN6QMjTexDsRBPDpeuAPkXOvlfmXSmjV5ilZ34ZGOoY1bmZda".into(),
        "$scrypt$ln=10,r=8$c2FsdHNhbHQ$AAAA".into(),
        "$scrypt$ln=10,r=8,p=1".into(),
        "$pbkdf2-sha256$i=0$c2FsdHNhbHQ$AAAA".into(),
        "$unknown$x".into(),
        "sha1:2$salt$00".into(),
        "\u{0}\u{ffff}$\u{1F511}$\u{0}".into(),
    ];
    for hash in &corrupt {
        assert!(verify(b"pw", hash, ALLOW_WEAK).is_err(), "{hash:?}");
        assert!(classify(hash).is_err(), "{hash:?}");
    }
}

#[test]
fn the_plain_form_compares_the_whole_password() {
    assert_eq!(verify(b"secret", "plain$$secret", ALLOW_WEAK), Ok(true));
    assert_eq!(verify(b"secre", "plain$$secret", ALLOW_WEAK), Ok(false));
    assert_eq!(verify(b"secrets", "plain$$secret", ALLOW_WEAK), Ok(false));
}
