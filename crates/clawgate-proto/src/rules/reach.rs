//! Which command patterns and regexes can never match, found when a rule set is saved: shell
//! syntax in a pattern (`>`, `|`), a wrapper the splitter looks through (`sudo *`), a program
//! that is never split into a command (`eval`), and for an `allow` rule a pattern every match of
//! which lies outside the subset an allow covers (`git -c*`). Nothing here changes how a call is
//! decided: each answer is what [`super::decide`] and [`super::subset`] would do.

use super::pattern::{CommandPattern, Glob};
use super::shell::{self, Part, Word};
use super::subset::{RISKY_WRAPPERS, SHELL_BUILTINS};
use super::wrappers;
use regex::Regex;
use regex_syntax::hir::{Hir, HirKind, Look};

/// Why `pattern` never matches what it seems to, if so; `allow`: the rule is an `allow`, which
/// also never covers a command outside the understood subset.
pub(super) fn pattern_problem(pattern: &CommandPattern, allow: bool) -> Option<String> {
    let words = || std::iter::once(pattern.program()).chain(pattern.args()).map(Glob::as_str);
    if let Some(why) = words().find_map(shell_syntax) {
        return Some(why);
    }
    if let Some(word) = words().find(|w| w.contains(['\'', '"'])) {
        return Some(format!(
            "`{word}` holds a quote, matched as a character, but a command's words are compared with their \
             quotes removed (`git commit -m \"wip\"` has the word `wip`): leave the quotes out"
        ));
    }
    let program = pattern.program().as_str();
    let assignment =
        Word { text: program.into(), raw: program.into(), dynamic: false, evaluates: false, glob: false };
    if wrappers::is_assignment(&assignment) {
        return Some(format!(
            "`{program}` is an assignment, not a program: a pattern starts with the program a command runs \
             (`make test` also matches `{program} make test`, which an allow never covers)"
        ));
    }
    let name = shell::basename(program);
    if wrappers::is_wrapper(name) && pattern.args().iter().any(|a| !a.as_str().starts_with('-')) {
        return Some(looked_through(name, allow));
    }
    if !super::tools::is_literal(program) {
        return None;
    }
    let (line, fixed) = sample(pattern);
    let parts = shell::split(&line);
    let top = parts.iter().find_map(|p| match p {
        Part::Command(cmd) if !cmd.nested => Some(cmd),
        _ => None,
    });
    let Some(cmd) = top else {
        let Some(Part::Unclear(unclear)) = parts.first() else { return None };
        return Some(format!(
            "`{name}` is never split into a command ({}), so no command pattern matches it; a call holding it is \
             asked about at least (use `regex` to deny it)",
            unclear.why.describe()
        ));
    };
    let doubt = cmd.doubt.as_ref().filter(|_| allow)?;
    // Only a doubt the pattern's own words bring is one every match has: a word this sample made
    // up for a glob (`x` for `*`) could be anything in a real command.
    let own = doubt.near == cmd.program_word().raw
        || fixed.contains(&doubt.near) && (doubt.near.starts_with('-') || doubt.near.contains('$'));
    own.then(|| {
        format!(
            "never allows anything: every command it matches holds {} (`{}`), which an allow never covers \
             (such a command is asked about at least)",
            doubt.why.describe(),
            doubt.near
        )
    })
}

/// A pattern word that is shell syntax rather than a word: a redirection or a command separator.
fn shell_syntax(word: &str) -> Option<String> {
    // `\;` is a literal `;` (find's `-exec … \;`), a word like any other.
    let ends_command = word.len() > 1 && word.ends_with(';') && !word.ends_with("\\;");
    if matches!(word, "|" | "||" | "&&" | ";" | "&" | "|&" | ";;") || ends_command {
        return Some(format!(
            "`{word}` separates commands, but a pattern matches one simple command (`git log`, not \
             `git log | head`): write a pattern for each"
        ));
    }
    let op = word.trim_start_matches(|c: char| c.is_ascii_digit());
    (op.starts_with(['>', '<']) || op.starts_with("&>")).then(|| {
        format!(
            "`{word}` is a redirection, not a word: patterns match a command's words, never its redirections \
             (and an allow never covers a redirection to a file; only `/dev/null` and `2>&1` are understood)"
        )
    })
}

