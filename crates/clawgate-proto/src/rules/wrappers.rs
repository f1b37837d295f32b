//! Finding the real program behind assignments and wrappers (`FOO=1 sudo -u ci nice -n 5 rm x`
//! runs `rm`), and the scripts that shells and script-taking programs run (`bash -c '…'`,
//! `watch '…'`, `ssh host …`).

use super::shell::{SimpleCommand, UnclearWhy, Word, basename};

/// A program that runs the rest of its words as a command.
struct Wrapper {
    name: &'static str,
    /// Short options that take a value (`-u root`, `-uroot`).
    short_values: &'static str,
    /// Long options that take a value as the next word when not written `--opt=value`.
    long_values: &'static [&'static str],
    /// Positional words before the command (`timeout 10 cmd`).
    positionals: usize,
    /// Short options after which it runs no command (`command -v ls`, `taskset -p 1`).
    no_command: &'static str,
}

const fn wrapper(name: &'static str, short_values: &'static str, positionals: usize) -> Wrapper {
    Wrapper { name, short_values, long_values: &[], positionals, no_command: "" }
}

#[rustfmt::skip]
const WRAPPERS: [Wrapper; 24] = [
    Wrapper {
        long_values: &["user", "group", "prompt", "close-from", "chdir", "role", "type", "other-user",
            "command-timeout", "host", "chroot"],
        ..wrapper("sudo", "ugpCDrtUThR", 0)
    },
    wrapper("doas", "uC", 0),
    Wrapper { long_values: &["unset", "chdir"], ..wrapper("env", "uC", 0) },
    wrapper("nohup", "", 0),
    Wrapper { long_values: &["format", "output"], ..wrapper("time", "fo", 0) },
    Wrapper { no_command: "vV", ..wrapper("command", "", 0) },
    wrapper("builtin", "", 0),
    wrapper("exec", "a", 0),
    Wrapper { long_values: &["adjustment"], ..wrapper("nice", "n", 0) },
    Wrapper { long_values: &["class", "classdata"], ..wrapper("ionice", "cn", 0) },
    wrapper("setsid", "", 0),
    Wrapper { long_values: &["input", "output", "error"], ..wrapper("stdbuf", "ioe", 0) },
    Wrapper { long_values: &["signal", "kill-after"], ..wrapper("timeout", "sk", 1) },
    Wrapper {
        long_values: &["max-args", "max-procs", "max-lines", "max-chars", "delimiter", "arg-file", "eof",
            "process-slot-var"],
        ..wrapper("xargs", "IELnPsda", 0)
    },
    Wrapper { no_command: "p", ..wrapper("taskset", "", 1) },
    Wrapper {
        long_values: &["sched-runtime", "sched-period", "sched-deadline"],
        no_command: "pm",
        ..wrapper("chrt", "TPD", 1)
    },
    wrapper("busybox", "", 0),
    Wrapper { long_values: &["timeout", "conflict-exit-code"], ..wrapper("flock", "wE", 1) },
    Wrapper {
        long_values: &["output", "signal", "trace", "attach", "user", "string-limit", "env"],
        ..wrapper("strace", "oepusabEIOPXSU", 0)
    },
    Wrapper {
        long_values: &["propagation", "setuid", "setgid", "root", "wd", "map-user", "map-group", "map-users",
            "map-groups", "setgroups"],
        ..wrapper("unshare", "", 0)
    },
    Wrapper { long_values: &["userspec", "groups"], ..wrapper("chroot", "", 1) },
    wrapper("setpriv", "", 0),
    Wrapper { long_values: &["target"], ..wrapper("nsenter", "tSG", 0) },
    Wrapper { long_values: &["user"], ..wrapper("pkexec", "", 0) },
];

/// Whether the splitter looks through `name` to the program it runs (`sudo`, `nice`, `env` …).
pub(super) fn is_wrapper(name: &str) -> bool {
    WRAPPERS.iter().any(|w| w.name == name)
}

/// Shells whose `-c` script is split too.
const SHELLS: [&str; 7] = ["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash"];

