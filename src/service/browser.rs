//! What the service knows of browser clients: which way a client takes its tokens, and the
//! CSRF values bound to a session (the HTTP layer sets and checks the cookies).

use crate::tokens::CsrfPurpose;

use super::Tessera;

/// How a client receives its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// In the JSON body (the seed's way).
    #[default]
    Body,
    /// In HttpOnly cookies: the access token then carries the session's `csrf` claim.
    Cookie,
}

/// A session's two CSRF values (readable by the page's scripts, so not secrets from it;
/// they prove only that a request came from a page that can read this site's cookies).
pub struct CsrfValues {
    /// `csrf_access_token`, equal to the access token's `csrf` claim.
    pub access: String,
    /// `csrf_refresh_token`, bound to the session's refresh token.
    pub refresh: String,
}

impl Tessera {
    /// The CSRF values of a session.
    pub fn csrf_values(&self, session_id: &str) -> CsrfValues {
        let refresh = &self.inner.refresh;
        CsrfValues {
            access: refresh.csrf_value(CsrfPurpose::Access, session_id),
            refresh: refresh.csrf_value(CsrfPurpose::Refresh, session_id),
        }
    }

    /// Whether `presented` is the CSRF value bound to `refresh_token`'s session. A token
    /// that is not tessera's (bad MAC) matches nothing.
    pub fn refresh_csrf_matches(&self, refresh_token: &str, presented: &str) -> bool {
        let refresh = &self.inner.refresh;
        refresh.parse(refresh_token).is_ok_and(|token| {
            refresh.csrf_matches(CsrfPurpose::Refresh, &token.session_id, presented)
        })
    }
}

impl Tessera {
    /// The signed value of a pre-session form token (the hosted pages' sign-in and sign-up
    /// forms, before any session exists): a MAC of `nonce` under the refresh key, with a
    /// label no session id carries, so it never equals a session's CSRF value.
    pub(crate) fn page_csrf_value(&self, nonce: &str) -> String {
        self.inner
            .refresh
            .csrf_value(CsrfPurpose::Access, &format!("ui-page\0{nonce}"))
    }

    /// Whether `presented` is the signed value of `nonce` (any held key; constant time).
    pub(crate) fn page_csrf_matches(&self, nonce: &str, presented: &str) -> bool {
        self.inner.refresh.csrf_matches(
            CsrfPurpose::Access,
            &format!("ui-page\0{nonce}"),
            presented,
        )
    }
}
