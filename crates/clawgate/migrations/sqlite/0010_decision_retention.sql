-- Upkeep deletes the gate's decisions older than DECISION_RETENTION_DAYS, with their audit rows
-- (`gate.allowed`, `gate.denied`), a batch at a time: both are found by time. Keep in step with
-- the other backend's folder.
CREATE INDEX gate_decisions_by_time ON gate_decisions (at);
CREATE INDEX audit_events_by_event ON audit_events (event, at);
