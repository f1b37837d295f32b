-- Why a key is suspended, for its owner's API keys page and the agent's refusal: 'denials'
-- (repeated denials within ten minutes) or 'stop' (Stop all agents); NULL while it is not.
-- Keys suspended before this column existed take the cause their suspension's audit row gave.
-- Keep in step with the other backend's folder.
ALTER TABLE api_keys ADD COLUMN suspended_because TEXT;
UPDATE api_keys SET suspended_because = CASE WHEN EXISTS (
    SELECT 1 FROM audit_events a WHERE a.api_key_id = api_keys.id AND a.event = 'api_key.suspended'
      AND a.at = api_keys.suspended_at AND a.detail = 'stopped by its owner'
  ) THEN 'stop' ELSE 'denials' END
WHERE suspended_at IS NOT NULL;
