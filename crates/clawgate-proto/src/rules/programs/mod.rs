//! What known programs' options do: the ones that run a command or write a file, so a command
//! holding one is never allowed (`git -c core.fsmonitor=…`, `find -delete`, `sed -i`, `cargo
//! --config`), and the ones an allow pattern may skip over because they cannot change the
//! subcommand (`git --no-pager log` for `git log`).
//!
//! Long options match in full, with `=value`, or abbreviated (`--out` for `--output`: git and
//! getopt_long accept unique prefixes); short ones inside a cluster (`-avze` holds `-e`). The
//! scan stops at `--`. The lists err wide: an option named here that is harmless in some
//! position only costs a question.

mod git;
mod scripts;

use super::shell::Word;

/// An option as a program spells it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Opt {
    /// `-c`, also inside a cluster (`-xc`) or with its value attached (`-cfoo`).
    Short(char),
    /// `--name` (without the dashes here), `--name=value`, or a prefix of it.
    Long(&'static str),
    /// A whole word (`-exec`, `-TT`), or the word with `=value`.
    Word(&'static str),
}

impl Opt {
    fn matches(self, arg: &str) -> bool {
        match self {
            Opt::Long(name) => arg
                .strip_prefix("--")
                .map(|long| long.split('=').next().unwrap_or(long))
                .is_some_and(|long| !long.is_empty() && name.starts_with(long)),
            Opt::Short(c) => {
                arg.len() > 1 && arg.starts_with('-') && !arg.starts_with("--") && arg[1..].contains(c)
            }
            Opt::Word(word) => {
                arg == word || arg.strip_prefix(word).is_some_and(|rest| rest.starts_with('='))
            }
        }
    }
}

/// The first of `args` (before a `--`) that is one of `risky`, as written.
pub(super) fn risky_option(args: &[Word], risky: &[Opt]) -> Option<String> {
    args.iter()
        .take_while(|a| a.text != "--")
        .find(|a| risky.iter().any(|o| o.matches(&a.text)))
        .map(|a| a.raw.clone())
}

/// Finds what in a program's arguments runs a command or writes a file, as written.
type Check = fn(&[Word]) -> Option<String>;

struct Program {
    names: &'static [&'static str],
    /// Options that run a command or write a file.
    risky: &'static [Opt],
    /// Flags an allow pattern may skip between the program and its next word.
    skip: &'static [&'static str],
    /// A check of what the options cannot say (scripts, operands).
    check: Option<Check>,
}

const fn program(names: &'static [&'static str], risky: &'static [Opt]) -> Program {
    Program { names, risky, skip: &[], check: None }
}

use Opt::{Long, Short, Word as W};

