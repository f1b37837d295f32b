//! The person's list of decisions: the gate's own (`gate_decisions`) and decided requests
//! (`approval_requests`), newest first by (time, id), a page at a time.
//!
//! Each table is read with its own index, ordered and limited on its own, and the two pages are
//! merged: only the conditions a filter needs are in the SQL, so each branch's plan is a range
//! scan of `…_by_user`, `…_by_key`, `…_by_ref` or `…_by_decision` (see migration 0012). A filter
//! that only one table can match leaves the other out.

use super::{Db, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::domain::decided::{DeciderKind, Verdict};
use crate::domain::ids::{ApiKeyId, GrantId, UserId};
use sqlx::Row;

/// What to list: one person's decisions, optionally narrowed.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub api_key_id: Option<ApiKeyId>,
    pub agent_id: Option<String>,
    pub verdict: Option<Verdict>,
    pub decider: Option<DeciderKind>,
    /// Only this grant's uses.
    pub grant_id: Option<GrantId>,
}

/// One decision as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// `dec_…` (the gate's) or `req_…` (a request's).
    pub id: String,
    pub at: Millis,
    pub api_key_id: String,
    /// `None` when the key is gone.
    pub api_key_name: Option<String>,
    pub agent_id: Option<String>,
    /// The gate's decisions only (a request's tool is in `gate_call`).
    pub tool: Option<String>,
    pub action: String,
    pub cwd: Option<String>,
    /// `allow`, `deny` or `expired`.
    pub outcome: String,
    /// `rule`, `grant`, `person`, `stop` or `expiry`.
    pub decider: String,
    /// The gate's: `v3#2` or the grant's id.
    pub decision_ref: Option<String>,
    /// A rule's or the person's reason for a denial.
    pub reason: Option<String>,
    pub rule_name: Option<String>,
    /// The grant that allowed the call, or that the approval created (if it still exists).
    pub grant_id: Option<String>,
    /// What that grant covers, in words.
    pub grant_description: Option<String>,
    /// A gated request's call as made (`{"tool", "input", "cwd"}`).
    pub gate_call: Option<String>,
    /// A decided request's receipt in its owner's chain (the gate's own decisions: none here).
    pub receipt_seq: Option<i64>,
}

/// Placeholders numbered as they are added, with their values.
#[derive(Default)]
struct Binds(Vec<Bind>);

#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

impl Binds {
    fn text(&mut self, v: &str) -> String {
        self.0.push(Bind::Text(v.to_owned()));
        format!("${}", self.0.len())
    }

    fn int(&mut self, v: i64) -> String {
        self.0.push(Bind::Int(v));
        format!("${}", self.0.len())
    }
}

const GATE_COLUMNS: &str = "d.id AS id, d.at AS at, d.api_key_id AS api_key_id, k.name AS api_key_name, \
     d.agent_id AS agent_id, d.tool AS tool, d.action AS action, d.cwd AS cwd, d.outcome AS outcome, \
     d.decided_by AS decider, d.decision_ref AS decision_ref, d.reason AS reason, d.rule_name AS rule_name, \
     g.id AS grant_id, g.description AS grant_description, CAST(NULL AS TEXT) AS gate_call, \
     d.receipt_seq AS receipt_seq";

const REQUEST_COLUMNS: &str = "r.id AS id, r.decided_at AS at, r.api_key_id AS api_key_id, \
     k.name AS api_key_name, r.agent_id AS agent_id, CAST(NULL AS TEXT) AS tool, r.action AS action, \
     CAST(NULL AS TEXT) AS cwd, \
     CASE r.status WHEN 'APPROVED' THEN 'allow' WHEN 'DENIED' THEN 'deny' ELSE 'expired' END AS outcome, \
     CASE WHEN r.status = 'EXPIRED' THEN 'expiry' WHEN r.decided_by = 'stop' THEN 'stop' ELSE 'person' END AS decider, \
     r.decision_ref AS decision_ref, r.deny_reason AS reason, CAST(NULL AS TEXT) AS rule_name, \
     g.id AS grant_id, g.description AS grant_description, r.gate_call AS gate_call, \
     r.receipt_seq AS receipt_seq";

/// The gate's branch, or `None` if the filter rules it out.
fn gate_branch(
    user: &UserId,
    f: &DecisionFilter,
    before: Option<(Millis, &str)>,
    limit: &str,
    b: &mut Binds,
) -> Option<String> {
    if f.verdict == Some(Verdict::Expired) || f.decider.is_some_and(|d| !d.is_gate()) {
        return None;
    }
    let mut sql = format!(
        "SELECT {GATE_COLUMNS} FROM gate_decisions d LEFT JOIN api_keys k ON k.id = d.api_key_id \
         LEFT JOIN grants g ON d.decided_by = 'grant' AND g.id = d.decision_ref WHERE d.user_id = {}",
        b.text(user.as_str())
    );
    if let Some(v) = f.verdict {
        sql += &format!(" AND d.outcome = {}", b.text(v.as_str()));
    }
    if let Some(d) = f.decider {
        sql += &format!(" AND d.decided_by = {}", b.text(d.as_str()));
    }
    if let Some(grant) = &f.grant_id {
        sql += &format!(" AND d.decided_by = 'grant' AND d.decision_ref = {}", b.text(grant.as_str()));
    }
    Some(sql + &key_agent_and_page("d", "at", f, before, limit, b))
}

