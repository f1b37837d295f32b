//! The walk along a chain: every link (seq, hash, prev, account), then the passkey evidence of
//! registrations and approvals, against the state of each credential the chain registered.

use super::checkpoint;
use super::cose::PublicKey;
use super::error::{Category, ChainError};
use super::pruned::{Emptied, is_emptied};
use super::summary::{CredentialSummary, Options, Summary};
use super::webauthn::{self, UP, UV, b64_decode, b64_encode};
use clawgate_proto::evidence::pruned::RECEIPTS_PRUNED;
use clawgate_proto::evidence::receipt::{CHAIN_FORMAT, ChainFile, GENESIS, Receipt, kind};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Said when a checkpoint comes without the keys to check it.
pub const CHECKPOINT_NEEDS_JWKS: &str = "a checkpoint needs --jwks: it is only worth its signature, \
and the signature is checked against the server's published keys (save /.well-known/jwks.json)";

/// Checks the whole chain, then each checkpoint; the first thing that does not hold is the error.
pub fn verify_chain(chain: &ChainFile, opts: &Options) -> Result<Summary, ChainError> {
    if chain.format != CHAIN_FORMAT {
        let format = &chain.format;
        return Err(ChainError::input(format!("the chain's format is \"{format}\", not \"{CHAIN_FORMAT}\"")));
    }
    let jwks = match (&opts.jwks, opts.checkpoints.is_empty()) {
        (None, false) => return Err(ChainError::input(CHECKPOINT_NEEDS_JWKS)),
        (jwks, _) => jwks,
    };
    let mut walk = Walk { chain, opts, last: None, credentials: Vec::new(), unproven: HashMap::new() };
    let mut emptied = Emptied::default();
    let mut summary = Summary {
        account: chain.account.clone(),
        receipts: chain.receipts.len(),
        first_seq: chain.receipts.first().map(|r| r.seq),
        last_seq: chain.receipts.last().map(|r| r.seq),
        head: chain.receipts.last().map(|r| r.hash.clone()),
        first_time: chain.receipts.first().map(|r| r.time),
        last_time: chain.receipts.last().map(|r| r.time),
        passkey_checked: BTreeMap::new(),
        server_only: BTreeMap::new(),
        credentials: Vec::new(),
        checkpoints: Vec::new(),
        pruned: 0,
    };
    for receipt in &chain.receipts {
        walk.link(receipt)?;
        if is_emptied(receipt) {
            emptied.note(receipt)?;
        } else if receipt.kind == RECEIPTS_PRUNED {
            emptied.claim(receipt, chain, jwks.as_ref())?;
        }
        let checked = walk.evidence(receipt).map_err(|message| {
            ChainError::at(Category::Evidence, receipt.seq, Some(&receipt.kind), message)
        })?;
        let counts = if checked { &mut summary.passkey_checked } else { &mut summary.server_only };
        *counts.entry(receipt.kind.clone()).or_default() += 1;
        walk.last = Some((receipt.seq, &receipt.hash));
    }
    summary.pruned = emptied.finish()?;
    summary.credentials = walk.credentials.into_iter().map(|c| c.summary).collect();
    if let Some(jwks) = jwks {
        for jwt in &opts.checkpoints {
            summary.checkpoints.push(checkpoint::verify(chain, jwt, jwks)?);
        }
    }
    Ok(summary)
}

/// A credential registered with evidence, as the chain has it so far.
struct Credential {
    raw_id: Vec<u8>,
    key: PublicKey,
    /// Its registration's RP ID hash and origin; for a passkey `chain.opened` listed (no
    /// registration in the chain), the first assertion's, unless --rp-id and --origin pin them.
    rp_id_hash: Option<[u8; 32]>,
    origin: Option<String>,
    counter: u32,
    summary: CredentialSummary,
}

struct Walk<'a> {
    chain: &'a ChainFile,
    opts: &'a Options,
    /// The seq and hash of the receipt before.
    last: Option<(u64, &'a str)>,
    credentials: Vec<Credential>,
    /// Credentials registered without evidence (an older build), by id: where.
    unproven: HashMap<Vec<u8>, u64>,
}

