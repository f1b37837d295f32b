//! Paths compared lexically: resolved against the call's cwd with `.` and `..` folded, never
//! touching the disk (the server is not the agent's machine).

/// `path`'s components once made absolute against `cwd`; `None` when it is relative and there
/// is no (absolute) cwd to resolve it against.
pub fn resolve(path: &str, cwd: Option<&str>) -> Option<Vec<String>> {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        let cwd = cwd.filter(|c| c.starts_with('/'))?;
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<String> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other.to_owned()),
        }
    }
    Some(parts)
}

/// `cwd` normalised for comparison (`/a/./b/` is `/a/b`); `None` unless absolute.
pub fn normalize(cwd: &str) -> Option<String> {
    resolve(cwd, None).map(|parts| format!("/{}", parts.join("/")))
}

/// A directory a `path` condition names: absolute, or `{cwd}` optionally followed by `/more`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Absolute(String),
    Cwd(String),
}

impl Root {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix("{cwd}") {
            if rest.is_empty() || rest.starts_with('/') {
                return Ok(Root::Cwd(rest.to_owned()));
            }
        } else if text.starts_with('/') {
            return Ok(Root::Absolute(text.to_owned()));
        }
        Err(format!("`{text}` is neither an absolute path nor `{{cwd}}` or `{{cwd}}/…`"))
    }

    fn resolve(&self, cwd: Option<&str>) -> Option<Vec<String>> {
        match self {
            Root::Absolute(path) => resolve(path, None),
            Root::Cwd(rest) => resolve(&format!("{}{rest}", cwd.filter(|c| c.starts_with('/'))?), None),
        }
    }
}

/// A rule's `path` condition on file tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathCondition {
    /// The file lies in one of these directories.
    Inside(Vec<Root>),
    /// The file lies in none of them.
    Outside(Vec<Root>),
}

impl PathCondition {
    /// Whether `file` (resolved against `cwd`) meets the condition. A path or directory that
    /// cannot be resolved (relative, `{cwd}` without a cwd) meets neither `inside` nor
    /// `outside`: the rule does not apply rather than guess.
    pub fn holds(&self, file: &str, cwd: Option<&str>) -> bool {
        let Some(file) = resolve(file, cwd) else { return false };
        let (roots, inside) = match self {
            PathCondition::Inside(roots) => (roots, true),
            PathCondition::Outside(roots) => (roots, false),
        };
        let mut resolved = Vec::with_capacity(roots.len());
        for root in roots {
            match root.resolve(cwd) {
                Some(root) => resolved.push(root),
                None if inside => {}
                None => return false,
            }
        }
        let within = resolved.iter().any(|root| file.starts_with(root));
        within == inside
    }
}
