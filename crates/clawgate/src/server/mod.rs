//! The accept loop: every connection gets a deadline for its request head, an idle timeout
//! between requests, and a place under the connection caps, so slow or idle clients cannot
//! hold the server's file descriptors. (`axum::serve` gives hyper no timer and no cap.) With
//! TLS on, the handshake runs under the same header deadline and connection caps.

mod activity;
mod limits;
/// The metrics listener on METRICS_ADDR, through this same accept loop.
pub mod metrics;

use crate::config::ConnectionSettings;
use crate::tls::Tls;
use activity::{Activity, BusyBody, Dawdled, Watched};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use limits::Caps;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Files kept for other uses than client connections: the database pool and PostgreSQL
/// listener, Web Push's outgoing connections, refusals being written, logs and SQLite files.
const RESERVED_FILES: u64 = 256;

/// Raises the open-file limit and fits the connection cap under it (saying so).
pub fn fit_to_open_file_limit(settings: &ConnectionSettings) -> ConnectionSettings {
    let mut fitted = settings.clone();
    let Some((before, limit)) = crate::os::raise_open_file_limit() else {
        tracing::info!(max_connections = fitted.max_connections, "the open-file limit is unlimited");
        return fitted;
    };
    if limit > before {
        tracing::info!(from = before, to = limit, "raised the open-file limit to its hard limit");
    }
    // Half the files at least, when the limit is too low for the reserve.
    let allowed = limit.saturating_sub(RESERVED_FILES).max(limit / 2).max(1);
    let allowed = usize::try_from(allowed).unwrap_or(usize::MAX);
    if fitted.max_connections > allowed {
        tracing::warn!(
            max_connections = fitted.max_connections,
            open_file_limit = limit,
            using = allowed,
            "MAX_CONNECTIONS is more than the open-file limit allows ({RESERVED_FILES} files are kept for the \
             database and other files); raise the limit (ulimit -n, systemd LimitNOFILE=) to allow more"
        );
        fitted.max_connections = allowed;
    }
    tracing::info!(
        max_connections = fitted.max_connections,
        max_connections_per_ip = ?fitted.max_per_ip,
        open_file_limit = limit,
        header_timeout_secs = fitted.header_timeout.as_secs(),
        idle_timeout_secs = fitted.idle_timeout.as_secs(),
        "connection limits"
    );
    fitted
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` resolves, then
/// lets the requests in flight finish (connections close once their last response is sent).
pub async fn run(
    listener: TcpListener,
    router: Router,
    settings: &ConnectionSettings,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let settings = fit_to_open_file_limit(settings);
    run_fitted(listener, router, &settings, tls, shutdown).await
}

/// [`run`] with `settings` taken as they are (already fitted to the open-file limit, or small
/// enough not to matter: the metrics listener's).
pub async fn run_fitted(
    listener: TcpListener,
    router: Router,
    settings: &ConnectionSettings,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let settings = settings.clone();
    let caps = Caps::new(settings.max_connections, settings.max_per_ip);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The head deadline is [`activity`]'s (hyper's would also cut idle keep-alive short).
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be given back.
                tracing::error!(error = %e, "cannot accept connections; retrying in a second");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let slot = match caps.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) if tls.is_some() => {
                caps.refuse_by_closing(tcp, peer.ip(), why);
                continue;
            }
            Err(why) => {
                caps.refuse(tcp, peer.ip(), why);
                continue;
            }
        };
        // No Nagle delay: an event pushed to a waiting agent leaves at once, not 40 ms later.
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let (router, builder, timeouts) =
            (router.clone(), builder.clone(), (settings.header_timeout, settings.idle_timeout));
        let tls = tls.clone();
        tokio::spawn(async move {
            serve_connection(tcp, peer, tls, router, builder, watcher, timeouts).await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One connection, closed when it dawdles or when it is done. The TLS handshake, if any, is
/// part of the first request head's time: a client that never finishes it is closed as slow.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<Tls>>,
    router: Router,
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    (header_timeout, idle_timeout): (Duration, Duration),
) {
    let (activity, watchdog) = Activity::new();
    let expired = watchdog.expired(header_timeout, idle_timeout);
    let mut expired = std::pin::pin!(expired);
    let io = Watched::new(tcp, activity.clone());
    let Some(tls) = tls else {
        serve_http(io, peer, activity, router, builder, watcher, expired).await;
        return;
    };
    let handshake = tokio::select! {
        handshake = tls.accept(io) => handshake,
        _ = &mut expired => {
            tracing::debug!(%peer, "closed a connection: no TLS handshake in time");
            return;
        }
    };
    match handshake {
        Ok(Some(stream)) => serve_http(stream, peer, activity, router, builder, watcher, expired).await,
        // An ACME validation, answered.
        Ok(None) => {}
        Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
    }
}

/// HTTP/1.1 or HTTP/2 on an open (and, with TLS, handshaken) connection.
async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    activity: Arc<Activity>,
    router: Router,
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    expired: std::pin::Pin<&mut impl Future<Output = Dawdled>>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // What `into_make_service_with_connect_info` would add: handlers see the peer.
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = activity.begin();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            Ok::<_, Infallible>(response.map(|body| Body::new(BusyBody::new(body, in_flight))))
        }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::select! {
        result = watcher.watch(connection.into_owned()) => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        why = expired => match why {
            // Nothing is in flight, so dropping the connection loses no answer.
            Dawdled::SlowHead => tracing::debug!(%peer, "closed a connection: no request head in time"),
            Dawdled::Idle => tracing::debug!(%peer, "closed an idle connection"),
        },
    }
}

/// Errors about one connection that went away before it was accepted: not the listener's.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
