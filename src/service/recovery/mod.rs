//! Account recovery: optional email addresses verified before use, password reset by a
//! link or a typed code, and the outbox every message leaves through.
//!
//! - Nothing here answers differently for an account that does not exist: `forgot_password`
//!   returns before it looks anything up (the work goes on in a task of its own), and a
//!   reset hashes the new password before it looks for the code.
//! - Codes are single use and decided in the database (see `store::recovery`).
//! - With no `[email]` configured, the routes that need mail answer
//!   `501 email_not_configured` and nothing else changes.

mod codes;
mod outbox;

pub(crate) use outbox::deliver_outbox;

use lettre::message::Mailbox;

use crate::abuse::rate_key;
use crate::config::Config;
use crate::domain::{EmailAddress, RevocationReason, Username};
use crate::email::templates::{Language, MessageKind, MessageVars, Templates};
use crate::email::{Mailer, OutgoingMessage};
use crate::store::{
    CodeLookup, CodePurpose, EmailVerification, MailLimits, NewAccountCode, NewMessage, UserRecord,
};
use crate::tokens::{AccessClaims, now_unix};

use super::audit::AuditEvent;
use super::client::ClientInfo;
use super::{AuthError, Tessera};

/// What sends mail: the templates, the transport and the `From`.
pub(crate) struct Mail {
    templates: Templates,
    mailer: Mailer,
    from: Mailbox,
    /// `email.public_url` and `ui.prefix`: where the pages a link opens live.
    pages_url: String,
}

/// Where the pages of mailed links live: `email.public_url` (no trailing slash) and
/// `ui.prefix`. The links open the hosted pages (`{prefix}/password/reset`,
/// `{prefix}/email/verify`), which show a form and act only on its POST.
fn pages_url(config: &Config) -> String {
    let base = config.email.public_url.as_deref().unwrap_or_default();
    format!("{}{}", base.trim_end_matches('/'), config.ui.prefix)
}

impl Mail {
    /// The mail set-up of `config`, or `None` when email is off.
    pub(crate) fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some((mailer, from)) = crate::email::mailer(&config.email)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            templates: Templates::load(config.email.templates_dir.as_deref())?,
            mailer,
            from,
            pages_url: pages_url(config),
        }))
    }
}

/// Who forgot their password.
pub enum ForgotBy {
    /// The account's name.
    Username(String),
    /// The account's verified address.
    Email(String),
}

/// A reset: the token from the link, or the typed code with the account's name.
pub enum ResetBy {
    /// The link's token.
    Token(String),
    /// The code from the message and the name it was sent for.
    Code {
        /// The account's name.
        username: String,
        /// The 8-character code.
        code: String,
    },
}

/// A verification: the link's token (no login needed) or the typed code (with the
/// caller's access token).
pub enum VerifyBy<'a> {
    /// The link's token.
    Token(String),
    /// The typed code, for the caller.
    Code(&'a AccessClaims, String),
}

/// `GET /me`'s view of the address.
#[derive(Debug, Clone, Default)]
pub struct EmailView {
    /// The address (verified or waiting for verification), if any.
    pub email: Option<String>,
    /// Whether `email` is verified.
    pub verified: bool,
}

impl Tessera {
    fn mail(&self) -> Result<&Mail, AuthError> {
        self.inner
            .mail
            .as_ref()
            .ok_or(AuthError::EmailNotConfigured)
    }

    fn mail_limits(&self) -> MailLimits {
        let email = &self.config().email;
        MailLimits {
            per_recipient: email.per_recipient_per_hour,
            per_account: email.per_account_per_hour,
        }
    }

    fn parse_email(&self, raw: &str) -> Result<EmailAddress, AuthError> {
        let fold_local = self.config().email.case_insensitive_local_part;
        Ok(EmailAddress::parse(raw, fold_local)?)
    }

    /// The caller's address, for `GET /me`.
    pub(super) async fn email_view(&self, user: &UserRecord) -> Result<EmailView, AuthError> {
        let record = self.store().email_of(user.id).await?;
        Ok(EmailView {
            verified: record.email.is_some() && record.email_verified_at.is_some(),
            email: record.email,
        })
    }

