//! Black-box tests over real HTTP on loopback: one binary, one module per area.

mod bad_input;
mod binary;
mod contract;
mod helpers;
mod sessions;
mod startup;
mod tokens;
