//! Standing grants as a person sees them: the widths the approve page offers for a call the
//! gate asked about, the check of the one they chose (at the start of the approval ceremony and
//! again when it finishes), their list, and revocation.
//!
//! A grant is only ever created by an approval made with a passkey assertion (see
//! `Approvals::approve`), in the transaction that records the approval; nothing else creates one.

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::domain::approval::Status;
use crate::domain::gate::call_from_stored;
use crate::domain::ids::{GrantId, RequestId, UserId};
use crate::domain::rules::{Call, Scope, Width};
use crate::store::approvals::ApprovalRecord;
use crate::store::grants::GrantRecord;
use crate::store::{Db, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The durations a grant may be chosen for, in seconds (15 minutes, an hour, eight hours).
pub const GRANT_DURATIONS: [i64; 3] = [900, 3600, 28800];
/// The most uses a grant may be limited to.
pub const MAX_USES: i64 = 1000;
/// The most grants the list shows.
pub const LIST_LIMIT: i64 = 200;

/// Why a grant operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Unknown, or not the caller's (the two look the same).
    #[error("grant not found")]
    NotFound,
    /// The grant asked for cannot be made for this request (the words say why).
    #[error("{0}")]
    NotGrantable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type GrantResult<T> = Result<T, GrantError>;

/// The grant a person chose on the approve page, kept with the approval ceremony until it
/// finishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantChoice {
    /// One of the request's `grantOptions` widths: `"exactCommand"`, `{"argvPrefix": n}` or
    /// `"toolInCwd"`.
    pub width: Width,
    /// 900, 3600 or 28800.
    pub ttl_seconds: i64,
    /// 1–1000; absent: any number of uses until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_uses: Option<i64>,
}

/// The widths offered for `call`, narrowest first, each with the scope it makes: this exact
/// command, then each strictly shorter prefix of its words, longest first, that goes at least one
/// word past the program (`Scope::from_call` judges what reaches it) and does not end on an option
/// (`npm publish --access` would cut `--access public` off from its value, and no one reads
/// "commands starting `git push --force`" as "any force push to any remote"); for other tools,
/// any call of the tool in this cwd. The bare program is never offered: "any `cargo` command"
/// would let `cargo publish` pass on a grant made for `cargo test`, wider than anyone reads it to
/// be. A call that names no working directory makes grants for calls that name none (see
/// [`Scope::covers`]), and a file tool's call without one is offered nothing.
pub fn options_for(call: &Call) -> Vec<(Width, Scope)> {
    let mut options = Vec::new();
    if let Ok(exact) = Scope::from_call(call, Width::ExactCommand) {
        let words = exact.argv_prefix.clone().unwrap_or_default();
        options.push((Width::ExactCommand, exact));
        // The shortest prefix `from_call` accepts ends at the program: it is skipped.
        let mut prefixes: Vec<(Width, Scope)> = (1..words.len())
            .filter_map(|n| Some((Width::ArgvPrefix(n), Scope::from_call(call, Width::ArgvPrefix(n)).ok()?)))
            .skip(1)
            .filter(|(width, _)| !matches!(width, Width::ArgvPrefix(n) if ends_on_an_option(&words, *n)))
            .collect();
        prefixes.reverse();
        options.extend(prefixes);
    }
    if let Ok(scope) = Scope::from_call(call, Width::ToolInCwd) {
        options.push((Width::ToolInCwd, scope));
    }
    options
}

/// Whether the first `n` of `words` end on an option (`-f`, `--access`, `--`).
fn ends_on_an_option(words: &[String], n: usize) -> bool {
    n.checked_sub(1).and_then(|last| words.get(last)).is_some_and(|w| w.starts_with('-'))
}

/// The call a request was made by through the gate, if it was.
pub fn call_of(record: &ApprovalRecord) -> Option<Call> {
    record.gate_call.as_deref().and_then(|c| call_from_stored(c, record.agent_id.clone()))
}

/// The widths offered for a request, if it is pending (as of `now`) and came through the gate.
pub fn options_of(record: &ApprovalRecord, now: Millis) -> Vec<(Width, Scope)> {
    if record.status_at(now) != Status::Pending {
        return Vec::new();
    }
    call_of(record).map(|call| options_for(&call)).unwrap_or_default()
}

