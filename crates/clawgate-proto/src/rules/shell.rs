//! A shell-aware splitter: a command line into its simple commands, each as argv words.
//!
//! Rules match what a shell would run, not a substring of the text: `echo rm -rf /` runs `echo`,
//! `ls; rm x` runs two programs, and `echo $(rm x)` runs `rm` too. What cannot be known without
//! running the shell (heredocs, `eval`, a program named by a variable) is reported as
//! [`Part::Unclear`] so callers never allow it automatically. A simple command that is known but
//! lies outside the subset of bash the splitter positively understands (an assignment, a
//! redirection to a file, arithmetic, an option that runs a command …, see [`super::subset`])
//! carries a [`SimpleCommand::doubt`]: rules may ask about it or deny it, never allow it.

use super::wrappers::{self, Script};

/// Nesting deeper than this (`$( $( … ) )`, `bash -c` inside `bash -c` …) is Unclear: real
/// commands rarely nest, and the bound keeps hostile input cheap.
pub(super) const MAX_DEPTH: usize = 8;
/// Commands past this many in one line are not decided one by one (each costs every rule):
/// the rest is one Unclear part, so the line is asked at least.
pub const MAX_PARTS: usize = 256;

/// One word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes and escapes removed; expansions stay as written (`$HOME`, `$(…)`).
    pub text: String,
    /// The word as written, for display.
    pub raw: String,
    /// Holds an expansion the shell resolves at run time, so `text` is not what runs.
    pub dynamic: bool,
    /// Holds arithmetic or a parameter expansion with operators, which bash evaluates in ways
    /// that can run commands the splitter never sees (array subscripts, prompt strings).
    pub evaluates: bool,
    /// Holds an unquoted `*`, `?` or `[`: fine for an argument, but a program named by a glob
    /// (`/bin/r?`) is not known until the shell expands it.
    pub glob: bool,
}

/// A redirection to or from a file (`> out`, `2>> log`, `< in`); fd duplications (`2>&1`) are
/// not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub op: String,
    pub target: Word,
}

impl Redirect {
    /// Writes somewhere other than `/dev/null`.
    pub fn writes_a_file(&self) -> bool {
        self.op.contains('>') && self.target.text != "/dev/null"
    }
}

/// One program run with its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    /// Every word as written: leading assignments, wrappers (`sudo -u x`), program, arguments.
    pub words: Vec<Word>,
    /// Index in `words` of the real program, past assignments and wrappers.
    pub program: usize,
    /// Index in `words` of each wrapper before the program (`sudo`, `nice`, `timeout` …).
    pub wrappers: Vec<usize>,
    pub redirects: Vec<Redirect>,
    /// Inside `( … )`, `$( … )`, backticks, `<( … )` or a `sh -c` script, not at the top of the
    /// line.
    pub nested: bool,
    /// Why this command lies outside the understood subset of bash, if it does: then no rule or
    /// grant allows it (see [`super::subset`]).
    pub doubt: Option<Unclear>,
}

impl SimpleCommand {
    /// The program word as written (`/usr/bin/rm`).
    pub fn program_word(&self) -> &Word {
        &self.words[self.program]
    }

    /// The program's basename (`rm` for `/usr/bin/rm`), which rules compare.
    pub fn program_name(&self) -> &str {
        basename(&self.program_word().text)
    }

    /// The program's arguments.
    pub fn args(&self) -> &[Word] {
        &self.words[self.program + 1..]
    }

    /// The command as written, words joined by spaces.
    pub fn display(&self) -> String {
        let words = self.words.iter().map(|w| w.raw.as_str());
        words.chain(self.redirects.iter().map(|r| r.target.raw.as_str())).collect::<Vec<_>>().join(" ")
    }
}

/// Why a part of a command line cannot be known without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UnclearWhy {
    UnbalancedQuote,
    /// An unmatched `(`, `)` or `${`.
    Unbalanced,
    Heredoc,
    Eval,
    /// The program is named by an expansion (`$CMD args`, `{rm,-rf}`).
    DynamicProgram,
    /// `bash -c "$SCRIPT"`, `env -S "…"`: a script the splitter cannot see.
    DynamicScript,
    /// A shell reading its script from stdin (`… | sh`, `sh <<< '…'`).
    ShellOnStdin,
    /// Loops, `case`, functions, arithmetic commands: syntax the splitter does not model.
    Syntax,
    TooDeep,
    /// More than [`MAX_PARTS`] commands.
    TooMany,
    /// A Bash call whose input has no `command` string.
    NoCommand,
    /// A control character other than tab and newline: terminals and shells disagree on them.
    ControlCharacter,
    /// A variable assignment (`PATH=… cmd`, `x=…;`), which changes what later words mean.
    Assignment,
    /// A redirection to or from a file (only `/dev/null` and fd duplication are understood).
    Redirect,
    /// Arithmetic or a parameter expansion with operators, which bash evaluates in ways that
    /// can run commands (`$((x))`, `$[x]`, `${x@P}`, `${a[i]}`).
    Evaluation,
    /// An expansion or glob whose value reaches a program that could take it as an option.
    Expansion,
    /// A builtin that evaluates text or changes the shell (`source`, `declare`, `read`,
    /// `printf -v`, `[[`, `exec`, `command` …).
    ShellBuiltin,
    /// A wrapper that changes who runs the program or runs it from its input (`sudo`, `xargs` …).
    Wrapper,
    /// An option known to run a command or write a file (`git -c`, `find -delete`, `sed -i` …).
    RiskyOption,
}

