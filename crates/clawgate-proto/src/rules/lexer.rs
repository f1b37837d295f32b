//! The character-level half of the splitter: words, quotes, expansions, separators and
//! redirections. Nested command text (`$(…)`, `<(…)`, `( … )`, backticks) is split into the same
//! list of parts as the line around it.

use super::expand::Marks;
use super::shell::{MAX_DEPTH, Part, Redirect, UnclearWhy, Word, finish, snippet};

/// Words that start or end a compound command and are skipped where a command starts.
const SKIPPED_KEYWORDS: [&str; 12] =
    ["{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"];
/// Compound syntax the splitter does not model.
const UNCLEAR_KEYWORDS: [&str; 6] = ["for", "case", "esac", "select", "function", "coproc"];

pub(super) struct Lexer {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
    pub(super) depth: usize,
    pub(super) out: Vec<Part>,
}

pub(super) type Lexed<T> = Result<T, UnclearWhy>;

impl Lexer {
    pub(super) fn new(text: &str, depth: usize) -> Self {
        Self { chars: text.chars().collect(), pos: 0, depth, out: Vec::new() }
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    pub(super) fn slice(&self, from: usize) -> String {
        self.chars[from.min(self.pos)..self.pos].iter().collect()
    }

    /// The text from the current position, for an Unclear message.
    pub(super) fn near(&self) -> String {
        let start = self.pos.min(self.chars.len()).saturating_sub(20);
        snippet(&self.chars[start..].iter().collect::<String>())
    }

    /// A list of commands up to the end of the text, or up to a `)` when `in_parens`. On an
    /// error the command in progress is still reported: it is real, and may be denied.
    pub(super) fn list(&mut self, in_parens: bool) -> Lexed<()> {
        let mut words: Vec<Word> = Vec::new();
        let mut redirects: Vec<Redirect> = Vec::new();
        let result = self.commands(in_parens, &mut words, &mut redirects);
        if result.is_err() {
            finish(words, redirects, self.depth, &mut self.out);
        }
        result
    }

    fn commands(
        &mut self,
        in_parens: bool,
        words: &mut Vec<Word>,
        redirects: &mut Vec<Redirect>,
    ) -> Lexed<()> {
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else {
                finish(std::mem::take(words), std::mem::take(redirects), self.depth, &mut self.out);
                return if in_parens { Err(UnclearWhy::Unbalanced) } else { Ok(()) };
            };
            match c {
                '&' if self.peek_at(1) == Some('>') => self.redirect(redirects, None)?,
                ';' | '\n' | '&' | '|' => {
                    if c == ';' && self.peek_at(1) == Some(';') {
                        return Err(UnclearWhy::Syntax);
                    }
                    finish(std::mem::take(words), std::mem::take(redirects), self.depth, &mut self.out);
                    self.pos += 1;
                    if matches!((c, self.peek()), ('&', Some('&')) | ('|', Some('|')) | ('|', Some('&'))) {
                        self.pos += 1;
                    }
                }
                ')' if in_parens => {
                    finish(std::mem::take(words), std::mem::take(redirects), self.depth, &mut self.out);
                    self.pos += 1;
                    return Ok(());
                }
                ')' => return Err(UnclearWhy::Unbalanced),
                '(' if words.is_empty() && self.peek_at(1) != Some('(') => {
                    self.pos += 1;
                    self.nested(|l| l.list(true))?;
                }
                // `((…))`, `name() {…}` and a stray `(`.
                '(' => return Err(UnclearWhy::Syntax),
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '<' | '>' if self.peek_at(1) != Some('(') => self.redirect(redirects, None)?,
                _ => {
                    // Where an assignment may stand, bash reads `name[…]` whole (see `subscript`).
                    let assignment_ok = words.iter().all(super::wrappers::is_assignment);
                    let word = self.word(assignment_ok)?;
                    // Unquoted, so a keyword or an fd number rather than an argument.
                    let plain = word.raw == word.text && !word.dynamic;
                    let keyword = plain && words.is_empty();
                    if plain && word.text.bytes().all(|b| b.is_ascii_digit()) && self.at_redirect() {
                        self.redirect(redirects, None)?;
                    } else if plain && is_fd_variable(&word.text) && self.at_redirect() {
                        // `{fd}>file`: bash opens a new fd and assigns its number to `fd`.
                        self.redirect(redirects, Some(&word.text))?;
                    } else if keyword && UNCLEAR_KEYWORDS.contains(&word.text.as_str()) {
                        return Err(UnclearWhy::Syntax);
                    } else if !(keyword && SKIPPED_KEYWORDS.contains(&word.text.as_str())) {
                        words.push(word);
                    }
                }
            }
        }
    }

    /// `[…]` after a variable's name where an assignment may stand (`a[ 0;1]=x cmd`): bash reads
    /// it to the matching `]`, blanks, `;` and quotes included, so the word does not end there.
    /// The subscript is evaluated as arithmetic; a command substitution in it is Unclear.
    fn subscript(&mut self, text: &mut String) -> Lexed<()> {
        let from = self.pos;
        let mut level = 0;
        loop {
            match self.peek() {
                None => return Err(UnclearWhy::Unbalanced),
                Some('[') => level += 1,
                Some(']') => {
                    level -= 1;
                    if level == 0 {
                        self.pos += 1;
                        break;
                    }
                }
                Some('\\') => self.pos += 1,
                Some(quote @ ('\'' | '"')) => {
                    self.pos += 1;
                    while self.peek().is_some_and(|c| c != quote) {
                        self.pos += 1;
                    }
                }
                Some('`') => return Err(UnclearWhy::Syntax),
                Some('$' | '<' | '>') if self.peek_at(1) == Some('(') => return Err(UnclearWhy::Syntax),
                Some(_) => {}
            }
            self.pos += 1;
        }
        text.push_str(&self.slice(from));
        Ok(())
    }

