//! Black-box tests over real HTTP on loopback: one binary, one module per area.

mod abuse;
mod account;
mod audit_log;
mod backend;
mod bad_input;
mod binary;
mod cli;
mod contract;
mod cutover;
mod faults;
mod flask_interop;
mod helpers;
mod import;
mod import_cli;
mod instances;
mod jwks_interop;
mod keys;
mod metrics;
mod metrics_access;
mod openapi;
mod password_guessing;
mod process;
mod sessions;
mod startup;
mod tokens;
