//! Black-box tests: a real clawgate server over HTTP, a software passkey that is not ours, on
//! SQLite and on PostgreSQL. One test binary (house style): `cargo test --test api`.

mod harness;

mod accounts;
mod agents;
mod approvals;
mod fuzzing;
mod gate;
mod grants;
mod operations;
mod push;
mod stop;
mod tokens;
mod web_app;

mod backup;
mod book;
mod containers;
mod edges;
mod faults;
mod fuzz;
mod help_snapshots;
mod layout;
mod metrics;

mod schema;
mod security_g_concurrency;
mod security_h_instances;
mod security_r_server;
mod service_unit;
mod startup;
mod tls;