// One program a line or a few, as a table reads best.
#[rustfmt::skip]
const PROGRAMS: [Program; 37] = [
    Program {
        skip: &["--no-pager", "-P", "--no-optional-locks", "--no-replace-objects", "--literal-pathspecs",
            "--glob-pathspecs", "--noglob-pathspecs", "--icase-pathspecs", "--no-advice", "-p", "--paginate"],
        check: Some(git::check),
        ..program(&["git"], &[])
    },
    program(&["find"], &[W("-exec"), W("-execdir"), W("-ok"), W("-okdir"), W("-delete"), W("-fprint"),
        W("-fprint0"), W("-fprintf"), W("-fls")]),
    Program { check: Some(scripts::sed), ..program(&["sed", "gsed"], &[]) },
    Program { check: Some(scripts::awk), ..program(&["awk", "gawk", "mawk", "nawk"], &[]) },
    Program {
        skip: &["-q", "--quiet", "-v", "-vv", "--verbose", "--frozen", "--locked", "--offline"],
        check: Some(cargo_toolchain),
        ..program(&["cargo"], &[Long("config"), Long("manifest-path"), Long("target-dir"), Long("artifact-dir"),
            Long("out-dir"), Short('Z'), Short('C')])
    },
    Program {
        skip: &["-s", "--silent", "-q", "--quiet"],
        ..program(&["npm", "npx", "pnpm", "pnpx", "yarn", "bun", "bunx"], &[Long("script-shell"), Long("prefix"),
            Long("userconfig"), Long("globalconfig"), Long("node-options"), Long("call"), Long("shell"), Long("dir"),
            Long("cwd"), Short('c'), Short('C')])
    },
    Program {
        check: Some(tar_old_style),
        ..program(&["tar", "bsdtar", "gtar"], &[Long("to-command"), Long("checkpoint-action"),
            Long("use-compress-program"), Long("rsh-command"), Long("info-script"), Long("new-volume-script"),
            Long("index-file"), Short('I'), Short('F')])
    },
    program(&["rsync"], &[Short('e'), Short('M'), Long("rsh"), Long("rsync-path"), Long("log-file"),
        Long("write-batch"), Long("only-write-batch"), Long("remote-option")]),
    program(&["ssh"], &[Short('o'), Short('F'), Short('E')]),
    program(&["scp"], &[Short('o'), Short('F'), Short('S')]),
    program(&["sftp"], &[Short('o'), Short('F'), Short('S'), Short('b'), Short('D')]),
    program(&["sort"], &[Short('o'), Long("output"), Long("compress-program")]),
    program(&["curl"], &[Short('o'), Short('O'), Short('K'), Short('D'), Short('c'), Long("output"),
        Long("remote-name"), Long("remote-name-all"), Long("config"), Long("dump-header"), Long("cookie-jar"),
        Long("trace"), Long("trace-ascii"), Long("libcurl"), Long("stderr"), Long("output-dir"), Long("etag-save"),
        Long("hsts"), Long("alt-svc")]),
    program(&["wget"], &[Short('o'), Short('O'), Short('e'), Short('a'), Short('P'), Long("output-file"),
        Long("output-document"), Long("append-output"), Long("execute"), Long("directory-prefix"),
        Long("use-askpass"), Long("config")]),
    Program {
        check: Some(make_variables),
        ..program(&["make", "gmake"], &[Short('f'), Short('C'), Short('I'), Short('E'), Long("file"),
            Long("makefile"), Long("directory"), Long("include-dir"), Long("eval")])
    },
    program(&["go"], &[W("-exec"), W("-toolexec"), W("-vettool"), W("-o"), W("-C"), W("-overlay"), W("-modfile"),
        Long("exec"), Long("toolexec"), Long("vettool"), Long("overlay"), Long("modfile")]),
    program(&["zip"], &[W("-TT"), Long("unzip-command")]),
    program(&["man"], &[Short('P'), Short('H'), Long("pager"), Long("html")]),
    Program {
        check: Some(plus_commands),
        ..program(&["vim", "vi", "nvim", "view", "ex", "vimdiff", "rvim"], &[Short('c'), Short('S'), Long("cmd")])
    },
    program(&["less", "more"], &[Short('o'), Short('O'), Long("log-file"), Long("LOG-FILE")]),
    program(&["gdb"], &[W("-ex"), W("-iex"), W("-x"), W("-ix"), W("-eval-command"), W("-command"),
        W("-init-command"), W("-init-eval-command"), Long("eval-command"), Long("command"), Long("init-command"),
        Long("init-eval-command")]),
    Program { check: Some(uniq_output), ..program(&["uniq"], &[]) },
    program(&["yq"], &[Short('i'), Long("inplace")]),
    Program { check: Some(scripts::sqlite), ..program(&["sqlite3"], &[W("-cmd"), W("-init")]) },
    Program {
        check: Some(scripts::psql),
        ..program(&["psql"], &[Short('o'), Short('L'), Long("output"), Long("log-file")])
    },
    Program { check: Some(scripts::mysql), ..program(&["mysql", "mariadb"], &[Long("tee"), Long("pager")]) },
    program(&["kubectl", "oc"], &[Long("kubeconfig")]),
    program(&["helm"], &[Long("kubeconfig"), Long("post-renderer")]),
    program(&["pytest", "py.test"], &[Short('p'), Short('c'), Short('o'), Long("basetemp"), Long("rootdir"),
        Long("confcutdir"), Long("junitxml"), Long("junit-xml"), Long("resultlog"), Long("result-log"),
        Long("debug"), Long("pastebin"), Long("override-ini")]),
    Program { check: Some(python_module), ..program(&["python", "python3"], &[]) },
    program(&["prettier"], &[Long("write")]),
    program(&["eslint"], &[Long("fix"), Long("output-file"), Long("rulesdir"), Short('o')]),
    program(&["file"], &[Short('C'), Long("compile")]),
    program(&["hg"], &[Long("config"), Long("repository"), Long("cwd"), Short('R')]),
    program(&["svn"], &[Long("config-option"), Long("config-dir")]),
    Program { check: Some(crontab_changes), ..program(&["crontab", "at", "batch"], &[]) },
    // An interactive shell reads startup files and runs background jobs in groups of their own.
    Program {
        check: Some(monitor_mode),
        ..program(&["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash"], &[Short('i'), Short('m'),
            Long("rcfile"), Long("init-file"), Long("interactive")])
    },
];

