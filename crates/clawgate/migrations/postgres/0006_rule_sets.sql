-- Each person's rule set (issue 10): the JSON as they saved it, and a version that goes up by one
-- with every save (a save names the version it replaces: compare-and-swap). No row: the built-in
-- defaults, version 0. Keep in step with the other backend's folder.
CREATE TABLE rule_sets (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    rules      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
