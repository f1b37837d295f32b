//! What one connection is doing, and when it has dawdled long enough to be closed.
//!
//! hyper's own `header_read_timeout` starts again the moment a kept-alive connection goes idle,
//! so it would close idle connections after the header timeout and there would be no separate
//! idle timeout. So the connection's phase is tracked here instead:
//! - `Head`: waiting for a request head, since the connection opened or since the first byte
//!   after an idle pause; closed after the header timeout (slow-header clients);
//! - `Busy`: requests in flight (from the head being read until the response body is done,
//!   so long polls and event streams count); never closed for time;
//! - `Idle`: no request in flight and nothing received; closed after the idle timeout.

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
enum Phase {
    Head(Instant),
    Busy(usize),
    Idle(Instant),
}

/// Shared by the connection's reader, its requests and its watchdog.
#[derive(Debug)]
pub struct Activity(watch::Sender<Phase>);

impl Activity {
    /// A connection just accepted: its first request head is due within the header timeout.
    pub fn new() -> (Arc<Self>, Watchdog) {
        let (tx, rx) = watch::channel(Phase::Head(Instant::now()));
        (Arc::new(Self(tx)), Watchdog(rx))
    }

    /// Bytes arrived. After an idle pause they start a request head, which is now due.
    fn received(&self) {
        self.0.send_if_modified(|phase| match phase {
            Phase::Idle(_) => {
                *phase = Phase::Head(Instant::now());
                true
            }
            _ => false,
        });
    }

    /// A request head was read: the request is in flight until the returned guard is dropped
    /// (with the response body, once it has all been sent).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.0.send_modify(|phase| {
            *phase = match *phase {
                Phase::Busy(n) => Phase::Busy(n + 1),
                _ => Phase::Busy(1),
            }
        });
        InFlight(self.clone())
    }
}

/// One request in flight.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.send_modify(|phase| {
            *phase = match *phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now()),
            }
        });
    }
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dawdled {
    SlowHead,
    Idle,
}

pub struct Watchdog(watch::Receiver<Phase>);

impl Watchdog {
    /// Resolves when the connection has waited too long for a request head or sat idle too
    /// long; never while a request is in flight.
    pub async fn expired(mut self, header_timeout: Duration, idle_timeout: Duration) -> Dawdled {
        loop {
            let phase = *self.0.borrow_and_update();
            let (deadline, why) = match phase {
                Phase::Head(since) => (since + header_timeout, Dawdled::SlowHead),
                Phase::Idle(since) => (since + idle_timeout, Dawdled::Idle),
                Phase::Busy(_) => {
                    if self.0.changed().await.is_err() {
                        // The connection is gone; whoever awaits this stops on its own.
                        std::future::pending::<()>().await;
                    }
                    continue;
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    // A request that began at the deadline wins.
                    if !self.0.has_changed().unwrap_or(false) {
                        return why;
                    }
                }
                changed = self.0.changed() => {
                    if changed.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

/// The connection's socket, telling [`Activity`] when bytes arrive.
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.received();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A response body that keeps its request in flight until it is done (or dropped).
pub struct BusyBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl BusyBody {
    pub fn new(inner: axum::body::Body, in_flight: InFlight) -> Self {
        Self { inner, _in_flight: in_flight }
    }
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
