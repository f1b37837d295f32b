//! `clawgate`: the server, the operator's commands and the agent's, in one binary.

mod cli;

use clap::Parser;
use clawgate::app;
use clawgate::clock::SystemClock;
use clawgate::config::{DatabaseSettings, LogFormat, Settings};
use clawgate::operator;
use clawgate::store::Db;
use cli::{Cli, Command, HookCommand};
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

fn init_logging(level: &str, format: LogFormat) {
    // Pino's level names, for configurations carried over from the Node server.
    let level = match level.trim() {
        "fatal" => "error",
        "silent" => "off",
        other => other,
    };
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a terminal only: a file, a pipe or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM. SIGTERM is listened for from the call on, not from the first
/// poll: a service manager that stops the server right after it says it listens stops it
/// gracefully too.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            // Whatever the server writes holds or sits next to its secrets: owner only.
            clawgate::os::restrict_umask();
            let settings = Settings::from_args(&args)?;
            init_logging(&settings.log_level, settings.log_format);
            let addr = format!("{}:{}", settings.host, settings.port);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| clawgate::startup_errors::cannot_listen(&settings.host, settings.port, &e))?;
            // Before anything else starts: a busy METRICS_ADDR stops the start at once.
            let metrics = match settings.metrics_addr {
                Some(at) => Some(clawgate::server::metrics::bind(at).await?),
                None => None,
            };
            let backend = settings.database.backend;
            let origin = settings.rp_origin.origin().ascii_serialization();
            app::install_tls_provider();
            // Before the database: unreadable or mismatched certificate files stop the start.
            let tls = clawgate::tls::Tls::start(&settings.tls).await?;
            clawgate::tls::warn_if_unreachable(&settings);
            let scheme = if tls.is_some() { "https" } else { "http" };
            let state = app::build_state(settings, Arc::new(SystemClock)).await?;
            let shutdown = shutdown_signal();
            tracing::info!(%addr, ?backend, rp_origin = %origin, %scheme, "clawgate is listening; open {origin}");
            app::serve_with(state, listener, tls, metrics, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(args) => {
            clawgate::os::restrict_umask();
            init_logging("info", LogFormat::Text);
            let settings = DatabaseSettings::from_args(&args)?;
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            tracing::info!(backend = ?settings.backend, "migrations applied");
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(args) => operator::backup::run(args).await,
        Command::Restore(args) => operator::restore::run(args).await,
        Command::Keys(command) => operator::keys::run(command).await,
        // The agent's commands say what went wrong themselves and choose their exit codes.
        Command::Request(args) => Ok(clawgate_agent::request::run(args).await),
        Command::Exec(args) => Ok(clawgate_agent::exec::run(args).await),
        Command::Gate(args) => Ok(clawgate_agent::gate::run(args).await),
        Command::Verify(args) => Ok(clawgate_agent::verify::run(args).await),
        Command::Hook(HookCommand::ClaudeCode(args)) => Ok(clawgate_agent::hook_claude::run(args).await),
        Command::Mcp(args) => clawgate_agent::mcp::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Audit(command) => Ok(clawgate_agent::audit::run(command)),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // A .env file in the working directory is optional; real environment variables win. One that
    // exists but cannot be parsed is an error: half-applied settings would be worse. Hooks and the
    // MCP server never read it: they run in the agent's project, where the agent itself can write
    // a .env (and point CLAWGATE_URL, with the key, elsewhere).
    let in_agent_project = std::env::args_os().nth(1).is_some_and(|a| a == "hook" || a == "mcp");
    if !in_agent_project
        && let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("clawgate: cannot read the .env file: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clawgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
