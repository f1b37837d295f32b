//! Each person's rule set: read (their saved set, else the built-in defaults at version 0),
//! replaced whole over the version it was read at, and asked "what would happen to this call".
//! A save is looked over first ([`RuleSet::review`]): a tool name that differs from a known one
//! only in case, or an example the rules decide otherwise, refuses it; what else is found comes
//! back as warnings, with each example's outcome, on the save and on every read.

use super::Shared;
use crate::clock::Clock;
use crate::domain::ids::UserId;
use crate::domain::rules::{Call, Decision, ExampleResult, Review, RuleSet, RuleSetError, Warning, defaults};
use crate::store::audit::ReceiptBody;
use crate::store::rules::{NewRuleSet, Saved};
use crate::store::{Db, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Why a rule set operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The set does not parse, names a tool in the wrong case, or fails one of its examples;
    /// nothing was stored.
    #[error(transparent)]
    Invalid(#[from] RuleSetError),
    /// The set is not at the version the save names (`current`: 0 when none is saved).
    #[error("the rule set is at version {current}")]
    VersionConflict { current: i64 },
    /// Saving needs a session made with a passkey.
    #[error("a passkey session is required")]
    PasskeyRequired,
    /// A saved set no longer parses (stored by an older build, or changed by hand).
    #[error("the saved rule set (version {version}) no longer parses: {error}")]
    Unreadable { version: i64, error: RuleSetError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type RulesResult<T> = Result<T, RulesError>;

/// Where a person's rules come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Saved,
    Defaults,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Saved => "saved",
            Source::Defaults => "defaults",
        }
    }
}

/// A person's rules as JSON (as saved, or the defaults'), not necessarily parsed, with what a
/// look over them found.
#[derive(Debug, Clone)]
pub struct RulesJson {
    pub version: i64,
    pub source: Source,
    pub rules: Value,
    /// What is probably not meant (a saved set that no longer parses: why, as the one warning).
    pub warnings: Vec<Warning>,
    /// Each of the set's examples and what the set does with it now.
    pub examples: Vec<ExampleResult>,
}

impl RulesJson {
    fn new(version: i64, source: Source, rules: Value) -> Self {
        let (warnings, examples) = match RuleSet::from_value(rules.clone()) {
            // Saved before: what a save would refuse today is shown as a warning.
            Ok(set) => {
                let review = set.review();
                (review.all_as_warnings(), review.examples)
            }
            Err(e) => {
                let message = format!("{e}; every call is asked about until the set is fixed");
                (vec![Warning { rule: None, rule_name: None, field: None, message }], Vec::new())
            }
        };
        Self { version, source, rules, warnings, examples }
    }
}

/// A person's rules, parsed, with the version they have.
#[derive(Debug, Clone)]
pub struct Current {
    pub rules: RuleSet,
    pub version: i64,
    pub source: Source,
}

/// Parsed rule sets by person, each under the version it was parsed at. A version names one
/// text for good (saves only ever raise it), so a set found here at the version the database
/// has now is the set in force, on every instance; only the version is read per call.
#[derive(Default)]
pub struct ParsedRuleSets {
    sets: Mutex<HashMap<UserId, (i64, Arc<RuleSet>)>>,
    defaults: OnceLock<Arc<RuleSet>>,
}

/// Parsed sets kept at most; past it the cache starts over (a parse is cheap next to a miss).
const MAX_PARSED_SETS: usize = 10_000;

impl ParsedRuleSets {
    fn get(&self, user: &UserId, version: i64) -> Option<Arc<RuleSet>> {
        let sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        sets.get(user).filter(|(v, _)| *v == version).map(|(_, set)| set.clone())
    }

    fn put(&self, user: &UserId, version: i64, set: Arc<RuleSet>) {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if sets.len() >= MAX_PARSED_SETS {
            sets.clear();
        }
        sets.insert(user.clone(), (version, set));
    }

    fn defaults(&self) -> Arc<RuleSet> {
        self.defaults.get_or_init(|| Arc::new(RuleSet::defaults())).clone()
    }
}

/// The rule set in force for a call.
#[derive(Debug, Clone)]
pub struct InForce {
    pub rules: Arc<RuleSet>,
    pub version: i64,
}

/// The rules service: the part of the shared state rule sets need (see `http::substates`).
#[derive(Clone)]
pub struct Rules {
    db: Db,
    clock: Arc<dyn Clock>,
    parsed: Arc<ParsedRuleSets>,
}

