//! Opaque identifiers: a type prefix and 128 random bits in base62 (`req_4bX…`).
//!
//! Identifiers are parsed at the edge; a malformed one is treated exactly like an unknown one.

use super::random;
use std::fmt;

const RANDOM_LEN: usize = 22; // 62^22 > 2^128

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                let n = u128::from_le_bytes(random::bytes::<16>());
                Self(format!("{}_{}", $prefix, random::base62_fixed(n, RANDOM_LEN)))
            }

            /// `None` for anything that is not an identifier of this type.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?.strip_prefix('_')?;
                (rest.len() == RANDOM_LEN && random::is_base62(rest)).then(|| Self(s.to_owned()))
            }

            /// For values read back from our own database.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A human account.
    UserId, "usr");
id_type!(
    /// An approval request made by an agent.
    RequestId, "req");
id_type!(
    /// An agent API key (its identifier, not the secret).
    ApiKeyId, "key");
id_type!(
    /// A registered passkey.
    PasskeyId, "pk");
id_type!(
    /// A WebAuthn ceremony in progress.
    CeremonyId, "cer");
id_type!(
    /// A Web Push subscription.
    SubscriptionId, "sub");
id_type!(
    /// One row of the audit trail.
    AuditId, "evt");
id_type!(
    /// A standing grant: calls a person allowed ahead of time, within a scope.
    GrantId, "grt");
id_type!(
    /// A decision the gate made alone, by a rule or a standing grant.
    DecisionId, "dec");

/// A WebAuthn credential ID as text (base64url, no padding), as stored and shown.
pub fn credential_id_text(id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_other_types() {
        let id = RequestId::generate();
        assert!(id.as_str().starts_with("req_"));
        assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(UserId::parse(id.as_str()), None);
        assert_eq!(RequestId::parse("req_short"), None);
        assert_eq!(RequestId::parse("req_../../etc/passwd0000000"), None);
    }
}
