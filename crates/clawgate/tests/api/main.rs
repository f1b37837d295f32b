//! Black-box tests: a real clawgate server over HTTP, a software passkey that is not ours, on
//! SQLite and on PostgreSQL. One test binary (house style): `cargo test --test api`.

mod harness;

mod accounts;
mod approvals;
mod fuzzing;
mod gate;
mod grants;
mod operations;
mod push;
mod stop;
mod tokens;
mod web_app;

mod agents_hear_cli;
mod backup;
mod book;
mod claude_hook;
mod cli;
mod client;
mod client_retry;
mod containers;
mod edges;
mod faults;
mod fuzz;
mod gate_cli;
mod help_snapshots;
mod layout;
mod mcp;
mod mcp_gate;
mod metrics;
mod openclaw;

mod schema;
mod security_g_concurrency;
mod security_h_instances;
mod security_r_server;
mod service_unit;
mod startup;
mod tls;
