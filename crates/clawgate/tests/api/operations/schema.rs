//! The two migration folders must describe the same schema (house style rule 9): after migrating
//! both databases, the tables, columns, nullability and primary keys are the same, and so are the
//! columns' types, the indexes, the unique constraints and the foreign keys.

use crate::harness::TestApp;
use clawgate::config::Backend;
use std::collections::BTreeSet;

/// (table, column, not null, part of the primary key)
type Columns = BTreeSet<(String, String, bool, bool)>;

async fn columns(app: &TestApp) -> Columns {
    let sql = match app.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name, p.\"notnull\" + p.pk, p.pk FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
        }
        Backend::Postgres => {
            "SELECT c.table_name::text, c.column_name::text, \
             CASE WHEN c.is_nullable = 'NO' THEN 1 ELSE 0 END::bigint, \
             (SELECT COUNT(*) FROM information_schema.key_column_usage k \
              JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name \
              WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name \
              AND k.column_name = c.column_name)::bigint \
             FROM information_schema.columns c WHERE c.table_schema = 'public'"
        }
    };
    let rows: Vec<(String, String, i64, i64)> =
        sqlx::query_as(sql).fetch_all(app.state.db.pool()).await.expect("schema query");
    rows.into_iter()
        .filter(|(table, ..)| ours(table))
        // A primary key is NOT NULL in both, though SQLite does not say so for TEXT keys.
        .map(|(table, column, not_null, pk)| (table, column, not_null > 0, pk > 0))
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_describe_the_same_schema() {
    let sqlite = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let Some(postgres) = TestApp::spawn(Backend::Postgres).await else { return };
    let lite = columns(&sqlite).await;
    let pg = columns(&postgres).await;
    let only_sqlite: Vec<_> = lite.difference(&pg).collect();
    let only_postgres: Vec<_> = pg.difference(&lite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_postgres:?}"
    );
    assert!(lite.len() > 40, "the comparison saw the schema ({} columns)", lite.len());
}

/// Column types by family (SQLite's INTEGER and BIGINT are both 64-bit, as PostgreSQL's BIGINT).
type Types = BTreeSet<(String, String, String)>;

fn family(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") { "integer".into() } else { t }
}

async fn types(app: &TestApp) -> Types {
    let sql = match app.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public'"
        }
    };
    let rows: Vec<(String, String, String)> =
        sqlx::query_as(sql).fetch_all(app.state.db.pool()).await.expect("types");
    rows.into_iter().filter(|(t, ..)| ours(t)).map(|(t, c, ty)| (t, c, family(&ty))).collect()
}

/// sqlx's own bookkeeping and SQLite's internals are not ours.
fn ours(table: &str) -> bool {
    !table.starts_with("_sqlx") && !table.starts_with("sqlite_")
}

/// Indexes but primary keys: (name, table, columns in order, unique, partial); an index a
/// UNIQUE constraint made has no name here (each database names those its own way).
type Indexes = BTreeSet<(String, String, String, bool, bool)>;

async fn indexes(app: &TestApp) -> Indexes {
    let sql = match app.backend() {
        // An index a constraint made (origin `u` or `pk`) has no SQL of its own.
        Backend::Sqlite => {
            "SELECT l.name, m.name, (SELECT group_concat(name, ',') FROM \
               (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno)), \
             l.\"unique\", l.partial, l.origin = 'c' \
             FROM sqlite_master m JOIN pragma_index_list(m.name) l WHERE m.type = 'table' AND l.origin != 'pk'"
        }
        Backend::Postgres => {
            "SELECT ic.relname::text, tc.relname::text, \
             (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) \
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum), \
             CASE WHEN i.indisunique THEN 1 ELSE 0 END::bigint, \
             CASE WHEN i.indpred IS NOT NULL THEN 1 ELSE 0 END::bigint, \
             CASE WHEN EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) THEN 0 ELSE 1 END::bigint \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid \
             WHERE tc.relnamespace = 'public'::regnamespace AND NOT i.indisprimary"
        }
    };
    let rows: Vec<(String, String, Option<String>, i64, i64, i64)> =
        sqlx::query_as(sql).fetch_all(app.state.db.pool()).await.expect("indexes");
    rows.into_iter()
        .filter(|(_, table, ..)| ours(table))
        .map(|(name, table, columns, unique, partial, explicit)| {
            // Constraint-made indexes are named by each database its own way.
            let name = if explicit > 0 { name } else { String::new() };
            (name, table, columns.unwrap_or_default(), unique > 0, partial > 0)
        })
        .collect()
}

/// Foreign keys: (table, column, referenced table, referenced column, on delete).
type ForeignKeys = BTreeSet<(String, String, String, String, String)>;

async fn foreign_keys(app: &TestApp) -> ForeignKeys {
    let sql = match app.backend() {
        Backend::Sqlite => {
            "SELECT m.name, f.\"from\", f.\"table\", f.\"to\", f.on_delete FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'"
        }
        Backend::Postgres => {
            "SELECT cl.relname::text, a.attname::text, rcl.relname::text, ra.attname::text, \
             CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'r' THEN 'RESTRICT' \
               WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END \
             FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rcl ON rcl.oid = c.confrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] \
             WHERE c.contype = 'f' AND cl.relnamespace = 'public'::regnamespace"
        }
    };
    let rows: Vec<(String, String, String, String, String)> =
        sqlx::query_as(sql).fetch_all(app.state.db.pool()).await.expect("foreign keys");
    rows.into_iter().filter(|(t, ..)| ours(t)).collect()
}

/// What is in one set and not the other, both ways, in words.
fn differences<T: Ord + std::fmt::Debug>(what: &str, lite: &BTreeSet<T>, pg: &BTreeSet<T>) -> Option<String> {
    let only_sqlite: Vec<_> = lite.difference(pg).collect();
    let only_postgres: Vec<_> = pg.difference(lite).collect();
    (!only_sqlite.is_empty() || !only_postgres.is_empty())
        .then(|| format!("{what}: only in SQLite: {only_sqlite:?}\n  only in PostgreSQL: {only_postgres:?}"))
}

#[tokio::test]
async fn sqlite_and_postgres_agree_on_types_indexes_unique_and_foreign_keys() {
    let sqlite = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let Some(postgres) = TestApp::spawn(Backend::Postgres).await else { return };
    let (lite_types, pg_types) = (types(&sqlite).await, types(&postgres).await);
    let (lite_indexes, pg_indexes) = (indexes(&sqlite).await, indexes(&postgres).await);
    let (lite_fks, pg_fks) = (foreign_keys(&sqlite).await, foreign_keys(&postgres).await);
    let found: Vec<String> = [
        differences("column types", &lite_types, &pg_types),
        differences("indexes and unique constraints", &lite_indexes, &pg_indexes),
        differences("foreign keys", &lite_fks, &pg_fks),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert!(lite_indexes.len() >= 10, "the comparison saw the indexes: {lite_indexes:?}");
    assert!(lite_fks.len() >= 5, "the comparison saw the foreign keys: {lite_fks:?}");
    assert!(lite_indexes.iter().any(|i| i.3), "unique constraints are among them: {lite_indexes:?}");
}
