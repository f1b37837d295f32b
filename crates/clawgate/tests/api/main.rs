//! Black-box tests: a real clawgate server over HTTP, a software passkey that is not ours, on
//! SQLite and on PostgreSQL. One test binary (house style): `cargo test --test api`.
//!
//! A folder per surface under test; `harness/` holds the server per test and every helper more
//! than one folder uses. A test named after an entry of the acceptance list
//! (`shared/docs/security.md`) or of a review (`docs/src/security.md`) carries its ID, and its
//! module's doc says which IDs it covers; the security chapter says where each one is.

mod contract;
mod harness;

mod accounts;
mod agents;
mod approvals;
mod audit;
mod faults;
mod fuzzing;
mod gate;
mod grants;
mod operations;
mod push;
mod stop;
mod tokens;
mod web_app;
