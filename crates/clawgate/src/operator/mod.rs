//! The operator's commands, run beside the server on its database: `backup`, `restore` and
//! `keys`. Each says what it did on stderr and fails with the reason in words.

pub mod backup;
pub mod keys;
pub mod restore;

/// A message for the operator at the terminal (stderr), never mixed with results.
pub fn say(message: &str) {
    eprintln!("clawgate: {message}");
}
