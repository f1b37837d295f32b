-- The seq of the receipt that records a request's decision (approved, denied or expired) in its
-- owner's chain, written in the same statement list as that receipt: the approve page links to it.
-- NULL while pending, and for requests decided before this column.
-- Keep in step with the other backend's folder.
ALTER TABLE approval_requests ADD COLUMN receipt_seq BIGINT;
