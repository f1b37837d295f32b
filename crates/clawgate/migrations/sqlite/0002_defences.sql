-- Defences against abuse and a trail of what happened. Keep in step with ../postgres.

-- A key is suspended after repeated denials (approval fatigue); its owner resumes it.
ALTER TABLE api_keys ADD COLUMN suspended_at INTEGER;

-- Append-only: one row per transition or security event, written with the change it records.
CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY,
    at            INTEGER NOT NULL,
    event         TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    request_id    TEXT,
    api_key_id    TEXT,
    credential_id TEXT,
    user_verified INTEGER,
    ip            TEXT,
    detail        TEXT
);
CREATE INDEX audit_events_by_request ON audit_events (request_id);
CREATE INDEX audit_events_by_user ON audit_events (user_id, at);
