-- Every decision visible (issue 17): the person's list of decisions (GET /api/v1/decisions) reads
-- the gate's decisions and the decided requests newest first, by time then id, optionally for one
-- key or one grant's uses. Keep in step with the other backend's folder.

-- The name of the rule that decided, as it was when it decided (rule sets keep only their latest
-- version); NULL for a rule without a name, a grant, the default, or a decision made before this.
ALTER TABLE gate_decisions ADD COLUMN rule_name TEXT;
-- A person's decisions, a grant's uses (decision_ref is the grant's id) and one key's decisions,
-- newest first, ties cut by id: each read is one range of an index, in order.
DROP INDEX gate_decisions_by_user;
CREATE INDEX gate_decisions_by_user ON gate_decisions (user_id, at, id);
CREATE INDEX gate_decisions_by_ref ON gate_decisions (decision_ref, at, id);
CREATE INDEX gate_decisions_by_key ON gate_decisions (api_key_id, at, id);
-- The grant an approval made, shown with the approval.
CREATE INDEX grants_by_request ON grants (request_id);
-- Decided requests by when they were decided (History orders by when they were made).
CREATE INDEX approval_requests_by_decision ON approval_requests (user_id, decided_at, id);
