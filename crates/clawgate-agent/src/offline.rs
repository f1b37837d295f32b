//! Deciding while the server cannot be reached. Every gate keeps the last policy the server
//! signed for its key (the owner's rule set and the key's standing grants, `GET
//! /api/v1/gate/policy`) together with the server's public keys, in a file only its user can read
//! (`CLAWGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/clawgate`, else `~/.cache/clawgate`), refreshed
//! after answers from the server. When the server cannot be reached, the gate decides by it: a
//! deny or an ask blocks, an allow passes, a grant with no use limit that has not expired allows
//! what it covers (uses cannot be counted offline), and every such decision says it was made
//! offline. A copy whose signature fails (edited on disk) is never obeyed: everything blocks.

use super::ServerArgs;
use clawgate_client::{Client, PolicyGrant, key_fingerprint, verify_policy};
use clawgate_proto::rules::{Call, Outcome, RuleSet, by_words};
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as the server's clock counts them.
type Millis = i64;

/// A kept policy younger than this is not asked for again, unless the server's rule version
/// moved.
const REFRESH_AFTER: Duration = Duration::from_secs(60);

/// The file, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kept {
    url: String,
    tag: String,
    rule_version: i64,
    policy: String,
    jwks: JwkSet,
    /// When it was last confirmed by the server (ms since the epoch).
    fetched_at: Millis,
}

/// What the kept policy makes of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offline {
    /// No policy was ever kept for this server and key.
    Nothing,
    /// The kept policy does not check out (edited, or for another key): never obeyed.
    Tampered(String),
    /// Decided by the kept rules (and grants): the outcome and why, in words.
    Decided { outcome: Outcome, why: String },
}

/// The kept policy of one server and key.
pub struct Keeper {
    path: PathBuf,
    url: String,
    api_key: String,
}

fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn cache_dir() -> Option<PathBuf> {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("CLAWGATE_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("clawgate")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("clawgate")))
}

impl Keeper {
    /// The keeper for `server`'s URL and key, if there is a key and a place to keep it.
    pub fn of(server: &ServerArgs) -> Option<Self> {
        let api_key = server.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty())?.to_owned();
        let name = key_fingerprint(&format!("{}\n{api_key}", server.url.trim()));
        let path = cache_dir()?.join(format!("policy-{name}.json"));
        Some(Self { path, url: server.url.trim().to_owned(), api_key })
    }

    fn read(&self) -> Option<Kept> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Brings the kept policy up to date after the server answered (its rule version `seen`):
    /// asked again when older than a minute or of another version; "unchanged" costs one small
    /// answer. Failures are quiet: the server decided this call, and the next refresh may do.
    pub async fn refresh(&self, client: &Client, seen: i64) {
        let kept = self.read();
        let fresh = kept.as_ref().is_some_and(|k| {
            k.rule_version == seen && now_ms() - k.fetched_at < REFRESH_AFTER.as_millis() as Millis
        });
        if fresh {
            return;
        }
        let Ok(answer) = client.gate_policy(kept.as_ref().map(|k| k.tag.as_str())).await else { return };
        let kept = match (answer, kept) {
            (None, Some(k)) => Kept { fetched_at: now_ms(), ..k },
            (Some(view), _) => {
                let Ok(jwks) = client.jwks().await else { return };
                Kept {
                    url: self.url.clone(),
                    tag: view.tag,
                    rule_version: view.rule_version,
                    policy: view.policy,
                    jwks,
                    fetched_at: now_ms(),
                }
            }
            (None, None) => return,
        };
        if let Err(e) = self.write(&kept) {
            eprintln!("clawgate: cannot keep your rules for when the server is unreachable ({e})");
        }
    }

    fn write(&self, kept: &Kept) -> anyhow::Result<()> {
        let dir =
            self.path.parent().ok_or_else(|| anyhow::anyhow!("no folder for {}", self.path.display()))?;
        std::fs::create_dir_all(dir)?;
        crate::private_files::make_folder_private(dir)?;
        // Written aside and renamed: a reader never sees half a file.
        let aside = self.path.with_extension("json.new");
        std::fs::write(&aside, serde_json::to_vec(kept)?)?;
        crate::private_files::make_file_private(&aside)?;
        std::fs::rename(&aside, &self.path)?;
        Ok(())
    }

    /// What the kept policy makes of `call`.
    pub fn decide(&self, call: &Call) -> Offline {
        let Some(kept) = self.read() else {
            return if self.path.exists() {
                Offline::Tampered(format!("{} is not a policy clawgate kept", self.path.display()))
            } else {
                Offline::Nothing
            };
        };
        // The issuer is the server's public origin, which need not be the URL the gate uses: the
        // signature, the key it names and the file's name (URL and key) bind the copy instead.
        let policy = match verify_policy(&kept.jwks, &kept.policy, None, &self.api_key) {
            Ok(p) if kept.url == self.url => p,
            Ok(_) => return Offline::Tampered("it was kept for another server".into()),
            Err(e) => return Offline::Tampered(format!("{} ({e})", self.path.display())),
        };
        let age = human_age(now_ms() - policy.iat * 1000);
        let version = format!("your rules (version {}, from {age} ago)", policy.rule_version);
        let Ok(rules) = RuleSet::from_value(policy.rules) else {
            let why = format!("{version} no longer parse, so every call is asked about");
            return Offline::Decided { outcome: Outcome::Ask, why };
        };
        let decision = rules.decide(call);
        let by = by_words(&decision.decided_by);
        let (outcome, why) = match decision.outcome {
            Outcome::Ask => match covering_grant(&policy.grants, call) {
                Some(id) => (
                    Outcome::Allow,
                    format!("{version} ask about it, and your standing grant {id} allows it"),
                ),
                None => (Outcome::Ask, format!("{version} ask about it ({by})")),
            },
            Outcome::Deny => (Outcome::Deny, format!("{version} deny it ({by})")),
            Outcome::Allow => (Outcome::Allow, format!("{version} allow it ({by})")),
        };
        Offline::Decided { outcome, why }
    }
}

