//! Re-authentication before acts that reach beyond the caller's own session (ASVS 7.5.2):
//! ending the user's other sessions. A stolen refresh token must not be enough to log the
//! real user out everywhere, so the caller proves they still know the password: either
//! their access token came from a password login a few minutes ago (`fresh`), or they send
//! the password with the request.

use crate::store::UserRecord;
use crate::tokens::{AccessClaims, now_unix};

use super::audit::AuditEvent;
use super::client::ClientInfo;
use super::{AuthError, Tessera};

/// Whether `claims` come from a password check at most `max_age_secs` ago. tessera writes
/// `fresh: true`; Flask-JWT-Extended may write a timestamp until which the token is fresh.
pub(super) fn recently_authenticated(claims: &AccessClaims, now: i64, max_age_secs: i64) -> bool {
    match &claims.fresh {
        serde_json::Value::Bool(true) => now - claims.iat <= max_age_secs,
        serde_json::Value::Number(until) => until
            .as_f64()
            .is_some_and(|until| (now as f64) < until && now - claims.iat <= max_age_secs),
        _ => false,
    }
}

impl Tessera {
    /// `user` again if the caller re-authenticated: a fresh token, or `password` (checked,
    /// throttled and audited like any password confirmation). Otherwise
    /// `reauthentication_required`; a wrong password is `wrong_password`.
    pub(super) async fn reauthenticated(
        &self,
        event: &'static str,
        claims: &AccessClaims,
        user: UserRecord,
        password: Option<String>,
        client: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        if let Some(password) = password {
            return self.confirm_password(event, user, password, client).await;
        }
        let max_age = self.config().reauthentication_max_age_secs as i64;
        if recently_authenticated(claims, now_unix(), max_age) {
            return Ok(user);
        }
        let refused = AuthError::ReauthenticationRequired;
        self.audit_log().record(
            AuditEvent::failed(event, &refused)
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client),
        );
        Err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(fresh: serde_json::Value, iat: i64) -> AccessClaims {
        AccessClaims {
            fresh,
            iat,
            jti: String::new(),
            token_type: "access".into(),
            sub: "a".into(),
            nbf: iat,
            exp: iat + 900,
            iss: None,
            sid: None,
            uid: None,
            aud: None,
            csrf: None,
            amr: None,
            aal: None,
        }
    }

    #[test]
    fn only_a_recent_password_login_counts() {
        let now = 10_000;
        let cases = [
            (serde_json::json!(true), now - 300, true),
            (serde_json::json!(true), now - 301, false),
            (serde_json::json!(false), now, false),
            // Flask-JWT-Extended's "fresh until" timestamp.
            (serde_json::json!(now + 60), now - 10, true),
            (serde_json::json!(now - 1), now - 10, false),
            (serde_json::json!("yes"), now, false),
        ];
        for (fresh, iat, expected) in cases {
            assert_eq!(
                recently_authenticated(&claims(fresh.clone(), iat), now, 300),
                expected,
                "fresh={fresh} iat={iat}"
            );
        }
    }
}
