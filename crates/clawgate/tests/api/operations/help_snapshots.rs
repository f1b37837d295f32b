//! Every `--help` text and every usage exit code of the one `clawgate` binary, kept as files in
//! `tests/api/snapshots/help/`: moving a command between crates must not change a word a user
//! reads.
//!
//! After an intended change of a help text, write the files anew with
//! `CLAWGATE_UPDATE_SNAPSHOTS=1 cargo test --test api -- help_snapshots` and review the diff.

use std::path::PathBuf;
use std::process::Command;

/// Every command path, from the top: each one's `--help` is snapshotted.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["serve"],
    &["migrate"],
    &["backup"],
    &["restore"],
    &["keys"],
    &["keys", "list"],
    &["keys", "rotate"],
    &["keys", "revoke"],
    &["request"],
    &["exec"],
    &["gate"],
    &["verify"],
    &["hook"],
    &["hook", "claude-code"],
    &["mcp"],
    &["audit"],
    &["audit", "verify"],
];

/// Calls that never reach a server or a database, with the exit code and stream they must keep.
const USAGE: &[(&str, &[&str])] = &[
    ("no-command", &[]),
    ("unknown-command", &["frobnicate"]),
    ("unknown-flag", &["request", "--no-such-flag"]),
    ("version", &["--version"]),
    ("keys-without-subcommand", &["keys"]),
    ("hook-without-subcommand", &["hook"]),
];

fn snapshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/snapshots/help")
}

/// The binary with nothing from this environment: no `CLAWGATE_*`, no `.env`, no terminal width.
fn run(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .args(args)
        .env_clear()
        .current_dir(dir.path())
        .output()
        .expect("run clawgate")
}

fn text(out: &std::process::Output) -> String {
    let code = out.status.code().map_or_else(|| "signal".to_owned(), |c| c.to_string());
    format!(
        "exit: {code}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Compares with the stored file, or writes it when asked to; names every file that differs.
fn check(name: &str, actual: &str, differ: &mut Vec<String>) {
    let file = snapshots().join(format!("{name}.txt"));
    if std::env::var_os("CLAWGATE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshots()).expect("create snapshots folder");
        std::fs::write(&file, actual).expect("write snapshot");
        return;
    }
    let stored = std::fs::read_to_string(&file).unwrap_or_default();
    if stored != actual {
        differ.push(format!("{}:\n{actual}", file.display()));
    }
}

#[test]
fn every_help_text_and_usage_exit_code_stays_as_it_is() {
    let mut differ = Vec::new();
    for path in COMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "`clawgate {}` exits 0", args.join(" "));
        let name =
            if path.is_empty() { "clawgate".to_owned() } else { format!("clawgate-{}", path.join("-")) };
        check(&name, &text(&out), &mut differ);
    }
    for (name, args) in USAGE {
        check(&format!("usage-{name}"), &text(&run(args)), &mut differ);
    }
    assert!(
        differ.is_empty(),
        "help or exit codes changed (CLAWGATE_UPDATE_SNAPSHOTS=1 writes them anew):\n{}",
        differ.join("\n")
    );
}
