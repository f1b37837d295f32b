//! Black-box tests: a real clawgate server over HTTP, a software passkey that is not ours, on
//! SQLite and on PostgreSQL. One test binary (house style): `cargo test --test api`.

mod authenticator;
mod harness;

mod browser;
mod client;
mod cookies;
mod edges;
mod flows;
mod push_delivery;
mod races;
mod schema;
mod security_a_binding;
mod security_b_tokens;
mod security_c_accounts;
mod security_d_access;
mod startup;
mod waiting;
