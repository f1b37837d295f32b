-- The gate (issue 10): decisions made by a rule or a standing grant, and the grants themselves.
-- Keep in step with the other backend's folder.

-- What decided a request when not a person: 'stop' (the kill switch). `decision_ref` names what
-- came of a person's decision beyond the request itself (the grant an approval created).
ALTER TABLE approval_requests ADD COLUMN decided_by TEXT;
ALTER TABLE approval_requests ADD COLUMN decision_ref TEXT;
-- For a request made through the gate: the call as made, {"tool", "input", "cwd"} as JSON. A grant
-- offered on the approve page is scoped from this, never from the agent's description.
ALTER TABLE approval_requests ADD COLUMN gate_call TEXT;

-- Decisions the gate made alone (a rule's allow or deny, a grant's allow): the record of each,
-- written with its audit row. Requests are what a person is asked; these were not asked.
CREATE TABLE gate_decisions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id   TEXT NOT NULL,
    agent_id     TEXT,
    tool         TEXT NOT NULL,
    action       TEXT NOT NULL,
    cwd          TEXT,
    outcome      TEXT NOT NULL,
    -- 'rule' or 'grant', and which: 'v3#2' (rule 2 of version 3; 'v3#default') or the grant's id.
    decided_by   TEXT NOT NULL,
    decision_ref TEXT NOT NULL,
    reason       TEXT,
    -- The allow's token, by its id (the token itself is the agent's).
    token_jti    TEXT,
    at           INTEGER NOT NULL
);
CREATE INDEX gate_decisions_by_user ON gate_decisions (user_id, at);

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