impl UnclearWhy {
    pub fn describe(self) -> &'static str {
        match self {
            UnclearWhy::UnbalancedQuote => "an unclosed quote",
            UnclearWhy::Unbalanced => "an unbalanced bracket",
            UnclearWhy::Heredoc => "a heredoc",
            UnclearWhy::Eval => "eval",
            UnclearWhy::DynamicProgram => "a program named by an expansion",
            UnclearWhy::DynamicScript => "a script held in an expansion",
            UnclearWhy::ShellOnStdin => "a shell reading its script from stdin",
            UnclearWhy::Syntax => "shell syntax that is not split (loop, case, function)",
            UnclearWhy::TooDeep => "nesting too deep",
            UnclearWhy::TooMany => "too many commands to decide one by one",
            UnclearWhy::NoCommand => "no command string",
            UnclearWhy::ControlCharacter => "a control character",
            UnclearWhy::Assignment => "a variable assignment",
            UnclearWhy::Redirect => "a redirection to a file",
            UnclearWhy::Evaluation => "arithmetic or a parameter expansion that can run commands",
            UnclearWhy::Expansion => "an expansion whose value the program could take as an option",
            UnclearWhy::ShellBuiltin => "a builtin that evaluates text or changes the shell",
            UnclearWhy::Wrapper => "a wrapper that changes who runs it or feeds it its input",
            UnclearWhy::RiskyOption => "an option that runs a command or writes a file",
        }
    }
}

/// What the splitter could not be sure of, with the text near it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclear {
    pub why: UnclearWhy,
    pub near: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Command(SimpleCommand),
    Unclear(Unclear),
}

/// Every simple command the line would run, in order; a command substitution's commands come
/// before the command that uses them, a `bash -c` script's after the `bash` part.
pub fn split(text: &str) -> Vec<Part> {
    let mut parts = split_at_depth(text, 0);
    if let Some(at) = text.find(|c: char| c.is_control() && c != '\t' && c != '\n') {
        let near = snippet(&text[text.floor_char_boundary(at.saturating_sub(20))..]);
        parts.push(Part::Unclear(Unclear { why: UnclearWhy::ControlCharacter, near }));
    }
    if parts.len() > MAX_PARTS {
        let near = match &parts[MAX_PARTS] {
            Part::Command(cmd) => cmd.display(),
            Part::Unclear(u) => u.near.clone(),
        };
        parts.truncate(MAX_PARTS);
        parts.push(Part::Unclear(Unclear { why: UnclearWhy::TooMany, near: snippet(&near) }));
    }
    parts
}

pub(super) fn split_at_depth(text: &str, depth: usize) -> Vec<Part> {
    let mut lexer = super::lexer::Lexer::new(text, depth);
    if depth > MAX_DEPTH {
        return vec![Part::Unclear(Unclear { why: UnclearWhy::TooDeep, near: snippet(text) })];
    }
    if let Err(why) = lexer.list(false) {
        let near = lexer.near();
        lexer.out.push(Part::Unclear(Unclear { why, near }));
    }
    lexer.out
}

/// A finished command's words into a part: the program found past assignments and wrappers, and
/// `sh -c` scripts split too.
pub(super) fn finish(words: Vec<Word>, redirects: Vec<Redirect>, depth: usize, out: &mut Vec<Part>) {
    if words.is_empty() && redirects.is_empty() {
        return;
    }
    let found = match wrappers::find_program(&words) {
        Ok(Some(found)) => found,
        // Only assignments (or redirections): no program runs, but later words change meaning.
        Ok(None) => {
            let why = if words.is_empty() { UnclearWhy::Redirect } else { UnclearWhy::Assignment };
            let targets = redirects.iter().map(|r| r.target.raw.as_str());
            let near = words.iter().map(|w| w.raw.as_str()).chain(targets).collect::<Vec<_>>().join(" ");
            out.push(Part::Unclear(Unclear { why, near: snippet(&near) }));
            return;
        }
        Err(why) => {
            out.push(Part::Unclear(Unclear { why, near: join_raw(&words) }));
            return;
        }
    };
    let mut cmd = SimpleCommand {
        words,
        program: found.program,
        wrappers: found.wrappers,
        redirects,
        nested: depth > 0,
        doubt: None,
    };
    if cmd.program_word().dynamic || cmd.program_word().glob {
        out.push(Part::Unclear(Unclear { why: UnclearWhy::DynamicProgram, near: cmd.display() }));
        return;
    }
    if cmd.program_name() == "eval" {
        out.push(Part::Unclear(Unclear { why: UnclearWhy::Eval, near: cmd.display() }));
        return;
    }
    let script = wrappers::shell_script(&cmd);
    let executed = wrappers::find_exec(&cmd);
    cmd.doubt = super::subset::doubt(&cmd);
    out.push(Part::Command(cmd.clone()));
    for words in executed {
        finish(words, Vec::new(), depth + 1, out);
    }
    match script {
        Script::Text(script) if script.dynamic => {
            out.push(Part::Unclear(Unclear { why: UnclearWhy::DynamicScript, near: cmd.display() }))
        }
        Script::Text(script) => out.extend(split_at_depth(&script.text, depth + 1)),
        Script::Stdin => {
            out.push(Part::Unclear(Unclear { why: UnclearWhy::ShellOnStdin, near: cmd.display() }))
        }
        Script::None => {}
    }
}

pub fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn join_raw(words: &[Word]) -> String {
    words.iter().map(|w| w.raw.as_str()).collect::<Vec<_>>().join(" ")
}

/// At most 80 characters of `text`, for messages.
pub(super) fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if text.chars().nth(80).is_some() {
        s.push('…');
    }
    s
}
