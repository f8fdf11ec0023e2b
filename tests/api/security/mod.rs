//! Issue 12 (security review): each attack found, as a black-box test that failed before
//! its fix.

mod files;
mod headers;
mod proxies;
mod tokens;
mod usernames;
