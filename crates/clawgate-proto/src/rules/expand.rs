//! Expansions inside a word: `$…` (parameters, command substitutions, arithmetic, `$'…'`),
//! backticks, double quotes and brace expansion. Each marks its word dynamic; command
//! substitutions are split into parts like the rest of the line. Arithmetic and parameter
//! expansions with operators also mark it as evaluating: bash evaluates array subscripts and
//! prompt strings in them, which runs command substitutions the splitter never sees
//! (`x='a[$(cmd)]'; echo $((x))`).

use super::lexer::{Lexed, Lexer};
use super::shell::{UnclearWhy, split_at_depth};

/// What a word's expansions make of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Marks {
    /// Resolved at run time: the text is not what runs.
    pub dynamic: bool,
    /// Evaluates arithmetic, subscripts or prompt strings (see the module docs).
    pub evaluates: bool,
}

/// How far a `{` looks for its `}`: bounds the work on hostile words full of braces.
const MAX_BRACE_SCAN: usize = 256;

impl Lexer {
    /// Whether the `{` here opens a brace expansion (`{a,b}`, `{1..9}`) within this word.
    pub(super) fn brace_expansion(&self) -> bool {
        let rest = self.chars[self.pos + 1..].iter().take(MAX_BRACE_SCAN);
        let rest = rest.take_while(|c| !" \t\n;&|()<>'\"".contains(**c));
        let inner: String = rest.take_while(|c| **c != '}').collect();
        let closed = self.chars.get(self.pos + 1 + inner.chars().count()) == Some(&'}');
        closed && (inner.contains(',') || inner.contains(".."))
    }

    pub(super) fn double_quoted(&mut self, text: &mut String, marks: &mut Marks) -> Lexed<()> {
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
                Some('$') => self.dollar(text, marks, true)?,
                Some('`') => {
                    self.backticks(text)?;
                    marks.dynamic = true;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A backquoted command: its text (with `` \` `` and `\\` unescaped) is split on its own.
    pub(super) fn backticks(&mut self, text: &mut String) -> Lexed<()> {
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
    pub(super) fn dollar(&mut self, text: &mut String, marks: &mut Marks, in_quotes: bool) -> Lexed<()> {
        let start = self.pos;
        match self.peek_at(1) {
            // `$((…))` and the old `$[…]`: arithmetic.
            Some(open @ ('(' | '[')) if open == '[' || self.peek_at(2) == Some('(') => {
                let inner = self.balanced(2, open, if open == '[' { ']' } else { ')' })?;
                if inner.contains("$(") || inner.contains('`') {
                    return Err(UnclearWhy::Syntax);
                }
                marks.evaluates = true;
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
                marks.evaluates |= !plain_parameter(&inner);
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
                    return Ok(());
                }
            }
            // `$"…"`: translated through a message catalogue, so not known either.
            Some('"') if !in_quotes => {
                self.pos += 1;
                self.double_quoted(text, marks)?;
                marks.dynamic = true;
                return Ok(());
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
                return Ok(());
            }
        }
        text.push_str(&self.slice(start));
        marks.dynamic = true;
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

/// `${NAME}`, `${#NAME}`, `${1}`, `${@}`: a value and nothing else. Every other form (`${x@P}`,
/// `${!x}`, `${a[i]}`, `${x:1}`, `${x:-…}`) is taken to evaluate: some of them run what an array
/// subscript or a prompt string holds, and telling them apart is not worth the risk.
fn plain_parameter(inner: &str) -> bool {
    let name = inner.strip_prefix('#').filter(|n| !n.is_empty()).unwrap_or(inner);
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        Some(c) if c.is_ascii_digit() => chars.all(|c| c.is_ascii_digit()),
        Some(c) => "@*#?-$!".contains(c) && chars.next().is_none(),
        None => false,
    }
}