/// `NAME=value`, `NAME+=value` or `NAME[…]=value` with an unquoted name: an assignment, not a
/// program (bash takes all three as assignments before a command).
pub(super) fn is_assignment(word: &Word) -> bool {
    let Some((name, _)) = word.raw.split_once('=') else { return false };
    let name = name.strip_suffix('+').unwrap_or(name);
    let name = match name.split_once('[') {
        Some((name, subscript)) if subscript.ends_with(']') => name,
        Some(_) => return false,
        None => name,
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where a simple command's program is, and the wrappers in front of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Found {
    pub program: usize,
    /// The index of each wrapper's word, in order.
    pub wrappers: Vec<usize>,
}

/// The program in `words` and the wrappers before it, or `None` when they are only
/// assignments.
pub(super) fn find_program(words: &[Word]) -> Result<Option<Found>, UnclearWhy> {
    let mut i = 0;
    let mut wrappers = Vec::new();
    loop {
        while words.get(i).is_some_and(is_assignment) {
            i += 1;
        }
        let Some(word) = words.get(i) else {
            // A wrapper with nothing after it runs as the program itself.
            return Ok(wrappers.pop().map(|program| Found { program, wrappers }));
        };
        if word.dynamic || word.glob {
            return Ok(Some(Found { program: i, wrappers }));
        }
        let name = basename(&word.text);
        let Some(wrapper) = WRAPPERS.iter().find(|w| w.name == name) else {
            return Ok(Some(Found { program: i, wrappers }));
        };
        let mut options = words[i + 1..].iter().take_while(|w| w.text.starts_with('-') || is_assignment(w));
        if name == "env" && options.any(|w| is_split_string(&w.text)) {
            return Err(UnclearWhy::DynamicScript);
        }
        // `flock FILE -c '…'` runs a script, split as such.
        if name == "flock" && flock_script(&words[i + 1..]).is_some() {
            return Ok(Some(Found { program: i, wrappers }));
        }
        let Some(next) = skip_options(wrapper, words, i + 1) else {
            return Ok(Some(Found { program: i, wrappers }));
        };
        wrappers.push(i);
        i = next;
    }
}

/// `env -S '…'` / `--split-string`: a command line hidden in one word.
fn is_split_string(word: &str) -> bool {
    word.starts_with("--split-string")
        || word.starts_with('-') && !word.starts_with("--") && word.contains('S')
}

/// Where the wrapped command starts, past `wrapper`'s options and positionals; `None` when the
/// wrapper runs no command (`command -v ls`).
fn skip_options(wrapper: &Wrapper, words: &[Word], mut i: usize) -> Option<usize> {
    while let Some(word) = words.get(i) {
        let w = word.text.as_str();
        if w == "--" {
            i += 1;
            break;
        }
        if !w.starts_with('-') || w == "-" {
            if w == "-" && wrapper.name == "env" {
                i += 1;
                continue;
            }
            break;
        }
        i += 1;
        if let Some(long) = w.strip_prefix("--") {
            if !long.contains('=') && wrapper.long_values.contains(&long) {
                i += 1;
            }
            continue;
        }
        if w.chars().skip(1).any(|c| wrapper.no_command.contains(c)) {
            return None;
        }
        for (at, c) in w.char_indices().skip(1) {
            if wrapper.short_values.contains(c) {
                if at + c.len_utf8() == w.len() {
                    i += 1; // the value is the next word
                }
                break;
            }
        }
    }
    i += wrapper.positionals;
    (i < words.len()).then_some(i)
}

/// The commands `find … -exec cmd args ;` (also `-execdir`, `-ok`, `-okdir`, `+`) runs.
pub(super) fn find_exec(cmd: &SimpleCommand) -> Vec<Vec<Word>> {
    let mut found = Vec::new();
    if cmd.program_name() != "find" {
        return found;
    }
    let mut args = cmd.args().iter();
    while let Some(arg) = args.next() {
        if ["-exec", "-execdir", "-ok", "-okdir"].contains(&arg.text.as_str()) {
            found.push(args.by_ref().take_while(|w| w.text != ";" && w.text != "+").cloned().collect());
        }
    }
    found
}

/// What a shell (or a program that hands its words to one) runs besides its own process.
pub(super) enum Script {
    /// Nothing beyond the program itself (a script file, `--version`, any other program).
    None,
    /// `-c 'script'`: split too; Unclear when the word is dynamic.
    Text(Word),
    /// No `-c` and no script file (or `-s`): the script comes from stdin (`… | sh`,
    /// `sh <<< '…'`), which the splitter cannot see.
    Stdin,
}

/// The value of `-c VALUE` / `--command=VALUE` / `--command VALUE` among `args`.
fn script_option(args: &[Word]) -> Option<Word> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if let Some(text) = arg.text.strip_prefix("--command=") {
            return Some(Word { text: text.to_owned(), ..arg.clone() });
        }
        if arg.text == "--command"
            || arg.text.starts_with('-') && !arg.text.starts_with("--") && arg.text.ends_with('c')
        {
            return args.next().cloned();
        }
    }
    None
}

/// `flock [options] FILE -c COMMAND`: the command right after the lock file.
fn flock_script(args: &[Word]) -> Option<Word> {
    let file = first_operand(args, "wE", &["timeout", "conflict-exit-code"])?;
    match args.get(file + 1).map(|w| w.text.as_str()) {
        Some("-c" | "--command") => args.get(file + 2).cloned(),
        _ => None,
    }
}

