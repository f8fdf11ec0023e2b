//! Service clients: the downstream services that call `/introspect`, `/revoke` and
//! `/revocations`. Created by `tessera clients add`; they authenticate with HTTP Basic
//! (RFC 6749 §2.3.1).
//!
//! The secret is 43 random URL-safe characters, shown once and stored only as an Argon2id
//! hash, verified on the same bounded pool as passwords (an unknown client id is verified
//! against the dummy hash, so timing does not tell which ids exist). Argon2 costs ~30 ms,
//! far too much per introspection, so a successful verification is remembered for
//! [`VERIFIED_FOR`] as the SHA-256 of the secret, keyed by the client id and the stored
//! hash, and compared in constant time: a rotated or removed secret stops working on the
//! instance that changed it at once, and on the others within [`VERIFIED_FOR`].
//! Failed attempts always reach Argon2 and are counted by the login rate limits
//! (per address, and per client id and address), and audited.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::audit::AuditEvent;
use super::client::ClientInfo;
use super::{AuthError, Tessera};
use crate::secret::random_bytes;
use crate::store::ServiceClientRecord;
use crate::tokens::now_unix;

/// How long a verified client secret is accepted without Argon2.
pub const VERIFIED_FOR: Duration = Duration::from_secs(10);
/// At most this many verified clients are remembered (clients are few; this bounds memory).
const MAX_REMEMBERED: usize = 1024;

/// A service client as `tessera clients list` shows it (never the secret or its hash).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceClientView {
    /// The id it authenticates with (`tc_…`).
    pub client_id: String,
    /// The name given at `clients add`.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// A disabled client cannot authenticate.
    pub disabled: bool,
}

/// A client id and its secret, as `clients add` and `clients rotate-secret` show them once.
#[derive(Serialize)]
pub struct ClientCredentials {
    /// The id it authenticates with (`tc_…`).
    pub client_id: String,
    /// The name given at `clients add`.
    pub name: String,
    /// The secret: shown once, stored only as a hash.
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A service client whose secret was verified.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The id it authenticated with.
    pub client_id: String,
}

/// A verified secret: the stored hash it matched, its SHA-256, and when.
type Verified = (String, [u8; 32], Instant);

/// Recently verified secrets by client id.
#[derive(Default)]
pub(super) struct VerifiedClients {
    entries: Mutex<HashMap<String, Verified>>,
}

impl VerifiedClients {
    fn matches(&self, record: &ServiceClientRecord, digest: &[u8; 32]) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .get(&record.client_id)
            .is_some_and(|(hash, known, at)| {
                // Constant time on the secret's digest; the hash names the generation.
                let same: bool = known.ct_eq(digest).into();
                same && *hash == record.secret_hash && at.elapsed() < VERIFIED_FOR
            })
    }

    fn remember(&self, record: &ServiceClientRecord, digest: [u8; 32]) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_REMEMBERED {
                entries.retain(|_, (_, _, at)| at.elapsed() < VERIFIED_FOR);
            }
            if entries.len() < MAX_REMEMBERED {
                let value = (record.secret_hash.clone(), digest, Instant::now());
                entries.insert(record.client_id.clone(), value);
            }
        }
    }

    fn forget(&self, client_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(client_id);
        }
    }
}

fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

impl Tessera {
    /// Creates a service client named `name`; its secret is in the answer and nowhere else.
    pub async fn admin_add_client(&self, name: &str) -> Result<ClientCredentials, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AuthError::Internal(
                "a client name is 1 to 100 characters, without control characters".into(),
            ));
        }
        let client_id = format!("tc_{}", URL_SAFE_NO_PAD.encode(random_bytes::<12>()));
        let secret = new_secret();
        let secret_hash = self.hasher()?.hash(secret.clone()).await?;
        let record = ServiceClientRecord {
            client_id: client_id.clone(),
            name: name.to_owned(),
            secret_hash,
            created_at: now_unix(),
            disabled_at: None,
        };
        self.store().add_service_client(&record).await?;
        self.audit_log()
            .record(AuditEvent::success("service_client_add").service_client(&client_id));
        Ok(ClientCredentials {
            client_id,
            name: record.name,
            client_secret: secret,
        })
    }

    /// Every service client, oldest first.
    pub async fn admin_list_clients(&self) -> Result<Vec<ServiceClientView>, AuthError> {
        let records = self.store().list_service_clients().await?;
        Ok(records
            .into_iter()
            .map(|r| ServiceClientView {
                client_id: r.client_id,
                name: r.name,
                created_at: r.created_at,
                disabled: r.disabled_at.is_some(),
            })
            .collect())
    }

    /// Removes a service client; `false` if there was none with this id.
    pub async fn admin_remove_client(&self, client_id: &str) -> Result<bool, AuthError> {
        let removed = self.store().remove_service_client(client_id).await?;
        self.inner.verified_clients.forget(client_id);
        if removed {
            self.audit_log()
                .record(AuditEvent::success("service_client_remove").service_client(client_id));
        }
        Ok(removed)
    }

    /// Gives a client a new secret (the old one stops working); `None` if there is no
    /// such client.
    pub async fn admin_rotate_client_secret(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientCredentials>, AuthError> {
        let Some(record) = self.store().find_service_client(client_id).await? else {
            return Ok(None);
        };
        let secret = new_secret();
        let hash = self.hasher()?.hash(secret.clone()).await?;
        if !self
            .store()
            .set_service_client_secret(client_id, &hash)
            .await?
        {
            return Ok(None);
        }
        self.inner.verified_clients.forget(client_id);
        self.audit_log()
            .record(AuditEvent::success("service_client_rotate").service_client(client_id));
        Ok(Some(ClientCredentials {
            client_id: record.client_id,
            name: record.name,
            client_secret: secret,
        }))
    }

    /// Checks a service client's id and secret (HTTP Basic). Unknown id, wrong secret and
    /// disabled client are one answer (`invalid_client`), audited.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
        client: &ClientInfo,
    ) -> Result<AuthenticatedClient, AuthError> {
        let result = self.check_client_secret(client_id, secret, client).await;
        if let Err(e) = &result {
            self.audit_log().record(
                AuditEvent::failed("service_client_auth", e)
                    .service_client(client_id)
                    .client(client),
            );
        }
        result
    }

    async fn check_client_secret(
        &self,
        client_id: &str,
        secret: &str,
        client: &ClientInfo,
    ) -> Result<AuthenticatedClient, AuthError> {
        let record = self.store().find_service_client(client_id).await?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(record) = &record
            && record.disabled_at.is_none()
            && self.inner.verified_clients.matches(record, &digest)
        {
            return Ok(AuthenticatedClient {
                client_id: record.client_id.clone(),
            });
        }
        // Every attempt that reaches Argon2 is counted like a login attempt.
        if let Some(ip) = client.ip {
            self.limits()
                .check_login(
                    crate::abuse::rate_key(ip),
                    &format!("service_client:{client_id}"),
                )
                .await?;
        }
        let stored = record.as_ref().map(|r| r.secret_hash.clone());
        let verification = self
            .hasher()?
            .reserve()?
            .verify(secret.to_owned(), stored)
            .await?;
        match record {
            Some(record) if verification.matches && record.disabled_at.is_none() => {
                self.inner.verified_clients.remember(&record, digest);
                Ok(AuthenticatedClient {
                    client_id: record.client_id,
                })
            }
            _ => Err(AuthError::InvalidClient),
        }
    }
}
