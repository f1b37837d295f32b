-- The seq of the receipt that records a decision the gate made alone (`gate.allowed`,
-- `gate.denied`) in its owner's chain, written in the same statement list as that receipt: the
-- Decisions page links to it. NULL for decisions made before this column.
-- Keep in step with the other backend's folder.
ALTER TABLE gate_decisions ADD COLUMN receipt_seq BIGINT;
