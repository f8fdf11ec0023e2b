//! Abuse protection: who the client is (safely, behind proxies), per-source rate limits,
//! and the per-name login back-off.
//!
//! The policy, and why:
//! - Per client address (IPv6: per /64, which one subscriber usually holds), hard GCRA
//!   limits on login, register and refresh: one source cannot spray.
//! - Per (name, address), a hard, low login limit: one source cannot guess one account.
//! - Per name from all sources, no permanent lock: a hard per-name lock would let anyone
//!   lock any user out. Instead, after a few attempts in a row, attempts to that name are
//!   spaced out by a step that doubles with each further attempt, up to a cap; one success
//!   resets it. Attempts are counted before their password is checked, and one conditional
//!   statement lets exactly one attempt through per step whatever the concurrency, so
//!   parallel guesses gain nothing; the rest answer `429` with `Retry-After`. The state
//!   lives in the database (it holds across instances) and is kept per name whether or
//!   not the account exists, so it reveals nothing about who exists. The rule itself is
//!   `domain::backoff`; the check that applies it is `service::password_check`.

pub mod client_ip;
mod key_store;
pub mod limits;
pub mod shared;

pub use client_ip::{TrustedProxies, rate_key};
pub use limits::{RateLimited, RateLimiters};
pub use shared::{Limits, SharedCounter};
