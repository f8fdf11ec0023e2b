//! Domain types that parse instead of validate: once a value exists, it is valid.

mod password;
mod username;

pub use password::{NewPassword, PasswordError, PasswordPolicy};
pub use username::{Username, UsernameError};
