//! Black-box tests: a real clawgate server over HTTP, a software passkey that is not ours, on
//! SQLite and on PostgreSQL. One test binary (house style): `cargo test --test api`.

mod harness;

mod accounts;
mod agents;
mod approvals;
mod faults;
mod fuzzing;
mod gate;
mod grants;
mod operations;
mod push;
mod stop;
mod tokens;
mod web_app;

mod fuzz;