/// Words joined by spaces into one script, as `ssh` and `watch` hand them to a shell.
fn joined(words: &[Word]) -> Script {
    if words.is_empty() {
        return Script::None;
    }
    let text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
    let raw = words.iter().map(|w| w.raw.as_str()).collect::<Vec<_>>().join(" ");
    let dynamic = words.iter().any(|w| w.dynamic);
    let evaluates = words.iter().any(|w| w.evaluates);
    Script::Text(Word { text, raw, dynamic, evaluates, glob: false })
}

/// The index of the first word of `args` that is not an option, skipping the values of the
/// short options in `short_values` and of the long options in `long_values`.
fn first_operand(args: &[Word], short_values: &str, long_values: &[&str]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = args.get(i).map(|w| w.text.as_str()) {
        if w == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if !w.starts_with('-') || w == "-" {
            return Some(i);
        }
        i += 1;
        let takes_value = match w.strip_prefix("--") {
            Some(long) => !long.contains('=') && long_values.contains(&long),
            None => w.chars().last().is_some_and(|c| short_values.contains(c)),
        };
        if takes_value {
            i += 1;
        }
    }
    None
}

/// `ssh [options] destination [command …]`: the remote shell runs the words after the
/// destination; without them (and without `-N`) it reads commands from stdin.
fn ssh_command(cmd: &SimpleCommand) -> Script {
    let args = cmd.args();
    let Some(host) = first_operand(args, "bcDEeFIiJLlmOopQRSWw", &[]) else { return Script::None };
    let no_command = args[..host].iter().any(|a| {
        !a.text.starts_with("--") && a.text.starts_with('-') && a.text.contains(['N', 'V', 'G', 'Q'])
    });
    match &args[host + 1..] {
        [] if no_command => Script::None,
        [] => Script::Stdin,
        words => joined(words),
    }
}

/// `watch [options] command …`: joined and run by `sh -c`, unless `-x` hands it over as argv.
fn watch_command(cmd: &SimpleCommand) -> Script {
    let args = cmd.args();
    let Some(start) = first_operand(args, "n", &["interval"]) else { return Script::None };
    let exec =
        args[..start].iter().any(|a| a.text == "--exec" || !a.text.starts_with("--") && a.text.contains('x'));
    if exec { Script::None } else { joined(&args[start..]) }
}

/// The script of `sh -c 'script'` (also `bash -lc`, `bash -o pipefail -c`, `su -c`, `runuser
/// -c`, `script -c`, `flock FILE -c`, `sg group cmd`, `watch cmd`, `ssh host cmd`).
pub(super) fn shell_script(cmd: &SimpleCommand) -> Script {
    let args = cmd.args();
    match cmd.program_name() {
        // Without a command, su and runuser start a shell on stdin, script an interactive one.
        "su" | "runuser" | "script" => return script_option(args).map_or(Script::Stdin, Script::Text),
        "flock" => return flock_script(args).map_or(Script::None, Script::Text),
        // `sg [-] group [-c] command`: the command is one word, run by `sh -c`.
        "sg" => {
            let mut rest = args.iter().skip_while(|w| w.text == "-").skip(1);
            let command = rest.find(|w| w.text != "-c");
            return command.cloned().map_or(Script::Stdin, Script::Text);
        }
        "watch" => return watch_command(cmd),
        "ssh" => return ssh_command(cmd),
        name if !SHELLS.contains(&name) => return Script::None,
        _ => {}
    }
    let (mut has_c, mut has_s) = (false, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let a = arg.text.as_str();
        if arg.dynamic {
            return Script::Text(arg.clone()); // an option or script the splitter cannot see
        }
        if a == "--" {
            break;
        }
        if a == "--version" || a == "--help" {
            return Script::None;
        }
        if a.starts_with("--") {
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            has_c |= a.starts_with('-') && a.contains('c');
            has_s |= a.starts_with('-') && a.contains('s');
            if a.ends_with('o') || a.ends_with('O') {
                args.next();
            }
            continue;
        }
        return match (has_c, has_s) {
            (true, _) => Script::Text(arg.clone()),
            (false, true) => Script::Stdin,
            // A script file, like any program; stdin under another name is still stdin.
            (false, false) if reads_stdin(a) => Script::Stdin,
            (false, false) => Script::None,
        };
    }
    match (has_c, args.next()) {
        (true, Some(script)) => Script::Text(script.clone()),
        (true, None) => Script::None,
        (false, _) => Script::Stdin,
    }
}

/// A script path that is the shell's own stdin (`bash /dev/stdin <<< "$x"`).
fn reads_stdin(path: &str) -> bool {
    matches!(path, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0")
}
