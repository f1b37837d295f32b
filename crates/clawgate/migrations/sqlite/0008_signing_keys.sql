-- Approval-token signing keys (Ed25519 seeds), numbered, so that one can be rotated: a new key is
-- published (in every instance's JWKS) before it signs, and a superseded one keeps verifying
-- until every token it signed has expired. Keep in step with the other backend's folder.

CREATE TABLE signing_keys (
    -- 1, 2, 3, …: the order of rotation.
    number      INTEGER PRIMARY KEY,
    -- The 32-byte Ed25519 seed, base64.
    seed        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    -- From when it signs new tokens (milliseconds); until then it is only published.
    active_from INTEGER NOT NULL
);

-- The key every earlier version kept in server_secrets becomes key 1, active since forever; it is
-- moved, not copied, so that retiring it later leaves no copy behind.
INSERT INTO signing_keys (number, seed, created_at, active_from)
SELECT 1, value, created_at, 0 FROM server_secrets WHERE name = 'approval_signing_key_1';
DELETE FROM server_secrets WHERE name = 'approval_signing_key_1';
