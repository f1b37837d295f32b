//! How many connections may be open, overall and per client address, and how a connection
//! beyond that is refused.
//!
//! A refused client gets a real answer rather than a bare reset: a minimal `HTTP/1.1 503` with
//! `Retry-After` and the API's error body, then the connection is closed. Writing it costs
//! little, and a client (or a person reading a load balancer's log) learns what happened and
//! when to come back. Refusals run few at a time: beyond that, sockets are closed at once.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Refusal answers being written at once; more refused connections are closed unanswered.
const REFUSALS_AT_ONCE: usize = 64;
/// How long one refusal may take (writing it, then reading what the client still sends so
/// that closing does not reset the connection before the answer is read).
const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// Seconds a refused client is told to wait.
const RETRY_AFTER_SECS: u64 = 5;
/// At most one warning about refused connections in this time.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerAddress(usize),
    Overall(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::PerAddress(n) => write!(
                f,
                "this address already has {n} connections open to the server, the most allowed \
                 (MAX_CONNECTIONS_PER_IP); close some, or retry in {RETRY_AFTER_SECS} s"
            ),
            Refusal::Overall(n) => write!(
                f,
                "the server already has {n} connections open, the most allowed (MAX_CONNECTIONS); \
                 retry in {RETRY_AFTER_SECS} s"
            ),
        }
    }
}

/// The per-address key: an IPv4 address, or an IPv6 /64 (what one host usually holds).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The open-connection counts.
pub struct Caps {
    overall: Arc<Semaphore>,
    max: usize,
    per_address: Option<usize>,
    open_per_address: Mutex<HashMap<IpAddr, usize>>,
    refusals: Arc<Semaphore>,
    warned: Mutex<(Option<Instant>, u64)>,
}

/// One admitted connection; its place is given back when this is dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    caps: Arc<Caps>,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            let mut open = self.caps.open_per_address.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = open.get_mut(&address) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&address);
                }
            }
        }
    }
}

impl Caps {
    pub fn new(max: usize, per_address: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            overall: Arc::new(Semaphore::new(max)),
            max,
            per_address,
            open_per_address: Mutex::default(),
            refusals: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            warned: Mutex::default(),
        })
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let Some(limit) = self.per_address else {
            let permit = self.overall.clone().try_acquire_owned().map_err(|_| Refusal::Overall(self.max))?;
            return Ok(Slot { _permit: permit, caps: self.clone(), address: None });
        };
        let address = address_key(ip);
        let mut open = self.open_per_address.lock().unwrap_or_else(PoisonError::into_inner);
        if open.get(&address).is_some_and(|&n| n >= limit) {
            return Err(Refusal::PerAddress(limit));
        }
        let permit = self.overall.clone().try_acquire_owned().map_err(|_| Refusal::Overall(self.max))?;
        *open.entry(address).or_insert(0) += 1;
        Ok(Slot { _permit: permit, caps: self.clone(), address: Some(address) })
    }

    /// Answers 503 and closes, in the background; or closes at once when many refusals are
    /// already being written.
    pub fn refuse(&self, mut tcp: TcpStream, peer: IpAddr, why: Refusal) {
        self.warn(peer, why);
        let Ok(permit) = self.refusals.clone().try_acquire_owned() else { return };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(REFUSAL_TIME, async {
                tcp.write_all(&refusal_response(why)).await?;
                tcp.shutdown().await?;
                // Reading what the client sent until it closes: closing with unread data would
                // reset the connection, and the client could lose the answer.
                let mut sink = [0u8; 4096];
                let mut left: usize = 64 * 1024;
                while left > 0 {
                    match tcp.read(&mut sink).await? {
                        0 => break,
                        n => left = left.saturating_sub(n),
                    }
                }
                Ok::<(), std::io::Error>(())
            })
            .await;
        });
    }

    /// Refuses by closing: on a TLS port a plain-HTTP 503 would be read as a broken handshake
    /// anyway, and answering in TLS would spend a handshake on every refusal.
    pub fn refuse_by_closing(&self, tcp: TcpStream, peer: IpAddr, why: Refusal) {
        self.warn(peer, why);
        drop(tcp);
    }

    /// One warning per [`WARN_EVERY`] at most, saying how many were refused meanwhile.
    fn warn(&self, peer: IpAddr, why: Refusal) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        warned.1 += 1;
        if warned.0.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        let refused = std::mem::take(&mut warned.1);
        warned.0 = Some(Instant::now());
        drop(warned);
        tracing::warn!(%peer, refused, reason = %why, "refusing connections: too many open");
    }
}

/// A complete HTTP/1.1 answer in the API's error shape, for a connection never handed to hyper.
fn refusal_response(why: Refusal) -> Vec<u8> {
    let body = serde_json::json!({ "error": { "code": "too_many_connections", "message": why.to_string() } })
        .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {RETRY_AFTER_SECS}\r\n\
         cache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_give_places_back() {
        let caps = Caps::new(3, Some(2));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = caps.admit(a);
        let second = caps.admit(a);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(caps.admit(a).err(), Some(Refusal::PerAddress(2)));
        let third = caps.admit(b);
        assert!(third.is_ok());
        assert_eq!(caps.admit(b).err(), Some(Refusal::Overall(3)));
        drop(first);
        assert!(caps.admit(b).is_ok(), "a closed connection gives its place back");
        drop((second, third));
        assert!(
            caps.open_per_address.lock().expect("lock").is_empty(),
            "closed connections leave no count behind"
        );
    }

    #[test]
    fn ipv6_addresses_are_counted_per_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("address");
        let same: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("address");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        assert_eq!(address_key(one), address_key(same));
        assert_ne!(address_key(one), address_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("address");
        assert_eq!(address_key(mapped), IpAddr::V4([10, 0, 0, 1].into()));
    }

    #[test]
    fn the_refusal_is_a_complete_answer_in_the_api_shape() {
        let text = String::from_utf8(refusal_response(Refusal::Overall(7))).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("retry-after: 5"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(json["error"]["code"], "too_many_connections");
        assert!(json["error"]["message"].as_str().is_some_and(|m| m.contains("MAX_CONNECTIONS")));
    }
}
