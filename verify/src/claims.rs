//! What a verified access token says.

use serde_json::{Map, Value};

/// The claims of a verified tessera access token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// The username (as the Flask seed's `identity`).
    pub sub: String,
    /// The session; absent on tokens minted by Flask-JWT-Extended.
    pub sid: Option<String>,
    /// The account's stable id, when the token carries it.
    pub uid: Option<i64>,
    /// Right after a password check (Flask-JWT-Extended may write a timestamp here: a
    /// future one counts as fresh).
    pub fresh: bool,
    /// Authentication methods (`pwd`, `otp`, …), when the token carries them.
    pub amr: Vec<String>,
    /// Authentication assurance level, when the token carries it.
    pub aal: Option<u8>,
    /// `access` (anything else was refused).
    pub token_type: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Every claim, as sent.
    pub raw: Map<String, Value>,
}

impl Claims {
    pub(crate) fn from_map(raw: Map<String, Value>) -> Option<Claims> {
        let string = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        let fresh = match raw.get("fresh") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|t| t > super::now_unix() as f64),
            _ => false,
        };
        let amr = raw
            .get("amr")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let aal = match raw.get("aal") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
            Some(Value::String(s)) => s.trim_start_matches("aal").parse().ok(),
            _ => None,
        };
        Some(Claims {
            sub: string("sub")?,
            sid: string("sid"),
            uid: raw.get("uid").and_then(Value::as_i64),
            fresh,
            amr,
            aal,
            token_type: string("type")?,
            iat: raw.get("iat").and_then(Value::as_i64)?,
            exp: raw.get("exp").and_then(Value::as_i64)?,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_claims_are_read_when_present_and_default_when_absent() {
        let full = serde_json::json!({"sub": "alice", "sid": "s", "uid": 7, "fresh": true,
            "amr": ["pwd", "otp"], "aal": 2, "type": "access", "iat": 1, "exp": 2});
        let Value::Object(map) = full else { return };
        let claims = Claims::from_map(map);
        assert!(
            claims
                .as_ref()
                .is_some_and(|c| c.fresh && c.aal == Some(2) && c.amr.len() == 2)
        );
        let seed =
            serde_json::json!({"sub": "bob", "type": "access", "iat": 1, "exp": 2, "fresh": false});
        let Value::Object(map) = seed else { return };
        let claims = Claims::from_map(map);
        assert!(claims.is_some_and(|c| !c.fresh && c.sid.is_none() && c.amr.is_empty()));
        let Value::Object(map) = serde_json::json!({"type": "access"}) else {
            return;
        };
        assert!(Claims::from_map(map).is_none());
    }
}
