-- Gate receipts still to prune past their retention (`store::pruning`), by time: upkeep finds them
-- without reading the whole table. The condition is the one its queries carry, word for word.
-- Keep in step with the other backend's folder.
CREATE INDEX receipts_to_prune ON receipts (at, user_id)
    WHERE kind IN ('gate.allowed', 'gate.denied') AND content <> 'null';
