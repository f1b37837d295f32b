//! Which push endpoints the server will POST to. The endpoint is a URL a browser (or anyone with
//! a session) hands us, so it is a server-side request forgery risk: only https on the default
//! port, only known push services' hosts, and only public addresses, checked when subscribing,
//! again when sending, and once more at connection time (so DNS rebinding gains nothing).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// Longest endpoint URL accepted; browsers' push services use far shorter ones.
pub const MAX_ENDPOINT_CHARS: usize = 2048;

/// The push services of Chrome/Android (FCM), Firefox (Mozilla autopush), Safari (Apple) and
/// Edge (Windows Push Notification Services), as host suffixes.
pub const DEFAULT_PUSH_HOSTS: &[&str] = &[
    "fcm.googleapis.com",
    "android.googleapis.com",
    "push.services.mozilla.com",
    "push.apple.com",
    "notify.windows.com",
];

/// Where pushes may go.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    /// Host suffixes push endpoints must end with (at a label boundary); `None` for any public host.
    pub allowed_hosts: Option<Vec<String>>,
    /// Development and tests only: also `http` on loopback hosts.
    pub allow_http_loopback: bool,
}

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: Some(DEFAULT_PUSH_HOSTS.iter().map(|h| (*h).to_owned()).collect()),
            allow_http_loopback: false,
        }
    }
}

impl PushPolicy {
    /// From `PUSH_ALLOWED_HOSTS`: empty for the defaults, `*` for any public host, else a
    /// comma-separated list of host suffixes.
    pub fn from_setting(allowed_hosts: &str, allow_http_loopback: bool) -> Self {
        let list: Vec<String> = allowed_hosts
            .split(',')
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let allowed_hosts = match list.as_slice() {
            [] => PushPolicy::default().allowed_hosts,
            [star] if star == "*" => None,
            _ => Some(list),
        };
        Self { allowed_hosts, allow_http_loopback }
    }

    fn host_allowed(&self, host: &str) -> bool {
        match &self.allowed_hosts {
            None => true,
            Some(list) => list.iter().any(|suffix| host == suffix || host.ends_with(&format!(".{suffix}"))),
        }
    }
}

/// Why a push endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`endpoint` must be an https URL of a push service, on the default port, without credentials")]
    NotHttps,
    #[error("`endpoint` is not a push service this server sends to (see PUSH_ALLOWED_HOSTS)")]
    HostNotAllowed,
    #[error("`endpoint` names an IP address; push services are named by their host")]
    AddressLiteral,
}

/// The one rule for push endpoints, applied when subscribing and again before sending.
pub fn check_endpoint(endpoint: &str, policy: &PushPolicy) -> Result<Url, EndpointError> {
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(EndpointError::NotHttps);
    }
    let url = Url::parse(endpoint).map_err(|_| EndpointError::NotHttps)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::NotHttps);
    }
    if policy.allow_http_loopback && is_loopback_host(&url) && matches!(url.scheme(), "http" | "https") {
        return Ok(url);
    }
    // `port()` is None for the scheme's default port.
    if url.scheme() != "https" || url.port().is_some() {
        return Err(EndpointError::NotHttps);
    }
    match url.host() {
        Some(Host::Domain(host)) if policy.host_allowed(host) => Ok(url),
        Some(Host::Domain(_)) => Err(EndpointError::HostNotAllowed),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => Err(EndpointError::AddressLiteral),
        None => Err(EndpointError::NotHttps),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        // The URL parser lowercases domains.
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// Whether `ip` is an address on the public internet (not private, loopback, link-local, shared,
/// documentation, multicast or otherwise special). An IPv6 address that stands for an IPv4 one
/// (mapped, compatible, translated, 6to4, Teredo) is judged by that IPv4 address: packets to it
/// end up there.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address inside an IPv6 address of a transition form, if it is one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match ip.segments() {
        // ::a.b.c.d (compatible, which includes :: and ::1), ::ffff:a.b.c.d (mapped) and
        // ::ffff:0:a.b.c.d (SIIT translated).
        [0, 0, 0, 0, 0, 0 | 0xffff, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(v4(hi, lo)),
        // 6to4, 2002:AABB:CCDD::/48.
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        // Teredo, 2001:0::/32: the client's address is the last 32 bits, inverted.
        [0x2001, 0, _, _, _, _, hi, lo] => Some(Ipv4Addr::from(!u32::from(v4(hi, lo)))),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16: cloud metadata services live here
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || a >= 240; // reserved
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let special = ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 (and local NAT64), reaching IPv4 space
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]; // discard-only
    !special
}