/// The first kept grant that covers `call` offline: not expired by this machine's clock, and with
/// no limit on its uses (a limit cannot be counted without the server).
fn covering_grant(grants: &[PolicyGrant], call: &Call) -> Option<String> {
    let now = now_ms();
    grants
        .iter()
        .filter(|g| g.max_uses.is_none() && g.expires_at > now)
        .find(|g| g.scope.covers(call))
        .map(|g| g.id.clone())
}

/// The call as the server's gate would see it (a shell tool of any spelling is `Bash`), from
/// what an agent brings.
pub fn call_of(call: &clawgate_client::GateCall) -> Call {
    let (tool, input) = (call.tool.clone(), call.input.clone());
    clawgate_proto::gate::GateCall::parse(
        tool,
        false,
        input,
        call.cwd.clone(),
        call.agent_id.clone(),
        None,
        None,
    )
    .map(|parsed| parsed.call)
    .unwrap_or_else(|_| Call {
        tool: call.tool.clone(),
        input: call.input.clone(),
        cwd: call.cwd.clone(),
        agent_id: call.agent_id.clone(),
    })
}

/// `3 min`, `2 h`, `5 days`.
fn human_age(ms: Millis) -> String {
    let secs = (ms / 1000).max(0);
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// The sentence a gate shows for a call decided offline.
pub fn sentence(url: &str, problem: &str, offline: &Offline) -> String {
    match offline {
        Offline::Nothing => format!(
            "clawgate at {url} cannot be reached ({problem}) and no rules of yours were kept from it yet, so this \
             tool call is blocked"
        ),
        Offline::Tampered(why) => format!(
            "clawgate at {url} cannot be reached ({problem}) and the rules kept from it do not check out ({why}), so \
             this tool call is blocked"
        ),
        Offline::Decided { outcome: Outcome::Allow, why } => {
            format!("clawgate at {url} cannot be reached ({problem}); decided offline: {why}, so it runs")
        }
        Offline::Decided { why, .. } => {
            format!(
                "clawgate at {url} cannot be reached ({problem}); decided offline: {why}, so it is blocked"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(human_age(30_000), "30 s");
        assert_eq!(human_age(600_000), "10 min");
        assert_eq!(human_age(3 * 3_600_000), "3 h");
        assert_eq!(human_age(3 * 86_400_000), "3 days");
    }

    #[test]
    fn nothing_kept_blocks_in_words() {
        let words = sentence("http://x", "refused", &Offline::Nothing);
        assert!(words.contains("no rules of yours were kept") && words.ends_with("blocked"), "{words}");
    }
}
