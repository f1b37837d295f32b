-- Each account's chain of receipts (`clawgate_proto::evidence::receipt`): one row per decision or
-- security-relevant change, written in the same transaction as it. `hash` is the receipt's own
-- (over account, seq, prev, time, kind, content and evidence); `prev` the one before it. Rows are
-- never updated or deleted: a verifier detects it if they are.
-- Keep in step with the other backend's folder.
CREATE TABLE receipts (
    user_id  TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    prev     TEXT NOT NULL,
    hash     TEXT NOT NULL,
    -- Canonical JSON (RFC 8785).
    content  TEXT NOT NULL,
    evidence TEXT,
    PRIMARY KEY (user_id, seq)
);

-- Each account's last receipt. Appending first moves `seq` on here (`INSERT … ON CONFLICT DO
-- UPDATE`), which takes this row's lock until the transaction ends: appends to one account's
-- chain are serialised across instances, and the receipts' primary key refuses a fork even so.
CREATE TABLE chain_heads (
    user_id TEXT PRIMARY KEY,
    seq     BIGINT NOT NULL,
    head    TEXT NOT NULL
);