fn lookup(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|p| p.names.contains(&name))
}

/// Whether `name` has options known to run a command or write a file.
pub(super) fn is_known(name: &str) -> bool {
    lookup(name).is_some()
}

/// The option or operand of `name`'s `args` that runs a command or writes a file, as written.
pub(super) fn risky(name: &str, args: &[Word]) -> Option<String> {
    let program = lookup(name)?;
    risky_option(args, program.risky).or_else(|| program.check.and_then(|check| check(args)))
}

/// Whether an allow pattern may skip `arg` of `name` while matching in place.
pub(super) fn skippable(name: &str, arg: &str) -> bool {
    lookup(name).is_some_and(|p| p.skip.contains(&arg))
}

/// `cargo +/path/to/toolchain`: a toolchain from a directory rather than an installed one.
fn cargo_toolchain(args: &[Word]) -> Option<String> {
    args.first().filter(|a| a.text.starts_with('+') && a.text.contains('/')).map(|a| a.raw.clone())
}

/// `tar xIf …`: the old style, a first cluster without a dash.
fn tar_old_style(args: &[Word]) -> Option<String> {
    let first = args.first()?;
    let old = !first.text.starts_with('-') && first.text.chars().all(|c| c.is_ascii_alphabetic());
    (old && first.text.contains(['I', 'F'])).then(|| first.raw.clone())
}

/// `make CC=… test`: a variable set on the command line overrides the Makefile's (`SHELL`,
/// `MAKEFLAGS`, any recipe's command).
fn make_variables(args: &[Word]) -> Option<String> {
    args.iter().find(|a| !a.text.starts_with('-') && a.text.contains('=')).map(|a| a.raw.clone())
}

/// `vim +cmd`: an Ex command, which can run a shell command.
fn plus_commands(args: &[Word]) -> Option<String> {
    args.iter().take_while(|a| a.text != "--").find(|a| a.text.starts_with('+')).map(|a| a.raw.clone())
}

/// `uniq IN OUT`: the second operand is written.
fn uniq_output(args: &[Word]) -> Option<String> {
    args.iter().filter(|a| !a.text.starts_with('-') || a.text == "-").nth(1).map(|a| a.raw.clone())
}

/// `python -m pytest …`: pytest's options.
fn python_module(args: &[Word]) -> Option<String> {
    let at = args.iter().position(|a| a.text == "-m")?;
    let module = args.get(at + 1)?;
    risky(&module.text, &args[at + 2..])
}

/// `crontab FILE` and `crontab -e`/`-r` install commands to run later; `at` and `batch` read
/// them from their input. Only listing is understood.
fn crontab_changes(args: &[Word]) -> Option<String> {
    let lists = args.iter().any(|a| a.text == "-l");
    (!lists).then(|| args.first().map_or_else(|| "(commands from its input)".to_owned(), |a| a.raw.clone()))
}

/// `bash -o monitor`: job control, as `-m` turns on.
fn monitor_mode(args: &[Word]) -> Option<String> {
    let mut words = args.iter().take_while(|a| a.text != "--");
    while let Some(arg) = words.next() {
        if (arg.text == "-o" || arg.text == "+o") && words.next().is_some_and(|o| o.text == "monitor") {
            return Some(arg.raw.clone());
        }
    }
    None
}
