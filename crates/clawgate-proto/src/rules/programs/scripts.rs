//! Programs whose script or query is an argument: what in it runs a command or writes a file.

use super::Opt::{Long, Short};
use super::risky_option;
use crate::rules::shell::Word;

/// sed: `-i` edits files in place, `-f` reads a script the splitter cannot see; in the script,
/// the `e` command and the `s///e` flag run commands, `w`, `W` and `s///w` write files.
pub(super) fn sed(args: &[Word]) -> Option<String> {
    let mut scripts = Vec::new();
    let mut operands = Vec::new();
    let mut words = args.iter();
    while let Some(arg) = words.next() {
        let t = arg.text.as_str();
        if t == "--" {
            operands.extend(words.by_ref());
            break;
        }
        if let Some(long) = t.strip_prefix("--") {
            let (name, value) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v)));
            match name {
                "expression" => {
                    scripts.push(value.map(str::to_owned).or_else(|| words.next().map(|w| w.text.clone()))?)
                }
                "quiet" | "silent" | "regexp-extended" | "separate" | "unbuffered" | "null-data"
                | "posix" | "debug" | "sandbox" | "binary" | "line-length" => {}
                _ => return Some(arg.raw.clone()),
            }
            continue;
        }
        if t.len() > 1 && t.starts_with('-') {
            for (at, c) in t.char_indices().skip(1) {
                match c {
                    'e' => {
                        let attached = &t[at + 1..];
                        let value = if attached.is_empty() {
                            words.next().map(|w| w.text.clone())
                        } else {
                            Some(attached.to_owned())
                        };
                        scripts.push(value?);
                        break;
                    }
                    'l' => {
                        if t[at + 1..].is_empty() {
                            words.next();
                        }
                        break;
                    }
                    'n' | 'E' | 'r' | 's' | 'u' | 'z' | 'b' => {}
                    _ => return Some(arg.raw.clone()), // -i, -f and anything unknown
                }
            }
            continue;
        }
        operands.push(arg);
    }
    if scripts.is_empty() {
        scripts.push(operands.first()?.text.clone());
    }
    scripts.iter().find(|s| !sed_script_is_inert(s)).map(|s| format!("sed script `{s}`"))
}

/// Walks a sed script command by command; anything it does not recognise counts as risky.
fn sed_script_is_inert(script: &str) -> bool {
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    let skip_blanks = |i: &mut usize| {
        while at(*i).is_some_and(|c| c == ' ' || c == '\t' || c == ';' || c == '\n') {
            *i += 1;
        }
    };
    // Past a delimited section (`/re/`, `|re|`) starting at the opening delimiter.
    let delimited = |i: &mut usize| -> bool {
        let Some(delim) = at(*i) else { return false };
        *i += 1;
        while let Some(c) = at(*i) {
            *i += 1;
            if c == '\\' {
                *i += 1;
            } else if c == delim {
                return true;
            }
        }
        false
    };
    // `s/re/replacement/` and `y/abc/xyz/`: one delimiter closes both sections.
    let two_sections = |i: &mut usize| -> bool {
        let open = *i;
        if !delimited(i) {
            return false;
        }
        *i -= 1;
        at(open) == at(*i) && delimited(i)
    };
    let to_line_end = |i: &mut usize| {
        while at(*i).is_some_and(|c| c != '\n') {
            *i += 1;
        }
    };
    loop {
        skip_blanks(&mut i);
        let Some(mut c) = at(i) else { return true };
        // Addresses: numbers, `$`, `/re/`, `\cREc`, `first~step`, `addr,addr`, `+N`, `!`.
        loop {
            match c {
                '0'..='9' | '$' | ',' | '~' | '+' | '!' | ' ' | 'I' | 'M' => i += 1,
                '/' => {
                    if !delimited(&mut i) {
                        return false;
                    }
                }
                '\\' => {
                    i += 1;
                    if !delimited(&mut i) {
                        return false;
                    }
                }
                _ => break,
            }
            let Some(next) = at(i) else { return false };
            c = next;
        }
        i += 1;
        match c {
            '{' | '}' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z' | 'F' => {
            }
            'l' | 'L' | 'q' | 'Q' => {
                while at(i).is_some_and(|c| c.is_ascii_digit() || c == ' ') {
                    i += 1;
                }
            }
            // A label ends at `;` too; stopping early is safe, as what follows must parse.
            ':' | 'b' | 't' | 'T' | 'v' => {
                while at(i).is_some_and(|c| !matches!(c, ';' | '\n' | '}' | ' ')) {
                    i += 1;
                }
            }
            // Comments, text and file names run to the end of the line, `;` included.
            '#' | 'a' | 'i' | 'c' | 'r' | 'R' => to_line_end(&mut i),
            's' => {
                if !two_sections(&mut i) {
                    return false;
                }
                while let Some(flag) = at(i).filter(|f| !matches!(f, ';' | '\n' | '}' | ' ')) {
                    if flag == 'e' || flag == 'w' || flag == 'W' {
                        return false;
                    }
                    i += 1;
                }
            }
            'y' => {
                if !two_sections(&mut i) {
                    return false;
                }
            }
            _ => return false, // `e`, `w`, `W` and anything unknown
        }
    }
}

