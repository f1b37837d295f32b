-- How many of a key's requests have status PENDING (lapsed ones included until they are marked
-- expired): the pending cap's fast path reads and bumps this instead of counting rows on every
-- create. Kept by the statements that create, decide and expire requests, in their transactions.
-- Keep in step with the other backend's folder.
ALTER TABLE api_keys ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET pending = (
    SELECT COUNT(*) FROM approval_requests r WHERE r.api_key_id = api_keys.id AND r.status = 'PENDING'
);
