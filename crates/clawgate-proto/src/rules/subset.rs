//! The subset of bash the splitter positively understands. A simple command inside it runs the
//! program and words the splitter reports, as reported, and writes no file by its shell syntax
//! or a hidden option; only such a command can be allowed by a rule, the default or a grant.
//! Outside it the command keeps a [`SimpleCommand::doubt`]: rules may still ask about it or deny
//! it (they match it broadly), but it is asked at least.
//!
//! Inside the subset:
//! - words that are literal (quoted or not), a leading `~`, and globs; an expansion (`$x`,
//!   `"$x"`, `$(…)`, `{a,b}`, `$'\x41'`) only as an argument of a program that takes any
//!   argument harmlessly ([`ANY_ARGUMENT`]), and a glob only for a program with no known risky
//!   option (a file named `--output=…` could otherwise become one);
//! - no assignment, no arithmetic (`$((…))`, `$[…]`), no parameter expansion with operators;
//! - redirections only to or from `/dev/null`, and fd duplication (`2>&1`, `>&-`);
//! - wrappers that run the program as it is (`nice`, `timeout`, `env` without assignments …),
//!   not those that change who runs it or build it from input (`sudo`, `su`, `xargs` …);
//! - no builtin that evaluates text or changes the shell ([`SHELL_BUILTINS`], `printf -v`,
//!   `test -v`, `wait -p`);
//! - no option known to run a command or write a file ([`super::programs`]).
//!
//! Control characters, heredocs, `eval`, loops and the like are already [`Part::Unclear`]
//! (see [`super::shell`]).
//!
//! [`Part::Unclear`]: super::shell::Part::Unclear

use super::programs::{self, Opt};
use super::shell::{Redirect, SimpleCommand, Unclear, UnclearWhy, basename, snippet};
use super::wrappers::is_assignment;

/// Builtins and keywords that evaluate text, define things, or change how later words are read.
#[rustfmt::skip]
pub const SHELL_BUILTINS: [&str; 28] = [
    "source", ".", "exec", "command", "builtin", "hash", "shopt", "trap", "alias", "unalias", "enable",
    "declare", "typeset", "local", "export", "readonly", "unset", "let", "read", "mapfile", "readarray",
    "getopts", "complete", "compgen", "compopt", "bind", "fc", "[[",
];

/// Programs that do nothing with their arguments but read and print: an expansion's value may
/// reach them. (`printf` is not one: `printf -v 'a[$(cmd)]'` runs `cmd`.)
#[rustfmt::skip]
pub const ANY_ARGUMENT: [&str; 29] = [
    "echo", "cd", "pwd", "ls", "cat", "head", "tail", "wc", "basename", "dirname", "realpath", "readlink",
    "stat", "du", "df", "which", "type", "true", "false", ":", "sleep", "grep", "egrep", "fgrep", "id",
    "whoami", "uname", "nproc", "printenv",
];

/// Wrappers that change who runs the program (`sudo`), run it from their input (`xargs`),
/// again and again (`watch`), traced into a file (`strace -o`), or create a file (`flock`,
/// `script`): what runs is not what the words say.
#[rustfmt::skip]
pub const RISKY_WRAPPERS: [&str; 15] = [
    "sudo", "doas", "su", "runuser", "pkexec", "setpriv", "chroot", "nsenter", "unshare", "sg", "xargs",
    "strace", "flock", "script", "watch",
];

/// `set` with these flags only (`set -euo pipefail`) changes nothing the splitter relies on.
const SET_FLAGS: &str = "euxv";
const SET_OPTIONS: [&str; 5] = ["pipefail", "errexit", "nounset", "xtrace", "verbose"];

impl Redirect {
    /// To or from `/dev/null`, written literally, with a plain operator.
    pub fn is_inert(&self) -> bool {
        matches!(self.op.as_str(), ">" | ">>" | "<" | "&>" | "&>>" | ">|" | "<>" | ">&")
            && self.target.text == "/dev/null"
            && !self.target.dynamic
            && !self.target.glob
    }
}

