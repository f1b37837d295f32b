//! Names people give to their passkeys and API keys: trimmed, bounded, no control characters.

pub const MAX_LABEL_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`name` must be at most {MAX_LABEL_CHARS} characters without control characters")]
pub struct LabelError;

/// The label, trimmed; `default` when absent or blank.
pub fn parse(name: Option<String>, default: &str) -> Result<String, LabelError> {
    let name =
        name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| default.to_owned());
    if name.chars().count() > MAX_LABEL_CHARS || name.chars().any(char::is_control) {
        return Err(LabelError);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_defaulted_and_bounded() {
        assert_eq!(parse(Some("  iPhone ".into()), "Passkey"), Ok("iPhone".into()));
        assert_eq!(parse(Some("   ".into()), "agent"), Ok("agent".into()));
        assert_eq!(parse(None, "agent"), Ok("agent".into()));
        assert_eq!(parse(Some("a\u{7}b".into()), "x"), Err(LabelError));
        assert_eq!(parse(Some("é".repeat(65)), "x"), Err(LabelError));
        assert!(parse(Some("é".repeat(64)), "x").is_ok());
    }
}
