//! What a chain is held to ([`Options`]) and, when it holds, what it is made of ([`Summary`]),
//! in words for a person or as JSON.

use super::chain::prefix;
use super::checkpoint::CheckpointSummary;
use super::webauthn::b64_decode;
use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;
use std::collections::BTreeMap;

/// What to hold the chain to beyond itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The RP ID every registration and assertion must be for. Default: each credential's
    /// registration fixes it for that credential.
    pub rp_id: Option<String>,
    /// The origin every registration and assertion must come from. Default: each credential's
    /// registration fixes it for that credential.
    pub origin: Option<String>,
    /// Checkpoints (compact JWTs) the chain must match; they need `jwks`.
    pub checkpoints: Vec<String>,
    /// The server's published keys, to check the checkpoints' signatures.
    pub jwks: Option<JwkSet>,
}

/// What a chain that holds is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub account: String,
    /// How many receipts.
    pub receipts: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The last receipt's hash: what a checkpoint taken now would sign.
    pub head: Option<String>,
    /// When the first and the last receipt were made (ms since the Unix epoch, the server's clock).
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    /// Receipts whose passkey evidence was checked, by kind.
    pub passkey_checked: BTreeMap<String, usize>,
    /// Receipts only the server vouches for (no passkey evidence), by kind.
    pub server_only: BTreeMap<String, usize>,
    /// The credentials registered with evidence, in the order they were.
    pub credentials: Vec<CredentialSummary>,
    pub checkpoints: Vec<CheckpointSummary>,
    /// Gate receipts emptied past their retention, each listed by a `receipts.pruned` receipt
    /// (their links hold; what they said is gone).
    pub pruned: usize,
}

impl Summary {
    pub fn passkey_checked_total(&self) -> usize {
        self.passkey_checked.values().sum()
    }

    pub fn server_only_total(&self) -> usize {
        self.server_only.values().sum()
    }
}

/// A passkey the chain registered, and what it signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSummary {
    /// The credential id, base64url.
    pub id: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub algorithm: String,
    pub origin: String,
    pub registered_at: u64,
    pub deleted_at: Option<u64>,
    /// How many decisions in the chain it signed (approvals, denials, stops, rule sets).
    pub signed: usize,
    /// Listed by the chain's opening (`chain.opened`, an account older than its chain): its key
    /// is the server's word, not backed by a registration in the chain.
    pub server_listed: bool,
}

/// The summary, as the command prints it.
pub fn summary_text(s: &Summary) -> String {
    let mut out = format!("the chain holds: account {}, {} receipts", s.account, s.receipts);
    if let (Some(first), Some(last)) = (s.first_seq, s.last_seq) {
        out.push_str(&format!(", seq {first} to {last}"));
    }
    if let (Some(first), Some(last)) = (s.first_time, s.last_time) {
        out.push_str(&format!(" ({} to {})", millis(first), millis(last)));
    }
    out.push('\n');
    if let Some(head) = &s.head {
        out.push_str(&format!("  head: {head}\n"));
    }
    out.push_str(&format!(
        "  passkey evidence checked: {}{}\n",
        s.passkey_checked_total(),
        by_kind(&s.passkey_checked)
    ));
    for c in &s.credentials {
        let id = prefix(&b64_decode(&c.id).unwrap_or_default());
        let deleted = c.deleted_at.map(|d| format!(", deleted at receipt {d}")).unwrap_or_default();
        let registered = if c.server_listed {
            "listed by the chain's opening (its key on the server's word)".to_owned()
        } else {
            format!("registered at receipt {}", c.registered_at)
        };
        out.push_str(&format!(
            "    passkey {id} ({}, {}): {registered}{deleted}, {} decisions signed\n",
            c.algorithm, c.origin, c.signed
        ));
    }
    out.push_str(&format!(
        "  recorded by the server only: {}{}: no passkey signed these; they hold as links only\n",
        s.server_only_total(),
        by_kind(&s.server_only)
    ));
    if s.pruned > 0 {
        out.push_str(&format!(
            "  pruned: {} gate receipts emptied past their retention, each listed by a receipts.pruned receipt: their links hold, what they said is gone\n",
            s.pruned
        ));
    }
    for c in &s.checkpoints {
        out.push_str(&format!("  checkpoint seq {} ({}, key {}) holds\n", c.seq, c.issued, c.key_id));
    }
    if s.checkpoints.is_empty() {
        out.push_str("  no checkpoint given: a chain rewritten whole or cut short would hold too\n");
    }
    out
}

fn by_kind(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
    format!(" ({})", parts.join(", "))
}

/// RFC 3339 (UTC, milliseconds) of milliseconds since the Unix epoch.
fn millis(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}
