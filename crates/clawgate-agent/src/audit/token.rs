//! `clawgate verify TOKEN --receipt CHAIN`: that a token's approval was signed by the person's
//! passkey, not only by the server. The token names its receipt (`receipt`, the receipt's hash)
//! and the challenge the passkey signed (`challenge`); the chain must hold (every link, and every
//! passkey signature against the key registered in it), and that receipt must approve exactly the
//! token's request and action, over exactly that challenge.

use super::checkpoint::{revocation_of, rfc3339};
use super::{Options, read_chain, verify_chain};
use clawgate_client::ApprovalClaims;
use clawgate_proto::evidence::receipt::kind;
use serde_json::Value;

/// The receipt that backs `token` (whose claims are `claims`) in the chain file `text`, described
/// in a line; or why none does.
pub fn token_receipt(text: &str, token: &str, claims: &ApprovalClaims) -> Result<String, String> {
    let (Some(hash), Some(challenge)) = (&claims.receipt, &claims.challenge) else {
        return Err("the token names no receipt: a gate token, or an approval made before receipts".into());
    };
    let chain = read_chain(text).map_err(|e| e.to_string())?;
    if chain.account != claims.sub {
        return Err(format!("the chain is {}'s, the token {}'s", chain.account, claims.sub));
    }
    let summary =
        verify_chain(&chain, &Options::default()).map_err(|e| format!("the chain does not hold: {e}"))?;
    let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid).unwrap_or_default();
    if let Some(revoked) = revocation_of(&chain, &kid).filter(|r| claims.iat > r.time.div_euclid(1000)) {
        return Err(format!(
            "the token was signed at {} with key {kid}, which receipt {} revoked at {}: a signature made \
             after its key was revoked vouches for nothing (the key may be in other hands)",
            rfc3339(claims.iat),
            revoked.seq,
            rfc3339(revoked.time.div_euclid(1000))
        ));
    }
    let r = chain.receipts.iter().find(|r| &r.hash == hash).ok_or_else(|| {
        format!("the chain (up to receipt {}) holds no receipt {hash}: download it again", summary.receipts)
    })?;
    let evidence = r.evidence.as_ref().filter(|_| r.kind == kind::REQUEST_APPROVED).ok_or_else(|| {
        format!("receipt {} is a {} without a passkey's evidence, not a passkey approval", r.seq, r.kind)
    })?;
    let signed = &r.content["signed"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if text(&signed["requestId"]).as_deref() != Some(claims.request_id.as_str())
        || text(&signed["action"]).as_deref() != Some(claims.action.as_str())
        || signed["agentId"].as_str() != claims.agent_id.as_deref()
    {
        return Err(format!("receipt {} approves another request or action than the token", r.seq));
    }
    let client_data = evidence["clientDataJSON"]
        .as_str()
        .and_then(super::webauthn::b64_decode)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| format!("receipt {}'s client data cannot be read", r.seq))?;
    if client_data["challenge"].as_str() != Some(challenge.as_str()) {
        return Err(format!("receipt {}'s passkey signed another challenge than the token's", r.seq));
    }
    let credential = evidence["credentialId"].as_str().unwrap_or_default();
    Ok(format!(
        "receipt {} ({}…) in {}'s chain: the person's passkey {}… signed this approval",
        r.seq,
        &hash[..hash.len().min(16)],
        chain.account,
        &credential[..credential.len().min(12)]
    ))
}
