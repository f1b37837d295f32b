//! Finding the real program behind assignments and wrappers (`FOO=1 sudo -u ci nice -n 5 rm x`
//! runs `rm`), and the script of `bash -c '…'`.

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
}

const WRAPPERS: [Wrapper; 14] = [
    Wrapper {
        name: "sudo",
        short_values: "ugpCDrtUThR",
        long_values: &[
            "user",
            "group",
            "prompt",
            "close-from",
            "chdir",
            "role",
            "type",
            "other-user",
            "command-timeout",
            "host",
            "chroot",
        ],
        positionals: 0,
    },
    Wrapper { name: "doas", short_values: "uC", long_values: &[], positionals: 0 },
    Wrapper { name: "env", short_values: "uC", long_values: &["unset", "chdir"], positionals: 0 },
    Wrapper { name: "nohup", short_values: "", long_values: &[], positionals: 0 },
    Wrapper { name: "time", short_values: "fo", long_values: &["format", "output"], positionals: 0 },
    Wrapper { name: "command", short_values: "", long_values: &[], positionals: 0 },
    Wrapper { name: "builtin", short_values: "", long_values: &[], positionals: 0 },
    Wrapper { name: "exec", short_values: "a", long_values: &[], positionals: 0 },
    Wrapper { name: "nice", short_values: "n", long_values: &["adjustment"], positionals: 0 },
    Wrapper { name: "ionice", short_values: "cn", long_values: &["class", "classdata"], positionals: 0 },
    Wrapper { name: "setsid", short_values: "", long_values: &[], positionals: 0 },
    Wrapper {
        name: "stdbuf",
        short_values: "ioe",
        long_values: &["input", "output", "error"],
        positionals: 0,
    },
    Wrapper { name: "timeout", short_values: "sk", long_values: &["signal", "kill-after"], positionals: 1 },
    Wrapper {
        name: "xargs",
        short_values: "IELnPsda",
        long_values: &[
            "max-args",
            "max-procs",
            "max-lines",
            "max-chars",
            "delimiter",
            "arg-file",
            "eof",
            "process-slot-var",
        ],
        positionals: 0,
    },
];

/// Shells whose `-c` script is split too.
const SHELLS: [&str; 7] = ["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash"];

/// `NAME=value` written without quotes in the name: an assignment, not a program.
fn is_assignment(word: &Word) -> bool {
    let Some((name, _)) = word.raw.split_once('=') else { return false };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The index of the program in `words`, or `None` when they are only assignments.
pub(super) fn find_program(words: &[Word]) -> Result<Option<usize>, UnclearWhy> {
    let mut i = 0;
    let mut last_wrapper = None;
    loop {
        while words.get(i).is_some_and(is_assignment) {
            i += 1;
        }
        let Some(word) = words.get(i) else { return Ok(last_wrapper) };
        if word.dynamic || word.glob {
            return Ok(Some(i));
        }
        let name = basename(&word.text);
        let Some(wrapper) = WRAPPERS.iter().find(|w| w.name == name) else { return Ok(Some(i)) };
        let mut options = words[i + 1..].iter().take_while(|w| w.text.starts_with('-') || is_assignment(w));
        if name == "env" && options.any(|w| is_split_string(&w.text)) {
            return Err(UnclearWhy::DynamicScript);
        }
        let Some(next) = skip_options(wrapper, words, i + 1) else { return Ok(Some(i)) };
        last_wrapper = Some(i);
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
        if wrapper.name == "command" && (w.contains('v') || w.contains('V')) {
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

/// What a shell (or `su`) runs besides its own process.
pub(super) enum Script {
    /// Nothing beyond the program itself (a script file, `--version`, any other program).
    None,
    /// `-c 'script'`: split too; Unclear when the word is dynamic.
    Text(Word),
    /// No `-c` and no script file (or `-s`): the script comes from stdin (`… | sh`,
    /// `sh <<< '…'`), which the splitter cannot see.
    Stdin,
}

/// The command of `su -c 'command' user` / `su --command=…`; without one, su runs a shell on
/// stdin.
fn su_command(cmd: &SimpleCommand) -> Script {
    let mut args = cmd.args().iter();
    while let Some(arg) = args.next() {
        if let Some(text) = arg.text.strip_prefix("--command=") {
            return Script::Text(Word { text: text.to_owned(), ..arg.clone() });
        }
        if arg.text == "--command"
            || arg.text.starts_with('-') && !arg.text.starts_with("--") && arg.text.ends_with('c')
        {
            return args.next().cloned().map_or(Script::None, Script::Text);
        }
    }
    Script::Stdin
}

/// The script of `sh -c 'script'` (also `bash -lc`, `bash -o pipefail -c`, `su -c`).
pub(super) fn shell_script(cmd: &SimpleCommand) -> Script {
    if cmd.program_name() == "su" {
        return su_command(cmd);
    }
    if !SHELLS.contains(&cmd.program_name()) {
        return Script::None;
    }
    let (mut has_c, mut has_s) = (false, false);
    let mut args = cmd.args().iter();
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
            (false, false) => Script::None, // a script file, like any program
        };
    }
    match (has_c, args.next()) {
        (true, Some(script)) => Script::Text(script.clone()),
        (true, None) => Script::None,
        (false, _) => Script::Stdin,
    }
}
