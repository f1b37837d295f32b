//! Globs and command patterns: what a rule's `tool`, `agent` and `command` conditions match.

use super::shell::{SimpleCommand, basename};

/// One glob token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Any,
    /// `[abc]`, `[a-z]`, `[!abc]` / `[^abc]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::One => true,
            Token::Any => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// A shell-style glob over a whole string: `*`, `?`, `[…]`; `\` makes the next character
/// literal. Case-sensitive, like program names and tool names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

impl Glob {
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.is_empty() {
            return Err("an empty glob".into());
        }
        let mut chars = source.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' => Token::Literal(chars.next().ok_or_else(|| format!("`{source}` ends with `\\`"))?),
                '[' => {
                    let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars.next().ok_or_else(|| format!("`{source}` has an unclosed `[`"))?;
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' {
                            chars.next().ok_or_else(|| format!("`{source}` ends with `\\`"))?
                        } else {
                            c
                        };
                        let after = chars.clone().nth(1);
                        let hi = match (chars.peek(), after) {
                            (Some('-'), Some(hi)) if hi != ']' => {
                                chars.next();
                                chars.next();
                                hi
                            }
                            _ => lo,
                        };
                        if hi < lo {
                            return Err(format!("`{source}` has the reversed range `{lo}-{hi}`"));
                        }
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Ok(Self { source: source.to_owned(), tokens })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0, 0);
        // The last `*` seen and the text position it is currently taken to end at.
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(token) if token.matches(text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|token| *token == Token::Any)
    }
}

/// Words of a command: the first matches the program, then each later one an argument. An `ask`
/// or `deny` rule matches broadly: each later word some later argument, in order (a
/// subsequence, so `git push --force` matches `git -C repo push origin --force`). An `allow` rule
/// matches in place: its words are the command's first words, position by position (`git
/// status` never matches `git push --force origin status`); words after them are free, and
/// only flags the program's table lists as harmless (`git --no-pager`) may be skipped before
/// each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPattern {
    source: String,
    program: Glob,
    args: Vec<Glob>,
}

impl CommandPattern {
    /// Words split on whitespace; each a [`Glob`].
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut words = source.split_whitespace().map(Glob::parse);
        let program = words.next().ok_or("an empty command pattern")??;
        let args = words.collect::<Result<_, _>>()?;
        Ok(Self { source: source.to_owned(), program, args })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The glob on the program's name (or path).
    pub fn program(&self) -> &Glob {
        &self.program
    }

    /// The globs on the words after the program, in order.
    pub fn args(&self) -> &[Glob] {
        &self.args
    }

    /// The program is compared by basename unless the pattern names a path (`/usr/bin/rm`).
    pub fn matches(&self, cmd: &SimpleCommand) -> bool {
        if !self.matches_program(cmd) {
            return false;
        }
        let mut args = cmd.args().iter();
        self.args.iter().all(|glob| args.any(|arg| glob.matches(&arg.text)))
    }

    /// Whether this pattern's words are `cmd`'s first words, in place (for `allow` rules). A
    /// pattern naming a bare program allows it only when it is run by name (from `PATH`), not
    /// `./git` or `/tmp/x/git`, which could be any program.
    pub fn matches_in_place(&self, cmd: &SimpleCommand) -> bool {
        let by_path = cmd.program_word().text.contains('/') && !self.program.as_str().contains('/');
        if by_path || !self.matches_program(cmd) {
            return false;
        }
        let name = cmd.program_name();
        let mut args = cmd.args().iter().peekable();
        self.args.iter().all(|glob| {
            while args
                .next_if(|a| !glob.matches(&a.text) && super::programs::skippable(name, &a.text))
                .is_some()
            {}
            args.next().is_some_and(|arg| glob.matches(&arg.text))
        })
    }

    fn matches_program(&self, cmd: &SimpleCommand) -> bool {
        let program = &cmd.program_word().text;
        let program = if self.program.as_str().contains('/') { program } else { basename(program) };
        self.program.matches(program)
    }
}
