//! A fresh PostgreSQL database for one run (`clawgate_bench_<pid>`), on the server that
//! `BENCH_DATABASE_URL` names, dropped afterwards.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub struct FreshDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl FreshDb {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("clawgate_bench_{}", std::process::id());
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        let mut conn = PgConnection::connect(admin_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        Ok(Self { admin_url: admin_url.to_owned(), name, url: url.into() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop_it(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }
}

/// The URL with any password hidden, for printing.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.into()
        }
        Ok(u) => u.into(),
        Err(_) => "(not a URL)".to_owned(),
    }
}