    /// Sets or changes the caller's address (`POST /me/email`): the current password is
    /// checked as `/login` would; the address stays unverified, and a code and link go to
    /// it. A verified address stays in use until the new one is verified, and is told of
    /// the change.
    pub async fn set_email(
        &self,
        claims: &AccessClaims,
        raw_email: &str,
        password: String,
        language: Language,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let mail = self.mail()?;
        let address = self.parse_email(raw_email)?;
        let user = self.caller(claims).await?;
        let user = self
            .confirm_password("email_change", user, password, client)
            .await?;
        let current = self.store().email_of(user.id).await?;
        self.store()
            .set_unverified_email(user.id, address.as_str(), address.key())
            .await?;
        self.store().set_locale(user.id, language.tag()).await?;
        let kek = self.kek()?;
        let issued = codes::issue(kek, CodePurpose::VerifyEmail, user.id);
        let ttl = self.config().email.verify_ttl_secs;
        let link = format!("{}/email/verify?token={}", mail.pages_url, issued.token);
        let sealed = self.sealed_message(
            mail,
            MessageKind::VerifyEmail,
            language,
            &user,
            address.as_str(),
            Some(&link),
            Some(&issued.code),
            ttl,
        )?;
        // The old verified address hears of the change (not the new address itself).
        let replaced = match (&current.email, current.email_verified_at) {
            (Some(old), Some(_)) => self
                .parse_email(old)
                .ok()
                .filter(|old| old.key() != address.key()),
            _ => None,
        };
        let notice = match &replaced {
            Some(old) => Some((
                old.key(),
                self.sealed_message(
                    mail,
                    MessageKind::EmailChanged,
                    language,
                    &user,
                    old.as_str(),
                    None,
                    None,
                    ttl,
                )?,
            )),
            None => None,
        };
        let now = now_unix();
        let queued = self
            .store()
            .issue_code(
                NewAccountCode {
                    user_id: user.id,
                    purpose: CodePurpose::VerifyEmail,
                    token_digest: &issued.token_digest,
                    code_digest: &issued.code_digest,
                    email: Some((address.as_str(), address.key())),
                    now,
                    expires_at: now + ttl as i64,
                },
                Some(NewMessage {
                    recipient_key: address.key(),
                    sealed_message: &sealed,
                }),
                notice.as_ref().map(|(key, sealed)| NewMessage {
                    recipient_key: key,
                    sealed_message: sealed,
                }),
                self.mail_limits(),
            )
            .await?;
        self.count_queued(queued, notice.is_some());
        self.audit_log().record(
            if queued {
                AuditEvent::success("email_change")
            } else {
                AuditEvent::refused("email_change", "mail_limit")
            }
            .user(user.id, &user.username)
            .client(client),
        );
        if queued {
            Ok(())
        } else {
            Err(AuthError::RateLimited(std::time::Duration::from_secs(3600)))
        }
    }

    /// Verifies the address a code or link was sent to (`POST /email/verify`). Returns the
    /// address now verified.
    pub async fn verify_email(
        &self,
        by: VerifyBy<'_>,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        self.mail()?;
        let kek = self.kek()?;
        let max = self.config().email.code_attempts;
        let now = now_unix();
        let (outcome, caller) = match by {
            VerifyBy::Token(token) => {
                let digest = codes::token_digest(kek, CodePurpose::VerifyEmail, &token);
                let outcome = self
                    .store()
                    .verify_email_with_code(CodeLookup::Token(&digest), max, now)
                    .await?;
                (outcome, None)
            }
            VerifyBy::Code(claims, code) => {
                let user = self.caller(claims).await?;
                self.throttle_code_guesses(&user, client).await?;
                let outcome =
                    match codes::code_digest(kek, CodePurpose::VerifyEmail, user.id, &code) {
                        Some(digest) => {
                            let lookup = CodeLookup::Code {
                                user_id: user.id,
                                digest: &digest,
                            };
                            self.store()
                                .verify_email_with_code(lookup, max, now)
                                .await?
                        }
                        None => EmailVerification::NoSuchCode,
                    };
                if outcome == EmailVerification::NoSuchCode {
                    self.store()
                        .count_wrong_code(user.id, CodePurpose::VerifyEmail, now)
                        .await?;
                }
                (outcome, Some(user))
            }
        };
        let result = match outcome {
            EmailVerification::Verified { user_id, email } => {
                self.audit_log().record(
                    AuditEvent::success("email_verify")
                        .user_id(user_id)
                        .client(client),
                );
                return Ok(email);
            }
            EmailVerification::NoSuchCode => AuthError::InvalidCode,
            EmailVerification::AddressTaken => AuthError::EmailTaken,
        };
        let line = AuditEvent::failed("email_verify", &result).client(client);
        self.audit_log().record(match &caller {
            Some(user) => line.user(user.id, &user.username),
            None => line,
        });
        Err(result)
    }

