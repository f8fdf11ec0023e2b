//! Who is calling, as the HTTP layer (or the CLI, which is nobody) tells the service.

/// Who is calling, as far as the HTTP layer can tell. Kept on the session for the user to see.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address, resolved through trusted proxies (see `abuse::client_ip`).
    pub ip: Option<std::net::IpAddr>,
    /// The `User-Agent` header, kept (cut to 256 characters) for the user to see.
    pub user_agent: Option<String>,
    /// The request's id (`X-Request-Id`), for audit lines.
    pub request_id: Option<String>,
}
