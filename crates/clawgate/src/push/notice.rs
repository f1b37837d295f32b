//! What a push says. Nothing secret: no action text, context, binding code or token, since the
//! push service and the lock screen may both see it; the page fetches the rest with a session.
//! Agent-chosen text (the agent id, a key's name) is quoted with invisible and direction-changing
//! characters shown as code points ([`crate::domain::text`]), the rule the page uses too.

use crate::domain::ids::{RequestId, UserId};
use crate::domain::text;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::approvals::ApprovalRecord;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Notification titles quote at most this many characters of an agent id or key name.
const TITLE_QUOTE_CHARS: usize = 48;

/// A new request, as much as a push may say about it.
#[derive(Debug, Clone)]
pub struct RequestNote {
    pub request_id: RequestId,
    pub agent_id: Option<String>,
    /// Until the request lapses: after that a push is useless.
    pub ttl_secs: u64,
}

impl RequestNote {
    pub fn of(record: &ApprovalRecord) -> Self {
        let lifetime_ms = record.expires_at.saturating_sub(record.created_at).max(0);
        Self {
            request_id: record.id.clone(),
            agent_id: record.agent_id.clone(),
            ttl_secs: u64::try_from(lifetime_ms / 1000).unwrap_or(0),
        }
    }
}

/// One push, ready to encrypt.
#[derive(Debug)]
pub struct Notice {
    pub user_id: UserId,
    /// The JSON body (encrypted on the way out).
    pub payload: Vec<u8>,
    /// RFC 8030 `Topic`: a newer push with the same topic replaces an undelivered older one.
    pub topic: String,
    /// RFC 8030 `TTL` in seconds.
    pub ttl_secs: u64,
}

impl Notice {
    /// `count` requests arrived since the last push (1: just this one); `latest` is the newest.
    pub fn requests(user_id: &UserId, latest: &RequestNote, count: u32) -> Self {
        let title = match (&latest.agent_id, count) {
            (_, 2..) => format!("{count} approval requests are waiting"),
            (Some(agent), _) => format!("{} asks for approval", quote(agent)),
            (None, _) => "Approval requested".to_owned(),
        };
        let payload = serde_json::json!({
            "type": "approval_request",
            "requestId": latest.request_id.as_str(),
            // The service worker shows it in the notification's body.
            "agentId": latest.agent_id.as_deref().map(quote),
            "title": title,
            "count": count,
        });
        Self {
            user_id: user_id.clone(),
            payload: payload.to_string().into_bytes(),
            // One topic per person: requests waiting collapse into the newest notification.
            topic: topic_for("requests", user_id.as_str()),
            ttl_secs: latest.ttl_secs,
        }
    }

    /// The person's key was suspended after repeated denials.
    pub fn key_suspended(key: &ApiKeyRecord) -> Self {
        let payload = serde_json::json!({
            "type": "api_key_suspended",
            "apiKeyId": key.id.as_str(),
            "title": format!("API key “{}” suspended after repeated denials", quote(&key.name)),
        });
        Self {
            user_id: key.user_id.clone(),
            payload: payload.to_string().into_bytes(),
            topic: topic_for("suspended", key.id.as_str()),
            ttl_secs: 24 * 3600,
        }
    }
}

/// Agent-chosen text as a notification may show it: cut short, then marked (in that order, so a
/// mark is never cut in half).
fn quote(text: &str) -> String {
    text::marked(&shorten(text, TITLE_QUOTE_CHARS))
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// 32 base64url characters (RFC 8030's limit), hashed so that the push service, which sees
/// topics in clear, learns no identifier.
pub fn topic_for(kind: &str, id: &str) -> String {
    let digest = Sha256::digest(format!("clawgate push topic {kind} {id}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(agent: Option<&str>) -> RequestNote {
        RequestNote { request_id: RequestId::generate(), agent_id: agent.map(str::to_owned), ttl_secs: 300 }
    }

    #[test]
    fn payloads_name_the_request_and_nothing_else() {
        let user = UserId::generate();
        let n = note(None);
        let notice = Notice::requests(&user, &n, 1);
        let payload: serde_json::Value = serde_json::from_slice(&notice.payload).unwrap_or_default();
        assert_eq!(
            payload,
            serde_json::json!({"type": "approval_request", "requestId": n.request_id.as_str(), "agentId": null, "title": "Approval requested", "count": 1})
        );
        assert_eq!(notice.ttl_secs, 300);
        let many = Notice::requests(&user, &note(Some("bot")), 3);
        assert!(String::from_utf8_lossy(&many.payload).contains("3 approval requests are waiting"));
        assert_eq!(many.topic, notice.topic, "one topic per person, so waiting pushes collapse");
        let long = Notice::requests(&user, &note(Some(&"é".repeat(60))), 1);
        assert!(long.payload.len() < 1024);
        assert!(String::from_utf8_lossy(&long.payload).contains(&format!("{}…", "é".repeat(48))));
    }

    #[test]
    fn agent_text_in_a_push_shows_its_invisible_characters() {
        let user = UserId::generate();
        let tags: String = "; rm".chars().filter_map(|c| char::from_u32(0xE0000 + u32::from(c))).collect();
        let notice = Notice::requests(&user, &note(Some(&format!("bot\u{202E}exe{tags}\u{2028}"))), 1);
        let payload: serde_json::Value = serde_json::from_slice(&notice.payload).unwrap_or_default();
        let shown = "bot[U+202E]exe[U+E003B][U+E0020][U+E0072][U+E006D][U+2028]";
        assert_eq!(payload["title"], format!("{shown} asks for approval"));
        assert_eq!(payload["agentId"], shown);
    }

    #[test]
    fn topics_fit_rfc_8030() {
        let topic = topic_for("requests", "usr_0123456789abcdefghijkl");
        assert_eq!(topic.len(), 32);
        assert!(topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(topic, topic_for("requests", "usr_0123456789abcdefghijkm"));
    }
}
