//! The rules of the gate, free of I/O: identifiers, API key format, what a decision was, and,
//! from `clawgate-proto` (the contract agents compute alike), the approval lifecycle, the rule
//! engine (which calls pass, ask or are refused) and how agent text is shown.

pub use clawgate_proto::{approval, denial, gate, random, rules, text};

pub mod api_key;
pub mod decided;
pub mod ids;
pub mod label;
