-- Whether an agent is still there for a request's answer, for the approve page ("No agent is
-- waiting for this answer now"): when an agent last read the request (a status read, a wait,
-- its event stream) and until when it is taken to be waiting (the end of its wait, plus a grace
-- for the next read). Kept in the database, not per instance, so every instance behind a load
-- balancer sees the same. Written at most every few seconds per request (see
-- `Approvals::note_agent`). NULL: no read since the request was made.
-- Keep in step with the other backend's folder.
ALTER TABLE approval_requests ADD COLUMN agent_seen_at BIGINT;
ALTER TABLE approval_requests ADD COLUMN agent_waiting_until BIGINT;
