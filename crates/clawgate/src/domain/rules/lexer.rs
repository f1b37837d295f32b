//! The character-level half of the splitter: words, quotes, expansions, separators and
//! redirections. Nested command text (`$(…)`, `<(…)`, `( … )`, backticks) is split into the same
//! list of parts as the line around it.

use super::shell::{MAX_DEPTH, Part, Redirect, UnclearWhy, Word, finish, snippet, split_at_depth};

/// Words that start or end a compound command and are skipped where a command starts.
const SKIPPED_KEYWORDS: [&str; 12] =
    ["{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"];
/// Compound syntax the splitter does not model.
const UNCLEAR_KEYWORDS: [&str; 6] = ["for", "case", "esac", "select", "function", "coproc"];

pub(super) struct Lexer {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    pub(super) out: Vec<Part>,
}

type Lexed<T> = Result<T, UnclearWhy>;

impl Lexer {
    pub(super) fn new(text: &str, depth: usize) -> Self {
        Self { chars: text.chars().collect(), pos: 0, depth, out: Vec::new() }
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn slice(&self, from: usize) -> String {
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
                '&' if self.peek_at(1) == Some('>') => self.redirect(redirects)?,
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
                '<' | '>' if self.peek_at(1) != Some('(') => self.redirect(redirects)?,
                _ => {
                    let word = self.word()?;
                    let plain = word.raw == word.text && !word.dynamic;
                    if plain && word.text.bytes().all(|b| b.is_ascii_digit()) && self.at_redirect() {
                        self.redirect(redirects)?;
                    } else if plain && words.is_empty() && SKIPPED_KEYWORDS.contains(&word.text.as_str()) {
                    } else if plain && words.is_empty() && UNCLEAR_KEYWORDS.contains(&word.text.as_str()) {
                        return Err(UnclearWhy::Syntax);
                    } else {
                        words.push(word);
                    }
                }
            }
        }
    }

    fn at_redirect(&self) -> bool {
        matches!(self.peek(), Some('<' | '>')) && self.peek_at(1) != Some('(')
    }

    /// Runs `inner` one level deeper, refusing to nest past the limit.
    fn nested(&mut self, inner: impl FnOnce(&mut Self) -> Lexed<()>) -> Lexed<()> {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH { Err(UnclearWhy::TooDeep) } else { inner(self) };
        self.depth -= 1;
        result
    }

    /// Spaces, tabs and line continuations.
    fn skip_blanks(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(' ' | '\t' | '\r'), _) => self.pos += 1,
                (Some('\\'), Some('\n')) => self.pos += 2,
                _ => return,
            }
        }
    }

    /// A redirection operator and its target; heredocs are Unclear.
    fn redirect(&mut self, redirects: &mut Vec<Redirect>) -> Lexed<()> {
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
        let op = self.slice(start);
        self.skip_blanks();
        if !matches!(self.peek(), Some(c) if !" \t\n;&|()<>".contains(c)) {
            return Err(UnclearWhy::Syntax);
        }
        let target = self.word()?;
        let duplicates_fd = op.ends_with('&') && (target.text == "-" || target.text.parse::<u32>().is_ok());
        if !duplicates_fd {
            redirects.push(Redirect { op, target });
        }
        Ok(())
    }

    /// One word: quotes removed, expansions kept as written and marked dynamic.
    fn word(&mut self) -> Lexed<Word> {
        let start = self.pos;
        let mut text = String::new();
        let mut dynamic = false;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' => break,
                '<' | '>' if self.pos == start && self.peek_at(1) == Some('(') => {
                    self.pos += 2;
                    self.nested(|l| l.list(true))?;
                    text.push_str(&self.slice(start));
                    dynamic = true;
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
                '"' => self.double_quoted(&mut text, &mut dynamic)?,
                '`' => {
                    self.backticks(&mut text)?;
                    dynamic = true;
                }
                '$' => self.dollar(&mut text, &mut dynamic, false)?,
                '{' => {
                    dynamic |= self.brace_expansion();
                    text.push(c);
                    self.pos += 1;
                }
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(Word { text, raw: self.slice(start), dynamic })
    }

    /// Whether the `{` here opens a brace expansion (`{a,b}`, `{1..9}`) within this word.
    fn brace_expansion(&self) -> bool {
        let rest = self.chars[self.pos + 1..].iter().take_while(|c| !" \t\n;&|()<>'\"".contains(**c));
        let inner: String = rest.take_while(|c| **c != '}').collect();
        let closed = self.chars.get(self.pos + 1 + inner.chars().count()) == Some(&'}');
        closed && (inner.contains(',') || inner.contains(".."))
    }

    fn double_quoted(&mut self, text: &mut String, dynamic: &mut bool) -> Lexed<()> {
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(UnclearWhy::UnbalancedQuote),
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(c @ ('$' | '`' | '"' | '\\')) => {
                            text.push(c);
                            self.pos += 1;
                        }
                        _ => text.push('\\'),
                    }
                }
                Some('$') => self.dollar(text, dynamic, true)?,
                Some('`') => {
                    self.backticks(text)?;
                    *dynamic = true;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A backquoted command: its text (with `` \` `` and `\\` unescaped) is split on its own.
    fn backticks(&mut self, text: &mut String) -> Lexed<()> {
        let start = self.pos;
        self.pos += 1;
        let mut inner = String::new();
        loop {
            match self.peek() {
                None => return Err(UnclearWhy::UnbalancedQuote),
                Some('`') => break,
                Some('\\') if matches!(self.peek_at(1), Some('`' | '\\' | '$')) => {
                    inner.extend(self.peek_at(1));
                    self.pos += 2;
                }
                Some(c) => {
                    inner.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        let parts = split_at_depth(&inner, self.depth + 1);
        self.out.extend(parts);
        text.push_str(&self.slice(start));
        Ok(())
    }

    /// `$…`: a command substitution (split), arithmetic, a parameter, or `$'…'` quoting.
    fn dynamic_dollar(&mut self, text: &mut String, in_quotes: bool) -> Lexed<bool> {
        let start = self.pos;
        match self.peek_at(1) {
            Some('(') if self.peek_at(2) == Some('(') => {
                let inner = self.balanced(2, '(', ')')?;
                if inner.contains("$(") || inner.contains('`') {
                    return Err(UnclearWhy::Syntax);
                }
            }
            Some('(') => {
                self.pos += 2;
                self.nested(|l| l.list(true))?;
            }
            Some('{') => {
                let inner = self.balanced(2, '{', '}')?;
                if inner.contains("$(") || inner.contains('`') || inner.contains("<(") {
                    return Err(UnclearWhy::Syntax);
                }
            }
            Some('\'') if !in_quotes => {
                self.pos += 2;
                let from = self.pos;
                while let Some(c) = self.peek().filter(|c| *c != '\'') {
                    self.pos += if c == '\\' { 2 } else { 1 };
                }
                if self.peek().is_none() {
                    return Err(UnclearWhy::UnbalancedQuote);
                }
                let inner = self.slice(from);
                self.pos += 1;
                if !inner.contains('\\') {
                    text.push_str(&inner);
                    return Ok(false);
                }
            }
            Some('"') if !in_quotes => {
                self.pos += 1;
                let mut dynamic = false;
                self.double_quoted(text, &mut dynamic)?;
                return Ok(dynamic);
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
            }
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => self.pos += 2,
            _ => {
                text.push('$');
                self.pos += 1;
                return Ok(false);
            }
        }
        text.push_str(&self.slice(start));
        Ok(true)
    }

    fn dollar(&mut self, text: &mut String, dynamic: &mut bool, in_quotes: bool) -> Lexed<()> {
        *dynamic |= self.dynamic_dollar(text, in_quotes)?;
        Ok(())
    }

    /// Skips `skip` characters, then up to the bracket that balances `open`; returns the inside.
    fn balanced(&mut self, skip: usize, open: char, close: char) -> Lexed<String> {
        self.pos += skip;
        let from = self.pos;
        let mut level = 1;
        while level > 0 {
            let c = self.peek().ok_or(UnclearWhy::Unbalanced)?;
            self.pos += 1;
            if c == open {
                level += 1;
            } else if c == close {
                level -= 1;
            }
        }
        Ok(self.chars[from..self.pos - 1].iter().collect())
    }
}
