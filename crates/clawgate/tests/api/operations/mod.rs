//! Running clawgate: the binary's start and its settings, TLS, backup and restore, metrics, the
//! container files and the systemd unit, the HTTP edges, several instances on one database
//! (acceptance list H), the server's secret files (review R's R4), and the schema both databases
//! share. And the repository holding together: the book's links, the direction between modules,
//! every help text, and skipped tests that say so.

mod backup;
mod book;
mod containers;
mod help_snapshots;
mod http_edges;
mod instances;
mod layout;
mod metrics;
mod schema;
mod secret_files;
mod service_unit;
mod skipped_tests;
mod startup;
mod tls;
