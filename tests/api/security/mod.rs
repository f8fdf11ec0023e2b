//! Issue 12 (security review): each attack found, as a black-box test that failed before
//! its fix.

mod connections;
mod events;
mod files;
mod headers;
mod identity;
mod legacy_costs;
mod password_length;
mod proxies;
mod tokens;
mod usernames;