/// Checks `choice` for `record` (which the caller found pending): the scope it makes.
pub fn check_choice(record: &ApprovalRecord, choice: &GrantChoice) -> GrantResult<Scope> {
    let refuse = |why: &str| Err(GrantError::NotGrantable(why.to_owned()));
    if !GRANT_DURATIONS.contains(&choice.ttl_seconds) {
        return refuse("`ttlSeconds` must be 900, 3600 or 28800");
    }
    if choice.max_uses.is_some_and(|m| !(1..=MAX_USES).contains(&m)) {
        return refuse("`maxUses` must be between 1 and 1000");
    }
    let Some(call) = call_of(record) else {
        return refuse("only a call made through the gate can be granted; this request was not");
    };
    let scope = Scope::from_call(&call, choice.width).map_err(|e| GrantError::NotGrantable(e.to_string()))?;
    if !options_for(&call).iter().any(|(w, _)| *w == choice.width) {
        return refuse("this width is not among the request's grant options");
    }
    Ok(scope)
}

/// What a grant is now: `live`, `expired`, `usedUp` or `revoked`.
pub fn state_of(g: &GrantRecord, now: Millis) -> &'static str {
    if g.revoked_at.is_some() {
        "revoked"
    } else if now >= g.expires_at {
        "expired"
    } else if g.max_uses.is_some_and(|max| g.uses >= max) {
        "usedUp"
    } else {
        "live"
    }
}

/// A grant with the name of the API key whose calls it covers (`None` if that key is gone).
#[derive(Debug, Clone)]
pub struct Named {
    pub grant: GrantRecord,
    pub key_name: Option<String>,
}

/// The grants service (see `http::substates`).
#[derive(Clone)]
pub struct Grants {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl Grants {
    pub fn new(shared: &Shared) -> Self {
        Self { db: shared.db.clone(), clock: shared.clock.clone() }
    }

    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// `user`'s grants, newest first (at most [`LIST_LIMIT`]), each with its key's name.
    pub async fn list(&self, user: &UserId) -> GrantResult<Vec<Named>> {
        let grants = self.db.grants_of(user, LIST_LIMIT).await?;
        if grants.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.db.api_keys_of(user).await?;
        Ok(grants
            .into_iter()
            .map(|grant| {
                let key_name = keys.iter().find(|k| k.id == grant.api_key_id).map(|k| k.name.clone());
                Named { grant, key_name }
            })
            .collect())
    }

    /// The grant `user` made when approving `request`, with its key's name, if they chose one.
    pub async fn made_by(&self, user: &UserId, request: &RequestId) -> GrantResult<Option<Named>> {
        let Some(grant) = self.db.grant_made_by(user, request).await? else { return Ok(None) };
        let key = self.db.api_key_of(user, &grant.api_key_id).await?;
        Ok(Some(Named { grant, key_name: key.map(|k| k.name) }))
    }

