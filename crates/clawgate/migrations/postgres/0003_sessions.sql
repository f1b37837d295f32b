-- Sessions live on the server as well as in their token: signing out ends one, and deleting the
-- passkey that made one ends it too. Keep in step with ../sqlite.

-- One row per session token (its jti). An email-only session has no passkey.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    passkey_id TEXT REFERENCES passkeys (id) ON DELETE CASCADE,
    method     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_passkey ON sessions (passkey_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