/// awk: `-f` reads a program the splitter cannot see, gawk's `-i`/`-l`/`-E` load more, `-o`,
/// `-p`, `-d` write files; in the program, `system(…)`, pipes (`print | "cmd"`, `"cmd" |
/// getline`) and output redirection (`print > "file"`) run commands or write files. A `>` may
/// be a comparison too; it is asked about all the same.
pub(super) fn awk(args: &[Word]) -> Option<String> {
    let risky = [
        Short('f'),
        Short('i'),
        Short('l'),
        Short('E'),
        Short('o'),
        Short('p'),
        Short('d'),
        Short('D'),
        Long("file"),
        Long("include"),
        Long("load"),
        Long("exec"),
        Long("pretty-print"),
        Long("profile"),
        Long("dump-variables"),
        Long("debug"),
        Long("source"),
    ];
    if let Some(option) = risky_option(args, &risky) {
        return Some(option);
    }
    let mut words = args.iter();
    let program = loop {
        let arg = words.next()?;
        match arg.text.as_str() {
            "--" => break words.next()?,
            "-F" | "-v" => {
                words.next();
            }
            t if t.starts_with('-') && t.len() > 1 => {}
            _ => break arg,
        }
    };
    let text = &program.text;
    let runs = text.contains("system") || text.contains('|') || text.contains('>') || text.contains('@');
    runs.then(|| format!("awk program `{text}`"))
}

/// Whether `text` holds any of `needles`, ignoring ASCII case.
fn holds_any(text: &str, needles: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    needles.iter().any(|n| lower.contains(n))
}

/// sqlite3: dot-commands that run a shell or write files, and SQL that creates database files.
pub(super) fn sqlite(args: &[Word]) -> Option<String> {
    let needles = [
        ".shell",
        ".system",
        ".output",
        ".once",
        ".save",
        ".backup",
        ".excel",
        ".log",
        ".import",
        ".load",
        ".cd",
        "attach",
        "vacuum",
        "load_extension",
        "writefile",
        "edit(",
    ];
    args.iter().find(|a| holds_any(&a.text, &needles)).map(|a| a.raw.clone())
}

/// psql: meta-commands that run a shell or write files, and `COPY … PROGRAM`.
pub(super) fn psql(args: &[Word]) -> Option<String> {
    let needles =
        ["\\!", "\\o", "\\w", "\\g", "\\copy", "\\cd", "\\setenv", "\\i", "\\ir", "program", "lo_export"];
    args.iter().find(|a| holds_any(&a.text, &needles)).map(|a| a.raw.clone())
}

/// mysql: `system`/`\!` run a shell, `tee`/`\T` and `INTO OUTFILE` write files.
pub(super) fn mysql(args: &[Word]) -> Option<String> {
    let needles = ["\\!", "system", "\\t", "tee", "outfile", "dumpfile", "\\p", "pager"];
    args.iter().find(|a| holds_any(&a.text, &needles)).map(|a| a.raw.clone())
}
