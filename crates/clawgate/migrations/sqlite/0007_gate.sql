-- The gate (issue 10): decisions made by a rule or a standing grant, and the grants themselves.
-- Keep in step with the other backend's folder.

-- What decided a request: NULL for a person (a passkey approval, a denial, or expiry), else
-- 'rule', 'grant' or 'stop' (the kill switch). `decision_ref` names which: 'v3#2' (rule set
-- version 3, rule index 2; 'v3#default' for the default) or the grant's id.
ALTER TABLE approval_requests ADD COLUMN decided_by TEXT;
ALTER TABLE approval_requests ADD COLUMN decision_ref TEXT;
-- For a request made through the gate: the call as made, {"tool", "input", "cwd"} as JSON. A grant
-- offered on the approve page is scoped from this, never from the agent's description.
ALTER TABLE approval_requests ADD COLUMN gate_call TEXT;

-- A standing grant, created with a passkey approval: calls of one key that its scope covers pass
-- without asking until it expires, is used up, or is revoked.
CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id    TEXT NOT NULL,
    -- domain::rules::Scope as JSON, and the same in words as the person read it.
    scope         TEXT NOT NULL,
    description   TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    -- NULL: any number of uses until it expires.
    max_uses      INTEGER,
    uses          INTEGER NOT NULL DEFAULT 0,
    revoked_at    INTEGER
);
CREATE INDEX grants_by_key ON grants (api_key_id, expires_at);
CREATE INDEX grants_by_user ON grants (user_id, created_at);