fn looked_through(name: &str, allow: bool) -> String {
    let head = format!(
        "the splitter looks through `{name}` to the program it runs and matches that (`{name} rm x` runs \
         `rm`), so this pattern only matches `{name}` running no command"
    );
    let risky = RISKY_WRAPPERS.contains(&name) || SHELL_BUILTINS.contains(&name);
    match (risky, allow) {
        (true, true) => format!(
            "{head}; an allow never covers a command run through `{name}` (it changes who runs the program, \
             feeds it its input or changes the shell)"
        ),
        (true, false) => {
            format!("{head}; a command run through `{name}` is asked about at least (use `regex` to deny it)")
        }
        (false, _) => format!("{head}; write the program's own pattern, which matches behind `{name}` too"),
    }
}

/// A command line the pattern matches in place, as far as its words fix one: the program, then
/// each word that is literal (or a glob's literal start, `-c` for `-c*`) or else `x`, up to the
/// first glob none of these fit. Also the words the pattern fixed, as written in the line.
fn sample(pattern: &CommandPattern) -> (String, Vec<String>) {
    let mut words = vec![written(pattern.program().as_str())];
    let mut fixed = Vec::new();
    for glob in pattern.args() {
        let source = glob.as_str();
        let prefix = literal_prefix(source);
        let candidates = [(prefix.clone(), true), (format!("{prefix}x"), false), ("x".to_owned(), false)];
        let Some((word, own)) = candidates.into_iter().find(|(w, _)| !w.is_empty() && glob.matches(w)) else {
            break;
        };
        let word = written(&word);
        if own {
            fixed.push(word.clone());
        }
        words.push(word);
    }
    (words.join(" "), fixed)
}

/// The characters of a glob before its first `*`, `?` or `[`, with `\` escapes resolved.
fn literal_prefix(source: &str) -> String {
    let mut out = String::new();
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' | '[' => break,
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A pattern word as a shell word: plain text and expansions (`$HOME`, `$(date)`) as they are,
/// anything else quoted.
fn written(word: &str) -> String {
    let plain = word.chars().all(|c| c.is_alphanumeric() || "-_./=+,:@%^~".contains(c));
    let expansion =
        word.contains('$') && !word.contains([' ', ';', '|', '&', '<', '>', '`', '\'', '"', '\\']);
    if plain || expansion { word.to_owned() } else { quoted(word) }
}

fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Why `regex` can never match any text, if it cannot.
pub(super) fn regex_never_matches(regex: &Regex) -> Option<&'static str> {
    let hir = regex_syntax::ParserBuilder::new().build().parse(regex.as_str()).ok()?;
    if hir.properties().minimum_len().is_none() {
        return Some("it holds a class or alternative that matches no character");
    }
    impossible_anchor(&hir).then_some("it needs text before the start or after the end (`a^`, `$a`)")
}

/// `^`/`\A` after something that consumes text, or `$`/`\z` before it (without the `m` flag),
/// on every path through the regex.
fn impossible_anchor(hir: &Hir) -> bool {
    let consumes = |h: &Hir| h.properties().minimum_len().is_some_and(|n| n > 0);
    match hir.kind() {
        HirKind::Concat(subs) => {
            subs.iter().enumerate().any(|(i, sub)| match sub.kind() {
                HirKind::Look(Look::Start) => subs[..i].iter().any(consumes),
                HirKind::Look(Look::End) => subs[i + 1..].iter().any(consumes),
                _ => false,
            }) || subs.iter().any(impossible_anchor)
        }
        HirKind::Alternation(alternatives) => alternatives.iter().all(impossible_anchor),
        HirKind::Capture(capture) => impossible_anchor(&capture.sub),
        HirKind::Repetition(repetition) => repetition.min > 0 && impossible_anchor(&repetition.sub),
        _ => false,
    }
}
