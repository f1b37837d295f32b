-- A signing key believed leaked is revoked (`clawgate keys revoke`): from then on it neither signs
-- nor verifies nor is published, on any instance, whatever its schedule. The row stays (so that
-- `keys list` shows it) until every token it signed has expired. Keep in step with the other
-- backend's folder.

ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;