/// Why `cmd` lies outside the understood subset, if it does.
pub(super) fn doubt(cmd: &SimpleCommand) -> Option<Unclear> {
    let unclear = |why, near: &str| Some(Unclear { why, near: snippet(near) });
    let before = &cmd.words[..cmd.program];
    if let Some(w) = before.iter().find(|w| is_assignment(w)) {
        return unclear(UnclearWhy::Assignment, &w.raw);
    }
    let targets = cmd.redirects.iter().map(|r| &r.target);
    if let Some(w) = cmd.words.iter().chain(targets).find(|w| w.evaluates) {
        return unclear(UnclearWhy::Evaluation, &w.raw);
    }
    if let Some(r) = cmd.redirects.iter().find(|r| !r.is_inert()) {
        return unclear(UnclearWhy::Redirect, &format!("{}{}", r.op, r.target.raw));
    }
    if let Some(why) = wrapper_doubt(cmd) {
        return Some(why);
    }
    // Before the program, an expansion could hold a wrapper's option or a whole other command.
    if let Some(w) = before.iter().find(|w| w.dynamic || w.glob) {
        return unclear(UnclearWhy::Expansion, &w.raw);
    }
    let name = cmd.program_name();
    let args = cmd.args();
    if let Some(near) = builtin_doubt(name, args) {
        return unclear(UnclearWhy::ShellBuiltin, &near);
    }
    let dynamic = args.iter().find(|w| w.dynamic && !ANY_ARGUMENT.contains(&name));
    let glob = args.iter().find(|w| w.glob && programs::is_known(name));
    if let Some(w) = dynamic.or(glob) {
        return unclear(UnclearWhy::Expansion, &w.raw);
    }
    programs::risky(name, args).map(|near| Unclear { why: UnclearWhy::RiskyOption, near: snippet(&near) })
}

fn wrapper_doubt(cmd: &SimpleCommand) -> Option<Unclear> {
    let mut ends = cmd.wrappers.iter().skip(1).copied().chain([cmd.program]);
    for &at in &cmd.wrappers {
        let name = basename(&cmd.words[at].text);
        let end = ends.next().unwrap_or(cmd.program);
        let why = if SHELL_BUILTINS.contains(&name) {
            UnclearWhy::ShellBuiltin
        } else if RISKY_WRAPPERS.contains(&name) {
            UnclearWhy::Wrapper
        } else {
            // `time -o FILE` writes its report to a file.
            let options = &cmd.words[at + 1..end.max(at + 1)];
            match programs::risky_option(options, &[Opt::Short('o'), Opt::Long("output")]) {
                Some(option) if name == "time" => {
                    return Some(Unclear { why: UnclearWhy::RiskyOption, near: snippet(&option) });
                }
                _ => continue,
            }
        };
        return Some(Unclear { why, near: snippet(&cmd.words[at].raw) });
    }
    None
}

/// What makes a builtin's call evaluate text or change the shell, if anything does.
fn builtin_doubt(name: &str, args: &[super::shell::Word]) -> Option<String> {
    if SHELL_BUILTINS.contains(&name) || name == "coproc" {
        return Some(name.to_owned());
    }
    let flags = |letters: &[char]| {
        programs::risky_option(args, &letters.iter().map(|c| Opt::Short(*c)).collect::<Vec<_>>())
    };
    match name {
        // `printf -v 'a[$(cmd)]'`, `test -v 'a[$(cmd)]'`, `wait -p 'a[$(cmd)]'` evaluate the
        // subscript of the variable they name.
        "printf" => flags(&['v']),
        "test" | "[" => args.iter().find(|a| a.text == "-v" || a.text == "-R").map(|a| a.raw.clone()),
        "wait" => flags(&['p']),
        "set" => {
            let mut words = args.iter();
            while let Some(a) = words.next() {
                let t = a.text.as_str();
                let Some(flags) =
                    t.strip_prefix('-').or_else(|| t.strip_prefix('+')).filter(|f| !f.is_empty())
                else {
                    return Some(a.raw.clone());
                };
                // `-o name` (also at the end of a cluster: `-euo pipefail`).
                let (flags, option) = match flags.strip_suffix('o') {
                    Some(rest) => (rest, Some(words.next())),
                    None => (flags, None),
                };
                let named = option.is_none_or(|o| o.is_some_and(|o| SET_OPTIONS.contains(&o.text.as_str())));
                if !named || !flags.chars().all(|c| SET_FLAGS.contains(c)) {
                    return Some(a.raw.clone());
                }
            }
            None
        }
        _ => None,
    }
}