/// A resolver that only hands out public addresses, so that a push host whose name points at an
/// internal address (or starts to, DNS rebinding) is never connected to.
pub struct PublicOnly {
    pub allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let usable: Vec<SocketAddr> =
                found.filter(|a| is_public(a.ip()) || (allow_loopback && a.ip().is_loopback())).collect();
            if usable.is_empty() {
                return Err(format!("{host} resolves to no public address; refusing to connect").into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_push_services_on_the_default_port() {
        let strict = PushPolicy::default();
        let ok = |e: &str, p: &PushPolicy| check_endpoint(e, p).is_ok();
        assert!(ok("https://fcm.googleapis.com/fcm/send/abc", &strict));
        assert!(ok("https://updates.push.services.mozilla.com/wpush/v2/abc", &strict));
        assert!(ok("https://web.push.apple.com/abc", &strict));
        assert!(ok("https://wns2-by3p.notify.windows.com/w/?token=abc", &strict));
        assert_eq!(check_endpoint("http://fcm.googleapis.com/x", &strict), Err(EndpointError::NotHttps));
        assert_eq!(
            check_endpoint("https://fcm.googleapis.com:8443/x", &strict),
            Err(EndpointError::NotHttps)
        );
        assert_eq!(check_endpoint("https://evil.example/x", &strict), Err(EndpointError::HostNotAllowed));
        assert_eq!(
            check_endpoint("https://notfcm.googleapis.com.evil.example/x", &strict),
            Err(EndpointError::HostNotAllowed)
        );
        assert_eq!(
            check_endpoint("https://169.254.169.254/latest", &strict),
            Err(EndpointError::AddressLiteral)
        );
        assert_eq!(check_endpoint("https://[::1]/x", &strict), Err(EndpointError::AddressLiteral));
        assert_eq!(check_endpoint("https://u:p@fcm.googleapis.com/x", &strict), Err(EndpointError::NotHttps));
        assert_eq!(check_endpoint("http://127.0.0.1:8080/x", &strict), Err(EndpointError::NotHttps));
        assert!(
            check_endpoint(
                &format!("https://fcm.googleapis.com/{}", "a".repeat(MAX_ENDPOINT_CHARS)),
                &strict
            )
            .is_err()
        );

        let any = PushPolicy::from_setting("*", false);
        assert!(ok("https://push.example.com/x", &any));
        assert!(!ok("https://10.0.0.1/x", &any));
        let own = PushPolicy::from_setting("push.example.com, .other.example", false);
        assert!(ok("https://a.push.example.com/x", &own) && ok("https://x.other.example/y", &own));
        assert!(!ok("https://fcm.googleapis.com/x", &own));

        let dev = PushPolicy { allow_http_loopback: true, ..PushPolicy::default() };
        assert!(
            ok("http://127.0.0.1:8080/x", &dev)
                && ok("http://[::1]:9/x", &dev)
                && ok("http://localhost:9/x", &dev)
        );
        assert!(!ok("http://10.0.0.1/x", &dev) && !ok("http://localhost.example.com/x", &dev));
    }

    /// IPv6 forms that carry an IPv4 address are judged by it: private inside, not public.
    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_inside() {
        for (private, form) in [
            ("::ffff:127.0.0.1", "mapped"),
            ("::ffff:169.254.169.254", "mapped"),
            ("::127.0.0.1", "compatible"),
            ("::10.0.0.1", "compatible"),
            ("::ffff:0:192.168.0.1", "translated"),
            ("2002:7f00:0001::", "6to4"),
            ("2002:a9fe:a9fe::1", "6to4"),
            ("2002:c0a8:0101:1::1", "6to4"),
            // Teredo: server 65.54.227.120, client 127.0.0.1 (inverted: 80ff:fffe).
            ("2001:0000:4136:e378:8000:63bf:80ff:fffe", "Teredo"),
            // Teredo: client 10.0.0.1 (inverted: f5ff:fffe).
            ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"),
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private} ({form}) is not public");
        }
        for (public, form) in [
            ("::ffff:8.8.8.8", "mapped"),
            ("::8.8.8.8", "compatible"),
            ("::ffff:0:8.8.8.8", "translated"),
            ("2002:0808:0808::1", "6to4"),
            // Teredo: client 8.8.8.8 (inverted: f7f7:f7f7).
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo"),
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public} ({form}) is public");
        }
    }

    #[test]
    fn only_public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private} is not public");
        }
        for public in ["8.8.8.8", "142.250.74.78", "2a00:1450:4001:80b::200a", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().expect("ip")), "{public} is public");
        }
    }
}
