//! `clawgate-bench bare-server PORT`: the least a tokio + hyper + axum server can be, one route
//! (`GET /wait`) that answers after 60 s. Its memory with N waiting connections is the floor that
//! clawgate's memory per waiting agent is read against.

use axum::Router;
use axum::routing::get;
use std::time::Duration;

pub fn serve(port: u16) -> anyhow::Result<()> {
    // The same runtime as the server's `#[tokio::main]`: one worker per core.
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        let app = Router::new().route(
            "/wait",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "waited\n"
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}