impl Rules {
    /// Built once (with the state): its parsed sets are every request's.
    pub fn new(shared: &Shared) -> Self {
        Self { db: shared.db.clone(), clock: shared.clock.clone(), parsed: Arc::default() }
    }

    /// `user`'s rules in force, parsed once per version (see [`ParsedRuleSets`]).
    pub async fn in_force(&self, user: &UserId) -> RulesResult<InForce> {
        let Some(version) = self.db.rule_set_version(user).await? else {
            return Ok(InForce { rules: self.parsed.defaults(), version: 0 });
        };
        if let Some(rules) = self.parsed.get(user, version) {
            return Ok(InForce { rules, version });
        }
        let current = self.current(user).await?;
        let rules = Arc::new(current.rules);
        self.parsed.put(user, current.version, rules.clone());
        Ok(InForce { rules, version: current.version })
    }

    /// `user`'s rules as JSON, for reading and editing. A saved set is returned even if it no
    /// longer parses, so its owner can see it and fix it.
    pub async fn json(&self, user: &UserId) -> RulesResult<RulesJson> {
        match self.db.rule_set_of(user).await? {
            None => Ok(RulesJson::new(0, Source::Defaults, defaults::json())),
            Some(stored) => {
                let rules = serde_json::from_str(&stored.rules).map_err(|e| {
                    StoreError::Corrupt(format!("rule set version {} is not JSON: {e}", stored.version))
                })?;
                Ok(RulesJson::new(stored.version, Source::Saved, rules))
            }
        }
    }

    /// `user`'s rules, parsed: the saved set, else the defaults at version 0.
    pub async fn current(&self, user: &UserId) -> RulesResult<Current> {
        let Some(stored) = self.db.rule_set_of(user).await? else {
            return Ok(Current { rules: RuleSet::defaults(), version: 0, source: Source::Defaults });
        };
        let rules = RuleSet::parse(&stored.rules)
            .map_err(|error| RulesError::Unreadable { version: stored.version, error })?;
        Ok(Current { rules, version: stored.version, source: Source::Saved })
    }

    /// Refuses now what saving `rules` over `expected_version` would refuse (a set that does not
    /// parse, names a tool in the wrong case or fails an example; a stale version), so the person
    /// is not asked to sign a save that cannot happen.
    pub async fn check_save(&self, user: &UserId, rules: &Value, expected_version: i64) -> RulesResult<()> {
        if let Some(refusal) = RuleSet::from_value(rules.clone())?.review().refusal() {
            return Err(RulesError::Invalid(refusal.clone()));
        }
        let current = self.db.rule_set_version(user).await?.unwrap_or(0);
        if current != expected_version {
            return Err(RulesError::VersionConflict { current });
        }
        Ok(())
    }

    /// Replaces `user`'s rules with `rules` if they are still at `expected_version` (0: none
    /// saved yet). The set is parsed and looked over first: one that does not parse, names a tool
    /// in the wrong case or fails an example is refused whole and nothing is stored. Returns the
    /// rules as now saved, with the warnings and the examples' outcomes.
    pub async fn replace(
        &self,
        user: &UserId,
        rules: Value,
        expected_version: i64,
        ip: Option<String>,
        signed: Option<ReceiptBody>,
    ) -> RulesResult<RulesJson> {
        let review = RuleSet::from_value(rules.clone())?.review();
        if let Some(refusal) = review.refusal() {
            return Err(RulesError::Invalid(refusal.clone()));
        }
        let new = NewRuleSet {
            user: user.clone(),
            rules: rules.to_string(),
            expected_version,
            at: self.clock.now_ms(),
            ip,
            signed,
        };
        match self.db.save_rule_set(new).await? {
            Saved::Saved(stored) => {
                tracing::info!(user.id = %user, rules.version = stored.version, "rule set saved");
                let Review { warnings, examples, .. } = review;
                Ok(RulesJson { version: stored.version, source: Source::Saved, rules, warnings, examples })
            }
            Saved::Conflict { current } => Err(RulesError::VersionConflict { current }),
        }
    }

    /// What `user`'s current rules would do with `call`, and the version that decided.
    pub async fn explain(&self, user: &UserId, call: &Call) -> RulesResult<(Decision, i64)> {
        let current = self.current(user).await?;
        Ok((current.rules.decide(call), current.version))
    }
}
