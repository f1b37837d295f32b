//! Agent API keys: `ag_` + 30 random base62 characters (178 bits) + a 6-character CRC32 checksum.
//!
//! The prefix lets secret scanners find leaked keys; the checksum lets the server refuse a
//! mistyped or made-up key before touching the database. Only an HMAC of the key is stored.

use super::random;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

pub const PREFIX: &str = "ag_";
const BODY_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN + CHECKSUM_LEN;
/// How much of a key is kept and shown to tell keys apart (`ag_3fK9q…`).
const DISPLAY_LEN: usize = PREFIX.len() + 6;

/// A whole API key. Its `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("an API key starts with `ag_`")]
    Prefix,
    #[error("an API key is {KEY_LEN} characters long")]
    Length,
    #[error("an API key contains only letters and digits after `ag_`")]
    Alphabet,
    #[error("the API key's checksum does not match: it was mistyped or truncated")]
    Checksum,
}

fn checksum(prefix_and_body: &str) -> String {
    random::base62_fixed(u128::from(crc32fast::hash(prefix_and_body.as_bytes())), CHECKSUM_LEN)
}

impl ApiKeySecret {
    pub fn generate() -> Self {
        let head = format!("{PREFIX}{}", random::base62_string(BODY_LEN));
        let sum = checksum(&head);
        Self(head + &sum)
    }

    pub fn parse(s: &str) -> Result<Self, KeyFormatError> {
        let rest = s.strip_prefix(PREFIX).ok_or(KeyFormatError::Prefix)?;
        if s.len() != KEY_LEN {
            return Err(KeyFormatError::Length);
        }
        if !random::is_base62(rest) {
            return Err(KeyFormatError::Alphabet);
        }
        let (head, sum) = s.split_at(KEY_LEN - CHECKSUM_LEN);
        if checksum(head) != sum {
            return Err(KeyFormatError::Checksum);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn display_prefix(&self) -> String {
        self.0[..DISPLAY_LEN].to_owned()
    }

    /// HMAC-SHA256 under the server's `API_KEY_SECRET`, hex encoded: what the database stores.
    pub fn hash(&self, server_secret: &[u8]) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(self.0.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.display_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_are_unique() {
        let k = ApiKeySecret::generate();
        assert_eq!(k.expose().len(), KEY_LEN);
        assert_eq!(ApiKeySecret::parse(k.expose()), Ok(k.clone()));
        assert_ne!(k, ApiKeySecret::generate());
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let k = ApiKeySecret::generate();
        let mut chars: Vec<char> = k.expose().chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(ApiKeySecret::parse(&typo), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        assert_eq!(ApiKeySecret::parse("sk_abc"), Err(KeyFormatError::Prefix));
        assert_eq!(ApiKeySecret::parse("ag_abc"), Err(KeyFormatError::Length));
        let bad = format!("ag_{}", "-".repeat(BODY_LEN + CHECKSUM_LEN));
        assert_eq!(ApiKeySecret::parse(&bad), Err(KeyFormatError::Alphabet));
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let k = ApiKeySecret::generate();
        assert!(!format!("{k:?}").contains(k.expose()));
    }

    #[test]
    fn hash_depends_on_the_server_secret() {
        let k = ApiKeySecret::generate();
        assert_ne!(k.hash(b"one secret"), k.hash(b"another secret"));
        assert_eq!(k.hash(b"s").len(), 64);
    }
}