/// The decided requests' branch, or `None` if the filter rules it out.
fn request_branch(
    user: &UserId,
    f: &DecisionFilter,
    before: Option<(Millis, &str)>,
    limit: &str,
    b: &mut Binds,
) -> Option<String> {
    // A grant's uses are the gate's decisions (the approval that made it is not one of them).
    if f.grant_id.is_some() || f.decider.is_some_and(DeciderKind::is_gate) {
        return None;
    }
    let mut sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM approval_requests r LEFT JOIN api_keys k ON k.id = r.api_key_id \
         LEFT JOIN grants g ON r.status = 'APPROVED' AND g.request_id = r.id \
         WHERE r.user_id = {} AND r.decided_at IS NOT NULL",
        b.text(user.as_str())
    );
    sql += match f.verdict {
        Some(Verdict::Allow) => " AND r.status = 'APPROVED'",
        Some(Verdict::Deny) => " AND r.status = 'DENIED'",
        Some(Verdict::Expired) => " AND r.status = 'EXPIRED'",
        None => " AND r.status IN ('APPROVED', 'DENIED', 'EXPIRED')",
    };
    sql += match f.decider {
        Some(DeciderKind::Person) => {
            " AND r.status IN ('APPROVED', 'DENIED') AND (r.decided_by IS NULL OR r.decided_by <> 'stop')"
        }
        Some(DeciderKind::Stop) => " AND r.status = 'DENIED' AND r.decided_by = 'stop'",
        Some(DeciderKind::Expiry) => " AND r.status = 'EXPIRED'",
        _ => "",
    };
    Some(sql + &key_agent_and_page("r", "decided_at", f, before, limit, b))
}

/// What both branches filter alike (the key, the agent) and their page: newest first, after the
/// cursor. `t` is the branch's table alias, `at` its time column.
fn key_agent_and_page(
    t: &str,
    at: &str,
    f: &DecisionFilter,
    before: Option<(Millis, &str)>,
    limit: &str,
    b: &mut Binds,
) -> String {
    let mut sql = String::new();
    if let Some(key) = &f.api_key_id {
        sql += &format!(" AND {t}.api_key_id = {}", b.text(key.as_str()));
    }
    if let Some(agent) = &f.agent_id {
        sql += &format!(" AND {t}.agent_id = {}", b.text(agent));
    }
    if let Some((ms, id)) = before {
        let (ms, id) = (b.int(ms), b.text(id));
        sql += &format!(" AND {t}.{at} <= {ms} AND ({t}.{at} < {ms} OR {t}.id < {id})");
    }
    sql + &format!(" ORDER BY {t}.{at} DESC, {t}.id DESC LIMIT {limit}")
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<DecisionRow> {
    Ok(DecisionRow {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        api_key_id: row.try_get("api_key_id")?,
        api_key_name: row.try_get("api_key_name")?,
        agent_id: row.try_get("agent_id")?,
        tool: row.try_get("tool")?,
        action: row.try_get("action")?,
        cwd: row.try_get("cwd")?,
        outcome: row.try_get("outcome")?,
        decider: row.try_get("decider")?,
        decision_ref: row.try_get("decision_ref")?,
        reason: row.try_get("reason")?,
        rule_name: row.try_get("rule_name")?,
        grant_id: row.try_get("grant_id")?,
        grant_description: row.try_get("grant_description")?,
        gate_call: row.try_get("gate_call")?,
        receipt_seq: opt_i64(row, "receipt_seq")?,
    })
}

impl Db {
    /// `user`'s decisions matching `filter`, newest first by (time, id), strictly older than
    /// `before` (a previous page's last `(at, id)`) when given; at most `limit`.
    pub async fn decisions_of(
        &self,
        user: &UserId,
        filter: &DecisionFilter,
        before: Option<(Millis, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<DecisionRow>> {
        let mut b = Binds::default();
        let lim = b.int(limit);
        let branches: Vec<String> = [
            gate_branch(user, filter, before, &lim, &mut b),
            request_branch(user, filter, before, &lim, &mut b),
        ]
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, branch)| format!("SELECT * FROM ({branch}) AS b{i}"))
        .collect();
        if branches.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{} ORDER BY at DESC, id DESC LIMIT {lim}", branches.join(" UNION ALL "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in b.0 {
            query = match bind {
                Bind::Text(s) => query.bind(s),
                Bind::Int(n) => query.bind(n),
            };
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }
}
