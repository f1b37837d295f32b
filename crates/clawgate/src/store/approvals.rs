use super::api_keys::suspended_because;
use super::audit::{self, AuditEvent};
use super::writer::Statement;
use super::{Db, StoreError, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::config::Backend;
use crate::domain::approval::Status;
use crate::domain::denial::SuspendedBecause;
use crate::domain::ids::{ApiKeyId, AuditId, RequestId, UserId};
use crate::events::ApprovalEvent;
use sqlx::AnyConnection;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct ApprovalRecord {
    pub id: RequestId,
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    pub agent_id: Option<String>,
    pub action: String,
    /// The agent's context object, as JSON text.
    pub context: Option<String>,
    pub binding_code: String,
    pub action_hash: String,
    pub status: Status,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub decided_at: Option<Millis>,
    pub deny_reason: Option<String>,
    pub token: Option<String>,
    pub token_jti: Option<String>,
    pub token_expires_at: Option<Millis>,
    /// Evidence of an approval: the passkey used and whether the person was verified.
    pub credential_id: Option<String>,
    pub user_verified: Option<bool>,
    /// What decided it, when not a person: `rule`, `grant` or `stop` (the kill switch).
    pub decided_by: Option<String>,
    /// Which rule (`v3#2`, `v3#default`) or grant (its id) decided it.
    pub decision_ref: Option<String>,
    /// For a request made through the gate: the call as made (`{"tool", "input", "cwd"}`).
    pub gate_call: Option<String>,
    /// When its agent last read it (a status read, a wait, its event stream); `None` before the
    /// first read. Written at most every few seconds (see `Approvals::note_agent`).
    pub agent_seen_at: Option<Millis>,
    /// Until when its agent is taken to be waiting for the answer (the end of its wait plus a
    /// grace for the next read); `None` before the first read.
    pub agent_waiting_until: Option<Millis>,
    /// The seq of the receipt that records its decision in its owner's chain; `None` while
    /// pending, and for a request decided before such seqs were kept.
    pub receipt_seq: Option<i64>,
}

impl ApprovalRecord {
    /// The announcement of this request as it stands.
    pub fn event(&self) -> ApprovalEvent {
        ApprovalEvent {
            user_id: self.user_id.clone(),
            api_key_id: self.api_key_id.clone(),
            request_id: self.id.clone(),
            status: self.status,
        }
    }

    /// The status as of `now`: a pending request past its expiry is expired, swept or not.
    pub fn status_at(&self, now: Millis) -> Status {
        if self.status == Status::Pending && now >= self.expires_at { Status::Expired } else { self.status }
    }
}

pub enum InsertOutcome {
    Created,
    /// The key has as many pending requests as allowed; the first of them lapses at `frees_at`.
    TooManyPending {
        frees_at: Millis,
    },
    /// The key was revoked or suspended by the time of the write.
    KeyNotLive(KeyStanding),
    /// The Idempotency-Key was used before: the request it created and the hash of its body.
    Replayed {
        request_id: RequestId,
        body_hash: String,
    },
}

/// PostgreSQL's create in one statement: a place under the cap ($12) taken from the key's counter,
/// the request ($1–$11, $15 its gate call), its audit row ($13 its id, $14 the client's address);
/// `$extra` is added to the counter's condition. Answers `created`, 1 or 0.
macro_rules! create_counted_sql {
    ($extra:literal) => {
        concat!(
            "WITH counted AS ( \
               UPDATE api_keys SET pending = pending + 1 WHERE id = $3 AND revoked_at IS NULL \
               AND suspended_at IS NULL AND pending < $12 ",
            $extra,
            " RETURNING id), \
             created AS ( \
               INSERT INTO approval_requests (id, user_id, api_key_id, agent_id, action, context, \
                 binding_code, action_hash, status, created_at, expires_at, gate_call) \
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15 FROM counted RETURNING id), \
             audited AS ( \
               INSERT INTO audit_events (id, at, event, user_id, request_id, api_key_id, ip) \
               SELECT $13, $10, 'request.created', $2, id, $3, $14 FROM created RETURNING id) \
             SELECT (SELECT COUNT(*) FROM created) AS created, (SELECT COUNT(*) FROM audited) AS audited"
        )
    };
}

macro_rules! columns {
    () => {
        "id, user_id, api_key_id, agent_id, action, context, binding_code, action_hash, \
         status, created_at, expires_at, decided_at, deny_reason, token, token_jti, \
         token_expires_at, credential_id, user_verified, decided_by, decision_ref, gate_call, \
         agent_seen_at, agent_waiting_until, receipt_seq"
    };
}

macro_rules! select {
    ($tail:literal) => {
        concat!("SELECT ", columns!(), " FROM approval_requests ", $tail)
    };
}

/// Whether the key a request was made with may still read it, as of the read itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStanding {
    Live,
    /// Suspended, and why (unknown for a row written before causes were kept).
    Suspended(Option<SuspendedBecause>),
    /// Revoked (or gone).
    Revoked,
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<ApprovalRecord> {
    let status: String = row.try_get("status")?;
    Ok(ApprovalRecord {
        id: RequestId::from_trusted(row.try_get("id")?),
        user_id: UserId::from_trusted(row.try_get("user_id")?),
        api_key_id: ApiKeyId::from_trusted(row.try_get("api_key_id")?),
        agent_id: row.try_get("agent_id")?,
        action: row.try_get("action")?,
        context: row.try_get("context")?,
        binding_code: row.try_get("binding_code")?,
        action_hash: row.try_get("action_hash")?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_at: opt_i64(row, "decided_at")?,
        deny_reason: row.try_get("deny_reason")?,
        token: row.try_get("token")?,
        token_jti: row.try_get("token_jti")?,
        token_expires_at: opt_i64(row, "token_expires_at")?,
        credential_id: row.try_get("credential_id")?,
        user_verified: opt_i64(row, "user_verified")?.map(|v| v != 0),
        decided_by: row.try_get("decided_by")?,
        decision_ref: row.try_get("decision_ref")?,
        gate_call: row.try_get("gate_call")?,
        agent_seen_at: opt_i64(row, "agent_seen_at")?,
        agent_waiting_until: opt_i64(row, "agent_waiting_until")?,
        receipt_seq: opt_i64(row, "receipt_seq")?,
    })
}

impl Db {
    /// Creates the request (and its audit row), unless the key already has `max_pending`
    /// requests waiting. With an Idempotency-Key it is recorded in the same transaction, so a
    /// retried request can never create a second approval.
    ///
    /// Other instances are told once it is committed, by a NOTIFY of its own. Not inside the
    /// create's transaction, unlike decisions: PostgreSQL orders the commits of transactions that
    /// NOTIFY with one lock, which would undo the grouping of concurrent creates' commits. What a
    /// new request's announcement feeds (other instances' web app pages) can miss one: the page
    /// reloads its list whenever its stream reconnects.
    pub async fn insert_approval(
        &self,
        r: &ApprovalRecord,
        idempotency: Option<(&str, &str)>,
        max_pending: Option<i64>,
        ip: Option<&str>,
    ) -> StoreResult<InsertOutcome> {
        let outcome = self.insert_approval_committed(r, idempotency, max_pending, ip).await?;
        if matches!(outcome, InsertOutcome::Created) {
            self.announcer().approval_after_commit(self.pool().clone(), r.event());
        }
        Ok(outcome)
    }

    async fn insert_approval_committed(
        &self,
        r: &ApprovalRecord,
        idempotency: Option<(&str, &str)>,
        max_pending: Option<i64>,
        ip: Option<&str>,
    ) -> StoreResult<InsertOutcome> {
        let (r, ip) = (r.clone(), ip.map(str::to_owned));
        let idempotency = idempotency.map(|(k, h)| (k.to_owned(), h.to_owned()));
        let backend = self.backend();
        self.last_used(&r.api_key_id, r.created_at);
        // PostgreSQL without an Idempotency-Key: the fast path is one statement, atomic on its
        // own, outside an explicit transaction; committed asynchronously and then flushed where
        // the database allows it (see `create_counted_then_flushed`).
        let fast_path_tried = backend == Backend::Postgres && idempotency.is_none();
        if fast_path_tried {
            let mut conn = self.pool().acquire().await?;
            let created = if self.flush_barrier() {
                create_counted_then_flushed(&mut conn, &r, max_pending, ip.clone()).await?
            } else {
                create_counted(&mut conn, &r, max_pending, ip.clone()).await?
            };
            if created {
                return Ok(InsertOutcome::Created);
            }
        }
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                if let Some((key, body_hash)) = &idempotency
                    && let Some(earlier) = claim_idempotency_key(conn, &r, key, body_hash).await?
                {
                    return Ok(earlier);
                }
                // The fast path: a place under the cap, taken from the key's counter of pending
                // requests (with the key's standing checked in the same statement).
                let created = match backend {
                    Backend::Postgres if fast_path_tried => false,
                    Backend::Postgres => create_counted(conn, &r, max_pending, ip.clone()).await?,
                    Backend::Sqlite => create_counted_sqlite(conn, &r, max_pending, ip.clone()).await?,
                };
                if created {
                    return Ok(InsertOutcome::Created);
                }
                create_after_counting(conn, backend, &r, max_pending, ip).await
            })
        }))
        .await
    }

    /// The request and, read in the same statement, the standing of the key that made it: an
    /// answer built from this cannot carry a token to a key revoked or suspended before the read.
    pub async fn approval_with_key(
        &self,
        id: &RequestId,
    ) -> StoreResult<Option<(ApprovalRecord, KeyStanding)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", (SELECT CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' \
             WHEN k.suspended_at IS NOT NULL THEN 'suspended' ELSE 'live' END \
             FROM api_keys k WHERE k.id = approval_requests.api_key_id) AS key_standing, \
             (SELECT k.suspended_because FROM api_keys k WHERE k.id = approval_requests.api_key_id) \
             AS key_suspended_because \
             FROM approval_requests WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let standing = match row.try_get::<Option<String>, _>("key_standing")?.as_deref() {
            Some("live") => KeyStanding::Live,
            Some("suspended") => KeyStanding::Suspended(suspended_because(&row, "key_suspended_because")?),
            _ => KeyStanding::Revoked,
        };
        Ok(Some((from_row(&row)?, standing)))
    }

    pub async fn approval(&self, id: &RequestId) -> StoreResult<Option<ApprovalRecord>> {
        let row = sqlx::query(select!("WHERE id = $1")).bind(id.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The request if it belongs to this user; `None` for unknown and foreign alike.
    pub async fn approval_of(&self, id: &RequestId, user: &UserId) -> StoreResult<Option<ApprovalRecord>> {
        let row = sqlx::query(select!("WHERE id = $1 AND user_id = $2"))
            .bind(id.as_str())
            .bind(user.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn pending_of(&self, user: &UserId, now: Millis) -> StoreResult<Vec<ApprovalRecord>> {
        let rows = sqlx::query(select!(
            "WHERE user_id = $1 AND status = 'PENDING' AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC LIMIT 500"
        ))
        .bind(user.as_str())
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Records that the agent of pending request `id` read it at `at` and is taken to be waiting
    /// until `until`, unless what is recorded already says so within `throttle` ms (so a busy
    /// poller costs a write every few seconds, not one per read). True when it wrote.
    pub async fn note_agent(
        &self,
        id: &RequestId,
        at: Millis,
        until: Millis,
        throttle: Millis,
    ) -> StoreResult<bool> {
        let id = id.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE approval_requests SET agent_seen_at = $2, agent_waiting_until = $3 \
                     WHERE id = $1 AND status = 'PENDING' \
                     AND (agent_waiting_until IS NULL OR agent_waiting_until < $4)",
                )
                .bind(id.as_str())
                .bind(at)
                .bind(until)
                .bind(until - throttle)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        }))
        .await
    }

    /// Newest first, strictly older than the cursor `(created_at, id)` when one is given.
    pub async fn history_of(
        &self,
        user: &UserId,
        status: Option<Status>,
        before: Option<(Millis, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRecord>> {
        let (before_at, before_id) = before.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(select!(
            "WHERE user_id = $1 AND ($2 = '' OR status = $2) \
             AND (created_at < $3 OR (created_at = $3 AND id < $4) OR $4 = '') \
             AND created_at <= $3 \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        ))
        .bind(user.as_str())
        .bind(status.map(Status::as_str).unwrap_or_default())
        .bind(before_at)
        .bind(before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}

/// Records the Idempotency-Key; if it was used before, what for (and nothing else is written).
async fn claim_idempotency_key(
    conn: &mut AnyConnection,
    r: &ApprovalRecord,
    key: &str,
    body_hash: &str,
) -> StoreResult<Option<InsertOutcome>> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (api_key_id, key, body_hash, request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(r.api_key_id.as_str())
    .bind(key)
    .bind(body_hash)
    .bind(r.id.as_str())
    .bind(r.created_at)
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(None);
    }
    let row =
        sqlx::query("SELECT request_id, body_hash FROM idempotency_keys WHERE api_key_id = $1 AND key = $2")
            .bind(r.api_key_id.as_str())
            .bind(key)
            .fetch_one(conn)
            .await?;
    Ok(Some(InsertOutcome::Replayed {
        request_id: RequestId::from_trusted(row.try_get("request_id")?),
        body_hash: row.try_get("body_hash")?,
    }))
}

/// SQLite's fast path in one round trip to the connection's thread: bump the key's counter of
/// pending requests if the key is live and under `max`, then (only if that changed a row, told by
/// `changes()`) insert the request and its audit row. False when the counter said no: nothing was
/// written. The writer's savepoint around it makes the three one step.
async fn create_counted_sqlite(
    conn: &mut AnyConnection,
    r: &ApprovalRecord,
    max: Option<i64>,
    ip: Option<String>,
) -> StoreResult<bool> {
    let statement = sqlx::query(
        "UPDATE api_keys SET pending = pending + 1 WHERE id = $3 AND revoked_at IS NULL \
           AND suspended_at IS NULL AND pending < $12; \
         INSERT INTO approval_requests (id, user_id, api_key_id, agent_id, action, context, \
           binding_code, action_hash, status, created_at, expires_at, gate_call) \
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15 WHERE changes() = 1; \
         INSERT INTO audit_events (id, at, event, user_id, request_id, api_key_id, ip) \
           SELECT $13, $10, 'request.created', $2, $1, $3, $14 WHERE changes() = 1",
    );
    let done = bind_create(statement, r, max, ip).execute(conn).await?;
    match done.rows_affected() {
        3 => Ok(true),
        0 => Ok(false),
        n => Err(StoreError::Corrupt(format!("a create changed {n} rows, not 0 or 3"))),
    }
}

async fn audit_created(conn: &mut AnyConnection, r: &ApprovalRecord, ip: Option<String>) -> StoreResult<()> {
    let event = AuditEvent {
        request_id: Some(r.id.clone()),
        api_key_id: Some(r.api_key_id.clone()),
        ip,
        ..AuditEvent::new("request.created", r.created_at, &r.user_id)
    };
    audit::append(conn, &event).await?;
    Ok(())
}

/// The slow path, when the counter says no: the key is not live, or it may be full. Counts the
/// key's pending requests that have not lapsed (at most `max` of them), and creates the request
/// if there is room after all. On PostgreSQL a transaction-scoped lock on the key, taken in a
/// statement of its own (so the count's snapshot is taken after it), makes concurrent slow paths
/// of one key count one after another; SQLite's one writer already does.
async fn create_after_counting(
    conn: &mut AnyConnection,
    backend: Backend,
    r: &ApprovalRecord,
    max_pending: Option<i64>,
    ip: Option<String>,
) -> StoreResult<InsertOutcome> {
    let standing = key_standing(conn, &r.api_key_id).await?;
    if standing != KeyStanding::Live {
        return Ok(InsertOutcome::KeyNotLive(standing));
    }
    if let Some(max) = max_pending {
        if backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(r.api_key_id.as_str())
                .execute(&mut *conn)
                .await?;
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(expires_at) AS first_expiry FROM (SELECT expires_at \
             FROM approval_requests WHERE api_key_id = $1 AND status = 'PENDING' AND expires_at > $2 \
             ORDER BY expires_at LIMIT $3) waiting",
        )
        .bind(r.api_key_id.as_str())
        .bind(r.created_at)
        .bind(max)
        .fetch_one(&mut *conn)
        .await?;
        let pending: i64 = row.try_get("n")?;
        if pending >= max {
            let frees_at = opt_i64(&row, "first_expiry")?.unwrap_or(r.created_at);
            return Ok(InsertOutcome::TooManyPending { frees_at });
        }
    }
    sqlx::query("UPDATE api_keys SET pending = pending + 1 WHERE id = $1")
        .bind(r.api_key_id.as_str())
        .execute(&mut *conn)
        .await?;
    if !insert_row(conn, r).await? {
        return Ok(InsertOutcome::KeyNotLive(key_standing(conn, &r.api_key_id).await?));
    }
    audit_created(conn, r, ip).await?;
    Ok(InsertOutcome::Created)
}

/// PostgreSQL's fast path in one statement (one round trip, not five), inside a transaction: a
/// place under the cap from the key's counter (the row lock on the key orders concurrent creates
/// of one key, and PostgreSQL re-checks the condition after waiting for it), the insert and its
/// audit row. False when the counter said no; nothing was written.
async fn create_counted(
    conn: &mut AnyConnection,
    r: &ApprovalRecord,
    max_pending: Option<i64>,
    ip: Option<String>,
) -> StoreResult<bool> {
    let statement = sqlx::query(create_counted_sql!(""));
    let row = bind_create(statement, r, max_pending, ip).fetch_one(conn).await?;
    let created: i64 = row.try_get("created")?;
    Ok(created == 1)
}

/// PostgreSQL's fast path without an Idempotency-Key, outside an explicit transaction: the
/// one-statement create committed asynchronously, then a barrier that waits until it is on disk.
///
/// A create holds the lock on its key's row (the counter of pending requests) until it commits;
/// a durable commit includes the flush to disk, so the creates of one key waited for each
/// other's flushes in turn. Committed asynchronously (`synchronous_commit` off for that one
/// transaction), the lock is held while the statement runs only. The barrier is a transactional
/// message into the log (`pg_logical_emit_message`), committed durably: PostgreSQL writes its log
/// in order, so that flush carries the create's commit too, and only then is the agent answered.
/// The counter and the request still commit together, so the slow path's exact count stays
/// exact. Between the two, another session may see the request before it is on disk; a crash
/// there loses a request its agent was never told of, as with any commit cut short.
async fn create_counted_then_flushed(
    conn: &mut AnyConnection,
    r: &ApprovalRecord,
    max_pending: Option<i64>,
    ip: Option<String>,
) -> StoreResult<bool> {
    let statement =
        sqlx::query(create_counted_sql!("AND set_config('synchronous_commit', 'off', true) = 'off'"));
    let row = bind_create(statement, r, max_pending, ip).fetch_one(&mut *conn).await?;
    let created: i64 = row.try_get("created")?;
    if created == 1 {
        sqlx::query(super::FLUSH_BARRIER).execute(conn).await?;
    }
    Ok(created == 1)
}

/// The values of both single-statement create statements: $1–$11 the request's columns (see
/// [`bind_request`]), $12 the cap, $13 the audit row's id, $14 the client's address, $15 the gate
/// call.
fn bind_create(statement: Statement, r: &ApprovalRecord, max: Option<i64>, ip: Option<String>) -> Statement {
    bind_request(statement, r)
        .bind(max.unwrap_or(i64::MAX))
        .bind(AuditId::generate().as_str())
        .bind(ip)
        .bind(r.gate_call.clone())
}

/// $1–$11: the request's columns, in the order of the inserts' column lists.
fn bind_request(statement: Statement, r: &ApprovalRecord) -> Statement {
    statement
        .bind(r.id.as_str())
        .bind(r.user_id.as_str())
        .bind(r.api_key_id.as_str())
        .bind(r.agent_id.clone())
        .bind(&r.action)
        .bind(r.context.clone())
        .bind(&r.binding_code)
        .bind(&r.action_hash)
        .bind(r.status.as_str())
        .bind(r.created_at)
        .bind(r.expires_at)
}

/// Inserts the request if its key is live as of this statement (whatever a cache in front of
/// the key lookup believed); false if the key is revoked or suspended.
async fn insert_row(conn: &mut AnyConnection, r: &ApprovalRecord) -> StoreResult<bool> {
    let statement = sqlx::query(
        "INSERT INTO approval_requests (id, user_id, api_key_id, agent_id, action, context, \
         binding_code, action_hash, status, created_at, expires_at, gate_call) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS (SELECT 1 FROM api_keys \
         WHERE id = $3 AND revoked_at IS NULL AND suspended_at IS NULL)",
    );
    let done = bind_request(statement, r).bind(r.gate_call.clone()).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn key_standing(conn: &mut AnyConnection, key: &ApiKeyId) -> StoreResult<KeyStanding> {
    let row = sqlx::query("SELECT revoked_at, suspended_at, suspended_because FROM api_keys WHERE id = $1")
        .bind(key.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) if opt_i64(&row, "revoked_at")?.is_none() && opt_i64(&row, "suspended_at")?.is_some() => {
            KeyStanding::Suspended(suspended_because(&row, "suspended_because")?)
        }
        Some(row) if opt_i64(&row, "revoked_at")?.is_none() => KeyStanding::Live,
        _ => KeyStanding::Revoked,
    })
}