    /// Whether the `[` here is closed within the word: a lone `[` (the `test` command) is a
    /// literal, not a glob.
    fn bracket_closes(&self) -> bool {
        let rest = self.chars[self.pos + 1..].iter();
        rest.take_while(|c| !" \t\n;&|()<>".contains(**c)).any(|c| *c == ']')
    }

    fn at_redirect(&self) -> bool {
        matches!(self.peek(), Some('<' | '>')) && self.peek_at(1) != Some('(')
    }

    /// Runs `inner` one level deeper, refusing to nest past the limit.
    pub(super) fn nested(&mut self, inner: impl FnOnce(&mut Self) -> Lexed<()>) -> Lexed<()> {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH { Err(UnclearWhy::TooDeep) } else { inner(self) };
        self.depth -= 1;
        result
    }

    /// Spaces, tabs and line continuations: bash's only blanks. A carriage return is a word
    /// character to bash (`a \r#; b` runs `b`), so it is one here too.
    fn skip_blanks(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(' ' | '\t'), _) => self.pos += 1,
                (Some('\\'), Some('\n')) => self.pos += 2,
                _ => return,
            }
        }
    }

    /// A redirection operator and its target; heredocs are Unclear. `fd_variable` is the
    /// `{name}` written before the operator, kept in `op` so it never passes for a plain one.
    fn redirect(&mut self, redirects: &mut Vec<Redirect>, fd_variable: Option<&str>) -> Lexed<()> {
        let start = self.pos;
        if self.peek() == Some('&') {
            self.pos += 1;
        }
        let first = self.peek();
        self.pos += 1;
        match (first, self.peek(), self.peek_at(1)) {
            (Some('<'), Some('<'), Some('<')) => self.pos += 2,
            (Some('<'), Some('<'), _) => return Err(UnclearWhy::Heredoc),
            (Some('<' | '>'), Some('>' | '&' | '|'), _) => self.pos += 1,
            _ => {}
        }
        let op = format!("{}{}", fd_variable.unwrap_or_default(), self.slice(start));
        self.skip_blanks();
        if !matches!(self.peek(), Some(c) if !" \t\n;&|()<>".contains(c)) {
            return Err(UnclearWhy::Syntax);
        }
        let target = self.word(false)?;
        let duplicates_fd = fd_variable.is_none()
            && op.ends_with('&')
            && !target.dynamic
            && (target.text == "-" || is_fd_number(&target.text));
        if !duplicates_fd {
            redirects.push(Redirect { op, target });
        }
        Ok(())
    }

    /// One word: quotes removed, expansions kept as written and marked dynamic.
    fn word(&mut self, assignment_ok: bool) -> Lexed<Word> {
        let start = self.pos;
        let mut text = String::new();
        let mut marks = Marks::default();
        let mut glob = false;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' => break,
                '<' | '>' if self.pos == start && self.peek_at(1) == Some('(') => {
                    self.pos += 2;
                    self.nested(|l| l.list(true))?;
                    text.push_str(&self.slice(start));
                    marks.dynamic = true;
                }
                '<' | '>' => break,
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(c) => {
                            text.push(c);
                            self.pos += 1;
                        }
                        None => text.push('\\'),
                    }
                }
                '\'' => {
                    self.pos += 1;
                    let from = self.pos;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err(UnclearWhy::UnbalancedQuote);
                    }
                    text.push_str(&self.slice(from));
                    self.pos += 1;
                }
                '"' => self.double_quoted(&mut text, &mut marks)?,
                '`' => {
                    self.backticks(&mut text)?;
                    marks.dynamic = true;
                }
                '$' => self.dollar(&mut text, &mut marks, false)?,
                '{' => {
                    marks.dynamic |= self.brace_expansion();
                    text.push(c);
                    self.pos += 1;
                }
                '[' if assignment_ok && is_name(&text) && self.slice(start) == text => {
                    self.subscript(&mut text)?;
                    marks.evaluates = true;
                }
                _ => {
                    glob |= c == '*' || c == '?' || c == '[' && self.bracket_closes();
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        let Marks { dynamic, evaluates } = marks;
        Ok(Word { text, raw: self.slice(start), dynamic, evaluates, glob })
    }
}

/// `{name}` or `{name[…]}` before a redirection operator.
fn is_fd_variable(word: &str) -> bool {
    let Some(inner) = word.strip_prefix('{').and_then(|w| w.strip_suffix('}')) else { return false };
    let name = inner.split_once('[').map_or(inner, |(name, _)| name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A file descriptor's number as bash reads it after `>&`: digits only (`+2` is a file name,
/// though Rust's `parse` would take it).
fn is_fd_number(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

/// A shell variable's name: a letter or `_`, then letters, digits and `_`.
fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