    /// Removes the caller's address (`DELETE /me/email`).
    pub async fn remove_email(
        &self,
        claims: &AccessClaims,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = self.caller(claims).await?;
        self.store().remove_email(user.id, now_unix()).await?;
        self.audit_log().record(
            AuditEvent::success("email_remove")
                .user(user.id, &user.username)
                .client(client),
        );
        Ok(())
    }

    /// `POST /password/forgot`: returns at once, the same way whether or not the account
    /// or a verified address exists; the lookup and the message happen in a task of their
    /// own, so neither the answer nor its timing tells anything.
    pub fn forgot_password(
        &self,
        by: ForgotBy,
        language: Language,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        self.mail()?;
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.send_reset_message(by, language, &client).await {
                this.audit_log()
                    .record(AuditEvent::failed("password_forgot", &e).client(&client));
            }
        });
        Ok(())
    }

    async fn send_reset_message(
        &self,
        by: ForgotBy,
        language: Language,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let mail = self.mail()?;
        let user = match &by {
            ForgotBy::Username(name) => match Username::parse(name) {
                Ok(name) => {
                    self.store()
                        .find_user_by_canonical_name(name.canonical())
                        .await?
                }
                Err(_) => None,
            },
            ForgotBy::Email(raw) => match self.parse_email(raw) {
                Ok(address) => {
                    self.store()
                        .find_user_by_verified_email(address.key())
                        .await?
                }
                Err(_) => None,
            },
        };
        let Some(user) = user.filter(|u| u.disabled_at.is_none()) else {
            self.audit_log()
                .record(AuditEvent::refused("password_forgot", "no_account").client(client));
            return Ok(());
        };
        let record = self.store().email_of(user.id).await?;
        let (Some(email), Some(_)) = (record.email.as_deref(), record.email_verified_at) else {
            self.audit_log().record(
                AuditEvent::refused("password_forgot", "no_verified_email")
                    .user(user.id, &user.username)
                    .client(client),
            );
            return Ok(());
        };
        let address = self.parse_email(email)?;
        let kek = self.kek()?;
        let issued = codes::issue(kek, CodePurpose::Reset, user.id);
        let ttl = self.config().email.reset_ttl_secs;
        let link = format!("{}/password/reset?token={}", mail.pages_url, issued.token);
        let sealed = self.sealed_message(
            mail,
            MessageKind::ResetPassword,
            language,
            &user,
            address.as_str(),
            Some(&link),
            Some(&issued.code),
            ttl,
        )?;
        let queued = self
            .store()
            .issue_code(
                self.reset_code(&user, &issued, ttl),
                Some(NewMessage {
                    recipient_key: address.key(),
                    sealed_message: &sealed,
                }),
                None,
                self.mail_limits(),
            )
            .await?;
        self.count_queued(queued, false);
        self.audit_log().record(
            if queued {
                AuditEvent::success("password_forgot")
            } else {
                AuditEvent::refused("password_forgot", "mail_limit")
            }
            .user(user.id, &user.username)
            .client(client),
        );
        Ok(())
    }

    fn reset_code<'a>(
        &self,
        user: &UserRecord,
        issued: &'a codes::IssuedCode,
        ttl: u64,
    ) -> NewAccountCode<'a> {
        let now = now_unix();
        NewAccountCode {
            user_id: user.id,
            purpose: CodePurpose::Reset,
            token_digest: &issued.token_digest,
            code_digest: &issued.code_digest,
            email: None,
            now,
            expires_at: now + ttl as i64,
        }
    }

    /// `POST /password/reset`: sets a new password (under the normal policy) with a link's
    /// token or a typed code, ends every session of the user and clears the name's login
    /// back-off. A wrong, used, expired or void code is `invalid_code` whatever the name.
    pub async fn reset_password(
        &self,
        by: ResetBy,
        new_password: String,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let result = self.apply_reset(by, new_password, client).await;
        let line = match &result {
            Ok(user) => AuditEvent::success("password_reset").user(user.id, &user.username),
            Err(e) => AuditEvent::failed("password_reset", e),
        };
        self.audit_log().record(line.client(client));
        result.map(|_| ())
    }

    async fn apply_reset(
        &self,
        by: ResetBy,
        new_password: String,
        client: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        let kek = self.kek()?;
        let max = self.config().email.code_attempts;
        let now = now_unix();
        // The account the code would reset: for a link, read from the code (nothing is
        // spent); for a typed code, named by the request.
        let (user, digest) = match &by {
            ResetBy::Token(token) => {
                let digest = codes::token_digest(kek, CodePurpose::Reset, token);
                let owner = self
                    .store()
                    .code_owner(&digest, CodePurpose::Reset, now)
                    .await?;
                let user = match owner {
                    Some(id) => self.store().find_user_by_id(id).await?,
                    None => None,
                };
                (user, Some(digest))
            }
            ResetBy::Code { username, code } => {
                let user = match Username::parse(username) {
                    Ok(name) => {
                        self.store()
                            .find_user_by_canonical_name(name.canonical())
                            .await?
                    }
                    Err(_) => None,
                };
                if let (Some(user), Some(ip)) = (&user, client.ip) {
                    self.limits()
                        .check_login(rate_key(ip), &format!("reset:{}", user.id))
                        .await?;
                }
                let digest = user
                    .as_ref()
                    .and_then(|u| codes::code_digest(kek, CodePurpose::Reset, u.id, code));
                (user, digest)
            }
        };
        // Screened and hashed whether or not a code matches: the same work, and so the same
        // time, for a name with no code, a wrong code and a right one.
        let name = user
            .as_ref()
            .map(|u| u.username.clone())
            .unwrap_or_default();
        let screened = self.screen_new_password(new_password, &name).await?;
        let hash = self.hasher()?.hash(screened.into_string()).await?;
        let Some(user) = user else {
            return Err(AuthError::InvalidCode);
        };
        let Some(digest) = digest else {
            // Not even shaped like a code: still a wrong guess against the account's codes.
            self.store()
                .count_wrong_code(user.id, CodePurpose::Reset, now)
                .await?;
            return Err(AuthError::InvalidCode);
        };
        let lookup = match &by {
            ResetBy::Token(_) => CodeLookup::Token(&digest),
            ResetBy::Code { .. } => CodeLookup::Code {
                user_id: user.id,
                digest: &digest,
            },
        };
        let Some((_, ended)) = self
            .store()
            .reset_password_with_code(lookup, max, &hash, now)
            .await?
        else {
            self.store()
                .count_wrong_code(user.id, CodePurpose::Reset, now)
                .await?;
            return Err(AuthError::InvalidCode);
        };
        self.remember_revoked(&ended, now, RevocationReason::PasswordReset);
        self.clear_attempts(&user).await?;
        Ok(user)
    }

    /// `tessera user reset-link NAME`: a single-use reset link (same lifetime and digests
    /// as a mailed one), for deployments without mail. Needs `email.public_url` for the
    /// link's start; without it the path alone (`{ui.prefix}/password/reset?token=…`) is
    /// given.
    pub async fn admin_reset_link(&self, username: &str) -> Result<String, AuthError> {
        let name = Username::parse(username)?;
        let user = self
            .store()
            .find_user_by_canonical_name(name.canonical())
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let kek = self.kek()?;
        let issued = codes::issue(kek, CodePurpose::Reset, user.id);
        let ttl = self.config().email.reset_ttl_secs;
        self.store()
            .issue_code(
                self.reset_code(&user, &issued, ttl),
                None,
                None,
                self.mail_limits(),
            )
            .await?;
        self.audit_log()
            .record(AuditEvent::success("password_reset_link").user(user.id, &user.username));
        let base = pages_url(self.config());
        Ok(format!("{base}/password/reset?token={}", issued.token))
    }

    async fn throttle_code_guesses(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if let Some(ip) = client.ip {
            self.limits()
                .check_login(rate_key(ip), &format!("code:{}", user.id))
                .await?;
        }
        Ok(())
    }

    fn count_queued(&self, queued: bool, with_notice: bool) {
        let metrics = self.metrics();
        if queued {
            metrics.email("queued");
            if with_notice {
                metrics.email("queued");
            }
        } else {
            metrics.email("throttled");
        }
    }

    /// A message rendered from its template and sealed for the outbox.
    #[allow(clippy::too_many_arguments)]
    fn sealed_message(
        &self,
        mail: &Mail,
        kind: MessageKind,
        language: Language,
        user: &UserRecord,
        to: &str,
        link: Option<&str>,
        code: Option<&str>,
        lifetime_secs: u64,
    ) -> Result<Vec<u8>, AuthError> {
        let rendered = mail
            .templates
            .render(
                kind,
                language,
                &MessageVars {
                    product: &self.config().issuer,
                    username: &user.username,
                    link,
                    code,
                    lifetime_secs,
                },
            )
            .map_err(|e| AuthError::Internal(format!("rendering a message: {e}")))?;
        let message = OutgoingMessage {
            to: to.to_owned(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        };
        outbox::seal(self.kek()?, &message).map_err(|e| AuthError::Internal(e.to_string()))
    }
}
