//! Every decision about a person's keys, in one list: what the gate decided alone (by a rule or a
//! grant) and what became of each request (the person, the kill switch, or nobody in time).
//!
//! Pages are cut by (time, id), newest first: a decision made while the person pages is newer
//! than every cursor already handed out, so it never shifts a later page (no repeats, no gaps).

use super::Shared;
use super::approvals::Approvals;
use crate::clock::Millis;
use crate::domain::decided::{Decider, RuleRef, Verdict};
use crate::domain::gate::call_from_stored;
use crate::domain::ids::UserId;
use crate::store::decision_log::{DecisionFilter, DecisionRow};
use crate::store::{Db, StoreError, StoreResult};

/// Where a page ends: the last decision's time and id (the next page is strictly older).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: Millis,
    pub id: String,
}

/// One decision, with what decided it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub row: DecisionRow,
    pub verdict: Verdict,
    pub decider: Decider,
    /// The tool and working directory of a request made through the gate (the gate's own
    /// decisions carry theirs in `row`).
    pub tool: Option<String>,
    pub cwd: Option<String>,
}

/// A page of decisions, and where the next begins (`None`: this was the last).
#[derive(Debug, Clone)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub next: Option<Cursor>,
}

/// The decisions service (see `http::substates`).
#[derive(Clone)]
pub struct Decisions {
    approvals: Approvals,
    db: Db,
}

impl Decisions {
    pub fn new(shared: &Shared, approvals: Approvals) -> Self {
        Self { approvals, db: shared.db.clone() }
    }

    /// `user`'s decisions matching `filter`, newest first: at most `limit` after `before`.
    pub async fn page(
        &self,
        user: &UserId,
        filter: &DecisionFilter,
        before: Option<&Cursor>,
        limit: i64,
    ) -> StoreResult<Page> {
        // Lapsed requests are recorded as expired first, so they are listed (and filtered) as such.
        self.approvals.expire_lapsed(Some(user)).await?;
        let before = before.map(|c| (c.at, c.id.as_str()));
        let mut rows = self.db.decisions_of(user, filter, before, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next = if more { rows.last().map(|r| Cursor { at: r.at, id: r.id.clone() }) } else { None };
        let entries = rows.into_iter().map(entry).collect::<StoreResult<_>>()?;
        Ok(Page { entries, next })
    }
}

fn entry(row: DecisionRow) -> StoreResult<Entry> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("a decision's {what} is not one this server writes"));
    let verdict = Verdict::parse(&row.outcome).ok_or_else(|| corrupt("outcome"))?;
    let decider = match row.decider.as_str() {
        "rule" => Decider::Rule {
            rule: row.decision_ref.as_deref().and_then(RuleRef::parse),
            name: row.rule_name.clone(),
        },
        "grant" => Decider::Grant { description: row.grant_description.clone() },
        "person" => Decider::Person {
            reason: row.reason.clone(),
            grant: row.grant_id.as_ref().and(row.grant_description.clone()),
        },
        "stop" => Decider::Stop,
        "expiry" => Decider::Expiry,
        _ => return Err(corrupt("decider")),
    };
    let call = row.gate_call.as_deref().and_then(|c| call_from_stored(c, None));
    let tool = row.tool.clone().or_else(|| call.as_ref().map(|c| c.tool.clone()));
    let cwd = row.cwd.clone().or_else(|| call.and_then(|c| c.cwd));
    Ok(Entry { row, verdict, decider, tool, cwd })
}
