//! Tokens and the keys that sign them: approval tokens prove one approval, once (acceptance list
//! B); a gate token never passes for a person's approval (review S's C1); signing keys rotated and
//! revoked; and the issuer an offline check expects.

mod approval_tokens;
mod gate_tokens;
mod issuer;
mod signing_keys;
