-- A key's requests by status: the pending cap counts a key's waiting requests on every create,
-- and suspension counts its recent denials; without this both scan every pending request.
-- Keep in step with the other backend's folder.
CREATE INDEX approval_requests_by_key ON approval_requests (api_key_id, status, expires_at);
