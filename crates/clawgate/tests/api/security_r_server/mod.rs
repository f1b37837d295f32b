//! Review round R, slice "ops": the server's connections (timeouts, caps), its files'
//! permissions, and a full disk. Connection tests speak HTTP over raw sockets, so that what the
//! server does to a connection (close it, refuse it) is seen as is.

mod connections;
mod full_disk;
mod secret_files;
