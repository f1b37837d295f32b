//! git: global options before the subcommand that point it at other configuration, programs or
//! repositories, and per-subcommand options and subcommands that run a command or write a file.

use super::Opt::{self, Long, Short};
use super::risky_option;
use crate::rules::shell::Word;

/// Global options that take their value as the next word.
const GLOBAL_VALUES: [&str; 8] =
    ["-c", "-C", "--config-env", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--list-cmds"];

/// Global options that run other code or read another configuration or repository (whose
/// config can name commands: `core.fsmonitor`, `core.pager`, hooks).
const GLOBAL_RISKY: [Opt; 8] = [
    Short('c'),
    Short('C'),
    Long("config-env"),
    Long("exec-path"),
    Long("git-dir"),
    Long("work-tree"),
    Long("namespace"),
    Long("super-prefix"),
];

/// Options that run a command or write a file in any subcommand that has them.
const ANY_SUBCOMMAND: [Opt; 11] = [
    Long("output"),
    Long("output-directory"),
    Long("upload-pack"),
    Long("receive-pack"),
    Long("exec"),
    Long("ext-diff"),
    Long("open-files-in-pager"),
    Long("extcmd"),
    Long("template"),
    Long("config"),
    Long("separate-git-dir"),
];

/// Short options that do so in one subcommand only.
fn short_risky(subcommand: &str) -> &'static [Opt] {
    match subcommand {
        "format-patch" => &[Short('o')],
        "grep" => &[Short('O')],
        "rebase" | "difftool" => &[Short('x')],
        "fetch" | "pull" | "ls-remote" | "archive" => &[Short('u')],
        "clone" => &[Short('u'), Short('c')],
        _ => &[],
    }
}

/// Subcommands that run commands by design (`bisect run`, `submodule foreach`) or write git's
/// configuration, which later git commands obey (`core.fsmonitor`, `core.sshCommand`).
fn risky_subcommand(subcommand: &str, rest: &[Word]) -> bool {
    let has = |word: &str| rest.iter().any(|w| w.text == word);
    match subcommand {
        "filter-branch" | "difftool" | "mergetool" | "hook" | "instaweb" | "daemon" => true,
        "bisect" => has("run"),
        "submodule" => has("foreach"),
        "config" => {
            !["--get", "--get-all", "--get-regexp", "--list", "-l", "get", "list"].iter().any(|w| has(w))
        }
        _ => false,
    }
}

pub(super) fn check(args: &[Word]) -> Option<String> {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let t = arg.text.as_str();
        if !t.starts_with('-') || t == "--" {
            break;
        }
        if GLOBAL_RISKY.iter().any(|o| o.matches(t)) {
            return Some(arg.raw.clone());
        }
        i += if GLOBAL_VALUES.contains(&t) { 2 } else { 1 };
    }
    let subcommand = args.get(i)?;
    let rest = &args[i + 1..];
    if risky_subcommand(&subcommand.text, rest) {
        return Some(subcommand.raw.clone());
    }
    risky_option(rest, &ANY_SUBCOMMAND).or_else(|| risky_option(rest, short_risky(&subcommand.text)))
}
