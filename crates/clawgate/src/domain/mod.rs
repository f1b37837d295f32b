//! The rules of the gate, free of I/O: identifiers, API key format, approval lifecycle, the rule
//! engine (which calls pass, ask or are refused), and how agent text is shown.

pub mod api_key;
pub mod approval;
pub mod decided;
pub mod denial;
pub mod gate;
pub mod ids;
pub mod label;
pub mod random;
pub mod rules;
pub mod text;
