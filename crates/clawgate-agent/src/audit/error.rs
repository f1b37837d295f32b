//! Why a chain does not hold: the first thing found wrong, its category (which picks the exit
//! code) and, where it is about one receipt, that receipt's seq and kind.

use crate::{EXIT_ALTERED, EXIT_CHECKPOINT, EXIT_EVIDENCE, EXIT_USAGE};
use serde::Serialize;
use std::fmt;

/// What kind of failure, from the person's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The command was used wrongly, or a file cannot be read or is not what it should be.
    Input,
    /// A link or a hash does not hold: the chain was altered.
    Altered,
    /// A receipt's passkey evidence does not hold: the person's passkey did not sign it.
    Evidence,
    /// A checkpoint does not hold: bad signature, another account, or the chain differs from it
    /// or is shorter.
    Checkpoint,
}

impl Category {
    /// The exit code of `clawgate audit verify` for this category.
    pub fn exit_code(self) -> u8 {
        match self {
            Category::Input => EXIT_USAGE,
            Category::Altered => EXIT_ALTERED,
            Category::Evidence => EXIT_EVIDENCE,
            Category::Checkpoint => EXIT_CHECKPOINT,
        }
    }
}

/// The first thing found that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainError {
    pub category: Category,
    /// The receipt that does not hold (for a gap, the one that is missing), when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// That receipt's kind, when it is there to have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Why, in words, without the `receipt N (kind): ` prefix that [`fmt::Display`] adds.
    pub message: String,
}

impl ChainError {
    pub fn input(message: impl Into<String>) -> Self {
        Self { category: Category::Input, seq: None, kind: None, message: message.into() }
    }

    pub fn checkpoint(seq: Option<u64>, message: impl Into<String>) -> Self {
        Self { category: Category::Checkpoint, seq, kind: None, message: message.into() }
    }

    /// About one receipt.
    pub fn at(category: Category, seq: u64, kind: Option<&str>, message: impl Into<String>) -> Self {
        Self { category, seq: Some(seq), kind: kind.map(str::to_owned), message: message.into() }
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.category, self.seq, &self.kind) {
            (Category::Checkpoint | Category::Input, _, _) | (_, None, _) => f.write_str(&self.message),
            (_, Some(seq), Some(kind)) => write!(f, "receipt {seq} ({kind}): {}", self.message),
            (_, Some(seq), None) => write!(f, "receipt {seq}: {}", self.message),
        }
    }
}

impl std::error::Error for ChainError {}
