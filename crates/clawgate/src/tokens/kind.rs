//! The two kinds of token the server signs, and which of them a check takes: declared once in
//! the wire contract ([`clawgate_proto::wire::tokens`]), which the client checks offline by too.

pub use clawgate_proto::wire::tokens::{Accept, DecidedBy, TokenKind};