    /// Revokes `user`'s grant `id` (idempotent: one already revoked or lapsed stays as it is).
    /// True if this call revoked it.
    pub async fn revoke(&self, user: &UserId, id: &GrantId, ip: Option<String>) -> GrantResult<bool> {
        let grant = self.db.grant_of(user, id).await?.ok_or(GrantError::NotFound)?;
        let revoked = self.db.revoke_grant(&grant, self.now(), ip).await?;
        if revoked {
            tracing::info!(user.id = %user, grant.id = %id, "grant revoked");
        }
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widths(tool: &str, input: serde_json::Value) -> Vec<Width> {
        let call =
            Call { tool: tool.into(), input, cwd: Some("/srv/app".into()), agent_id: Some("claude".into()) };
        options_for(&call).into_iter().map(|(w, _)| w).collect()
    }

    fn bash(command: &str) -> Vec<Width> {
        widths("Bash", json!({ "command": command }))
    }

    #[test]
    fn offered_widths_are_exact_then_each_shorter_prefix_past_the_program() {
        use Width::*;
        assert_eq!(bash("cargo test --release"), vec![ExactCommand, ArgvPrefix(2)]);
        // Narrowest first (issue 17); before, the prefixes came shortest first: 2, then 3.
        assert_eq!(bash("git push origin main"), vec![ExactCommand, ArgvPrefix(3), ArgvPrefix(2)]);
        assert_eq!(bash("ls"), vec![ExactCommand]);
        assert_eq!(bash("ls -la"), vec![ExactCommand]);
        // The program is the fourth word: `nice -n 5 cargo` is the bare program, never offered.
        // (Before issue 16 this was shown with `sudo`, which no grant covers any more.)
        assert_eq!(bash("nice -n 5 cargo test"), vec![ExactCommand]);
        assert_eq!(bash("nice -n 5 cargo test --lib"), vec![ExactCommand, ArgvPrefix(5)]);
        assert_eq!(bash("sudo cargo test"), vec![]);
        // Nothing for what cannot be granted.
        assert_eq!(bash("cargo test && curl x"), vec![]);
        assert_eq!(bash("echo $HOME"), vec![]);
        assert_eq!(bash("cargo test > out.txt"), vec![]);
        assert_eq!(widths("Write", json!({"file_path": "/srv/app/a", "content": "x"})), vec![ToolInCwd]);
    }

    fn described(command: &str, cwd: Option<&str>) -> Vec<String> {
        let call = Call {
            tool: "Bash".into(),
            input: json!({ "command": command }),
            cwd: cwd.map(Into::into),
            agent_id: Some("claude".into()),
        };
        options_for(&call).into_iter().map(|(_, scope)| scope.describe()).collect()
    }

    /// Issue 17: narrowest first, plain words, never a prefix that ends on an option.
    #[test]
    fn grants_are_offered_narrowest_first_in_plain_words_and_never_end_on_an_option() {
        use Width::*;
        assert_eq!(
            described("git push --force origin feature", Some("/srv/app")),
            [
                "exactly git push --force origin feature, by agent claude, in /srv/app",
                "commands starting git push --force origin, by agent claude, in /srv/app",
                "commands starting git push, by agent claude, in /srv/app",
            ]
        );
        // `npm publish --access` would cut the option off from its value.
        assert_eq!(bash("npm publish --access public"), vec![ExactCommand, ArgvPrefix(2)]);
        assert_eq!(
            bash("npm publish --access public --tag next"),
            vec![ExactCommand, ArgvPrefix(4), ArgvPrefix(2)]
        );
        assert_eq!(bash("git commit -m 'a b' --amend"), vec![ExactCommand, ArgvPrefix(4), ArgvPrefix(2)]);
        assert_eq!(bash("cargo test -- --nocapture"), vec![ExactCommand, ArgvPrefix(2)]);
        for command in
            ["git push --force origin feature", "npm publish --access public --tag next", "rm -rf ./build"]
        {
            for (width, scope) in options_for(&Call {
                tool: "Bash".into(),
                input: json!({ "command": command }),
                cwd: Some("/srv/app".into()),
                agent_id: None,
            }) {
                let last = scope.argv_prefix.as_ref().and_then(|w| w.last()).expect("words");
                assert!(width == ExactCommand || !last.starts_with('-'), "{command}: {width:?}");
                assert!(!scope.describe().contains('`'), "no Markdown: {}", scope.describe());
            }
        }
    }

    /// Issue 17: nothing wider than what the runtime said. Without a working directory no option
    /// says "any directory": a Bash call's grants cover calls that name none, a file tool's call
    /// is offered nothing.
    #[test]
    fn a_call_without_a_cwd_is_never_offered_any_directory() {
        let offered = described("cargo test --release", None);
        assert_eq!(
            offered,
            [
                "exactly cargo test --release, by agent claude, only in calls that name no working directory",
                "commands starting cargo test, by agent claude, only in calls that name no working directory",
            ]
        );
        assert!(offered.iter().all(|d| !d.contains("any directory")));
        let write = Call {
            tool: "Write".into(),
            input: json!({"file_path": "/srv/app/a"}),
            cwd: None,
            agent_id: Some("claude".into()),
        };
        assert!(options_for(&write).is_empty());
    }
}
