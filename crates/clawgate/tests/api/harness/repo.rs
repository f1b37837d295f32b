//! The repository's own files, read by path from the crate (`.env.example`, the book, the
//! unit file …), and the settings `clawgate serve --help` documents.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// Every `[env: NAME=…]` that `clawgate serve --help` documents.
pub(crate) fn serve_settings() -> BTreeSet<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .expect("clawgate serve --help");
    let help = String::from_utf8_lossy(&out.stdout);
    help.split("[env: ").skip(1).filter_map(|rest| rest.split(['=', ']']).next()).map(str::to_owned).collect()
}
