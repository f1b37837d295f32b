//! The policy a gate keeps for the day the server cannot be reached: the key owner's rule set in
//! force and the key's live standing grants, signed with the approval signing key (published in
//! the same JWKS) so that a copy edited on disk is detected. A kind of its own (header `typ`
//! `clawgate-policy+jwt`, `aud: clawgate:policy`, `typ: policy`): no verifier of approval or gate
//! tokens takes it for one.

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use clawgate_proto::wire::gate::{
    POLICY_AUDIENCE as AUDIENCE, POLICY_HEADER_TYPE as HEADER_TYPE, POLICY_TYPE as TYPE, PolicyClaims,
    PolicyGrant, key_fingerprint,
};

/// A tag that changes whenever the policy's content does (not its signing time), for
/// `ETag`/`If-None-Match`.
pub fn content_tag(rule_version: i64, rules: &Value, grants: &[PolicyGrant]) -> String {
    let mut hash = Sha256::new();
    hash.update(rules.to_string().as_bytes());
    for g in grants {
        hash.update(format!("|{}:{}:{:?}:{}", g.id, g.expires_at, g.max_uses, g.uses).as_bytes());
    }
    format!("v{rule_version}-{}", hex::encode(&hash.finalize()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::Scope;
    use serde_json::json;

    #[test]
    fn the_tag_follows_the_content() {
        let rules = json!({"default": "ask"});
        let grant = |uses| PolicyGrant {
            id: "grt_1".into(),
            scope: Scope { agent_id: None, tool: "Bash".into(), argv_prefix: None, exact: false, cwd: None },
            expires_at: 10,
            max_uses: Some(3),
            uses,
        };
        let tag = content_tag(2, &rules, &[grant(1)]);
        assert_eq!(tag, content_tag(2, &rules, &[grant(1)]));
        assert_ne!(tag, content_tag(2, &rules, &[grant(2)]), "a use changes it");
        assert_ne!(tag, content_tag(3, &rules, &[grant(1)]));
        assert!(tag.starts_with("v2-"));
        assert_eq!(key_fingerprint(" ag_x\n"), key_fingerprint("ag_x"));
    }
}
