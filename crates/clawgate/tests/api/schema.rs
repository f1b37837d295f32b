//! The two migration folders must describe the same schema (house style rule 9): after migrating
//! both databases, the tables, columns, nullability and primary keys are the same.

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
        // sqlx's own bookkeeping and SQLite's internals are not ours.
        .filter(|(table, ..)| !table.starts_with("_sqlx") && !table.starts_with("sqlite_"))
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