impl Walk<'_> {
    fn link(&self, r: &Receipt) -> Result<(), ChainError> {
        let altered = |seq: u64, kind: Option<&str>, message: String| {
            ChainError::at(Category::Altered, seq, kind, message)
        };
        let kind = Some(r.kind.as_str());
        let expected = self.last.map_or(1, |(seq, _)| seq + 1);
        match self.last {
            None if r.seq > 1 => {
                let missing = missing(1, r.seq - 1);
                return Err(altered(1, None, format!("the chain starts at seq {}, not 1: {missing}", r.seq)));
            }
            None if r.seq == 0 => {
                return Err(altered(0, kind, "seq 0 is no receipt's: seqs start at 1".into()));
            }
            Some((last, _)) if r.seq > expected => {
                let missing = missing(expected, r.seq - 1);
                return Err(altered(expected, None, format!("seq {} follows seq {last}: {missing}", r.seq)));
            }
            Some((last, _)) if r.seq < expected => {
                let message =
                    format!("seq {} follows seq {last}: receipts are repeated or out of order", r.seq);
                return Err(altered(expected, None, message));
            }
            _ => {}
        }
        // An emptied receipt keeps its hash, which its content no longer gives (see `pruned`).
        if !is_emptied(r) && r.computed_hash() != r.hash {
            let message = "its hash is not what its content gives: the receipt was changed";
            return Err(altered(r.seq, kind, message.into()));
        }
        match self.last {
            None if r.prev != GENESIS => {
                let message = "prev is not the genesis value, though it is the first receipt: \
                               receipts before it were removed, or it was moved";
                return Err(altered(r.seq, kind, message.into()));
            }
            Some((last, hash)) if r.prev != hash => {
                let message = format!(
                    "prev does not match receipt {last}'s hash: a receipt was removed, inserted or moved before it"
                );
                return Err(altered(r.seq, kind, message));
            }
            _ => {}
        }
        if r.account != self.chain.account {
            let message =
                format!("it belongs to account {}, not the chain's {}", r.account, self.chain.account);
            return Err(altered(r.seq, kind, message));
        }
        Ok(())
    }

    /// Checks the receipt's passkey evidence, if its kind has any: whether it had.
    fn evidence(&mut self, r: &Receipt) -> Result<bool, String> {
        let evidence = r.evidence.as_ref().filter(|e| !e.is_null());
        match (r.kind.as_str(), evidence) {
            (kind::PASSKEY_REGISTERED, Some(evidence)) => self.registered(r, evidence).map(|()| true),
            (kind::PASSKEY_REGISTERED, None) => {
                if let Some(id) = credential_id(&r.content) {
                    self.unproven.insert(id, r.seq);
                }
                Ok(false)
            }
            (kind::PASSKEY_DELETED, _) => {
                if let Some(id) = credential_id(&r.content)
                    && let Some(c) = self.active(&id)
                    && c.summary.deleted_at.is_none()
                {
                    c.summary.deleted_at = Some(r.seq);
                }
                Ok(false)
            }
            (kind::CHAIN_OPENED, _) => self.opened(r).map(|()| false),
            (k, Some(evidence)) => match kind::signed_decision(k) {
                Some(decision) => self.signed(r, evidence, decision).map(|()| true),
                None => Ok(false),
            },
            _ => Ok(false),
        }
    }

    fn registered(&mut self, r: &Receipt, evidence: &Value) -> Result<(), String> {
        let id = credential_id(&r.content).ok_or("the content has no credentialId (base64url)")?;
        let reg = webauthn::registration(evidence)?;
        if reg.credential_id != id {
            return Err(
                "the credential id in the authenticator data is not the content's credentialId".into()
            );
        }
        if let Some(origin) = &self.opts.origin
            && reg.origin != *origin
        {
            return Err(format!(
                "the passkey was registered at origin {}, not {origin} (--origin)",
                reg.origin
            ));
        }
        if let Some(rp_id) = &self.opts.rp_id
            && reg.rp_id_hash != webauthn::rp_id_hash(rp_id)
        {
            return Err(format!(
                "the passkey was registered for another relying party than {rp_id} (--rp-id)"
            ));
        }
        if let Some(c) = self.active(&id)
            && c.summary.deleted_at.is_none()
        {
            let at = c.summary.registered_at;
            return Err(format!("credential {} is already registered, at receipt {at}", prefix(&id)));
        }
        let summary = CredentialSummary {
            id: b64_encode(&id),
            algorithm: reg.key.algorithm().to_owned(),
            origin: reg.origin.clone(),
            registered_at: r.seq,
            deleted_at: None,
            signed: 0,
            server_listed: false,
        };
        self.credentials.push(Credential {
            raw_id: id,
            key: reg.key,
            rp_id_hash: Some(reg.rp_id_hash),
            origin: Some(reg.origin),
            counter: reg.counter,
            summary,
        });
        Ok(())
    }

    /// `chain.opened`: the passkeys an account had before its chain began, with their public
    /// keys, on the server's word. Only as the chain's first receipt: anywhere else it would let
    /// the server slip a key in after the fact.
    fn opened(&mut self, r: &Receipt) -> Result<(), String> {
        if r.seq != 1 {
            return Err(
                "a chain.opened receipt that is not the chain's first: only a chain's opening may list \
                        passkeys without their registration"
                    .into(),
            );
        }
        let passkeys =
            r.content.get("passkeys").and_then(Value::as_array).ok_or("the content has no passkeys list")?;
        for (i, p) in passkeys.iter().enumerate() {
            let id = credential_id(p)
                .ok_or_else(|| format!("passkey {} has no credentialId (base64url)", i + 1))?;
            let cose = p
                .get("publicKey")
                .and_then(Value::as_str)
                .and_then(b64_decode)
                .ok_or_else(|| format!("passkey {} has no publicKey (COSE, base64url)", i + 1))?;
            let cose = ciborium::de::from_reader::<ciborium::Value, _>(cose.as_slice())
                .map_err(|e| format!("passkey {}'s public key is not CBOR: {e}", i + 1))?;
            let key = PublicKey::from_cose(&cose)?;
            let summary = CredentialSummary {
                id: b64_encode(&id),
                algorithm: key.algorithm().to_owned(),
                origin: self.opts.origin.clone().unwrap_or_default(),
                registered_at: r.seq,
                deleted_at: None,
                signed: 0,
                server_listed: true,
            };
            let (rp_id_hash, origin) = (None, None);
            self.credentials.push(Credential { raw_id: id, key, rp_id_hash, origin, counter: 0, summary });
        }
        Ok(())
    }

    /// A decision the person signed with a passkey (`decision`: what the receipt's kind must
    /// have signed): the signature, by a passkey the chain registered and has not deleted, over
    /// the challenge the content gives, at the passkey's origin and RP, verified, counter grown.
    fn signed(&mut self, r: &Receipt, evidence: &Value, decision: &str) -> Result<(), String> {
        let challenge = webauthn::decision_challenge_of(&r.content, decision)?;
        if decision == "stop" {
            let account = r.content.pointer("/signed/account").and_then(Value::as_str);
            if account != Some(self.chain.account.as_str()) {
                return Err("the passkey signed a stop of another account's agents".into());
            }
        }
        let a = webauthn::assertion(evidence)?;
        let (pinned_origin, pinned_rp) = (self.opts.origin.clone(), self.opts.rp_id.clone());
        let unproven = self.unproven.get(&a.credential_id).copied();
        let Some(c) = self.active(&a.credential_id) else {
            let id = prefix(&a.credential_id);
            return Err(match unproven {
                Some(at) => format!(
                    "signed by credential {id}, registered at receipt {at} without evidence: its key is not in the chain"
                ),
                None => format!("signed by credential {id} which this chain never registered"),
            });
        };
        let registered = c.summary.registered_at;
        if let Some(deleted) = c.summary.deleted_at {
            return Err(format!(
                "signed by credential {} after its passkey was deleted at receipt {deleted}",
                prefix(&c.raw_id)
            ));
        }
        if !a.signed_by(&c.key) {
            return Err(format!(
                "the signature does not verify with the key registered at receipt {registered}"
            ));
        }
        if a.client.challenge != challenge {
            return Err(
                "the passkey signed another challenge than the receipt's signed content and nonce give: \
                        the content or the nonce was changed"
                    .into(),
            );
        }
        // A passkey the chain's opening listed has no registration to fix these: its first
        // assertion does (and --origin and --rp-id, when given, pin them for every passkey).
        let origin_seen = c.origin.get_or_insert_with(|| a.client.origin.clone()).clone();
        let rp_seen = *c.rp_id_hash.get_or_insert(a.rp_id_hash);
        if c.summary.origin.is_empty() {
            c.summary.origin = origin_seen.clone();
        }
        let (origin, whose) = match &pinned_origin {
            Some(o) => (o.clone(), "--origin".to_owned()),
            None => (origin_seen, format!("its registration at receipt {registered}")),
        };
        if a.client.origin != origin {
            return Err(format!(
                "the passkey was used at origin {}, not {origin} ({whose})",
                a.client.origin
            ));
        }
        let (rp_id_hash, whose) = match &pinned_rp {
            Some(rp) => (webauthn::rp_id_hash(rp), format!("{rp} (--rp-id)")),
            None => (rp_seen, format!("the one of its registration at receipt {registered}")),
        };
        if a.rp_id_hash != rp_id_hash {
            return Err(format!("the authenticator data is for another relying party than {whose}"));
        }
        if a.flags & UP == 0 {
            return Err("the user-present flag (UP) is not set: no one touched the passkey".into());
        }
        if a.flags & UV == 0 {
            return Err(
                "the user-verified flag (UV) is not set: the passkey did not verify the person".into()
            );
        }
        if (a.counter != 0 || c.counter != 0) && a.counter <= c.counter {
            return Err(format!(
                "the signature counter is {} after {}: it must grow with every use (a cloned passkey or a replayed assertion)",
                a.counter, c.counter
            ));
        }
        c.counter = a.counter;
        c.summary.signed += 1;
        Ok(())
    }

    /// The credential with this id that is registered now (or was deleted, to say so).
    fn active(&mut self, id: &[u8]) -> Option<&mut Credential> {
        self.credentials.iter_mut().rev().find(|c| c.raw_id == id)
    }
}

fn credential_id(content: &Value) -> Option<Vec<u8>> {
    content.get("credentialId").and_then(Value::as_str).and_then(b64_decode)
}

/// A credential id as shown: its first base64url characters.
pub fn prefix(id: &[u8]) -> String {
    let text = b64_encode(id);
    match text.char_indices().nth(10) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn missing(from: u64, to: u64) -> String {
    if from == to {
        format!("receipt {from} is missing")
    } else {
        format!("receipts {from} to {to} are missing")
    }
}
