//! Settings, validated once at start: a server that would run unsafely refuses to start instead.

mod args;

pub use args::{ClockSource, DatabaseArgs, LogFormat, RegistrationMode, ServeArgs};
use std::fmt;
use std::path::PathBuf;
use url::Url;

pub const MIN_SECRET_BYTES: usize = 32;

/// A secret value whose `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct DatabaseSettings {
    pub url: String,
    pub backend: Backend,
    pub data_dir: PathBuf,
}

// By hand: the URL may carry the PostgreSQL password, and settings get logged.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("backend", &self.backend)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

/// How long connections may dawdle and how many may be open (see `crate::server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub header_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub max_connections: usize,
    /// `None`: no cap per client address.
    pub max_per_ip: Option<usize>,
}

/// How the server speaks HTTPS, if it does (see `crate::tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSettings {
    /// Plain HTTP (behind a reverse proxy that terminates TLS, or on localhost).
    Off,
    /// A certificate and key from files, reloaded when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate obtained and renewed over ACME.
    Acme(AcmeSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    pub domain: String,
    /// `mailto:` contact, if one was given.
    pub contact: Option<String>,
    pub directory: Url,
    /// Extra roots trusted for the directory's HTTPS (a private or test CA).
    pub ca_root: Option<PathBuf>,
    /// DATA_DIR/acme: the account key and certificates.
    pub cache_dir: PathBuf,
}

impl TlsSettings {
    pub fn is_on(&self) -> bool {
        !matches!(self, Self::Off)
    }

    fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let acme_domain = args.acme_domain.as_deref().map(str::trim).filter(|d| !d.is_empty());
        let files = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => return Err(ConfigError::HalfTls),
        };
        let Some(domain) = acme_domain else {
            if args.acme_email.is_some() || args.acme_ca_root.is_some() {
                return Err(ConfigError::AcmeWithoutDomain);
            }
            return Ok(match files {
                Some((cert, key)) => Self::Files { cert, key },
                None => Self::Off,
            });
        };
        if files.is_some() {
            return Err(ConfigError::TlsAndAcme);
        }
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if domain.len() > 253
            || !domain.split('.').all(label_ok)
            || domain.parse::<std::net::IpAddr>().is_ok()
        {
            return Err(ConfigError::BadAcmeDomain(domain));
        }
        let contact = match args.acme_email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(email) => {
                let address = email.strip_prefix("mailto:").unwrap_or(email);
                let valid = address.split_once('@').is_some_and(|(user, host)| {
                    !user.is_empty() && host.contains('.') && !address.contains(char::is_whitespace)
                });
                if !valid {
                    return Err(ConfigError::BadAcmeEmail(email.to_owned()));
                }
                Some(format!("mailto:{address}"))
            }
        };
        let directory = Url::parse(&args.acme_directory)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .ok_or_else(|| ConfigError::BadAcmeDirectory(args.acme_directory.clone()))?;
        Ok(Self::Acme(AcmeSettings {
            domain,
            contact,
            directory,
            ca_root: args.acme_ca_root.clone(),
            cache_dir: args.db.data_dir.join("acme"),
        }))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub database: DatabaseSettings,
    pub rp_id: String,
    pub rp_origin: Url,
    pub rp_name: String,
    pub jwt_secret: Option<Secret>,
    pub api_key_secret: Option<Secret>,
    pub cors_origins: Vec<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub vapid: Option<(String, Secret)>,
    pub vapid_subject: String,
    /// Accept `http` push endpoints on loopback hosts (development and tests only).
    pub push_allow_http_loopback: bool,
    pub registration_mode: RegistrationMode,
    pub session_ttl_secs: i64,
    pub approval_token_ttl_secs: i64,
    pub auth_rate_limit_per_min: u32,
    pub trust_forwarded_for: bool,
    /// `None`: no limit.
    pub max_pending_per_key: Option<i64>,
    /// `None`: never suspend.
    pub suspend_after_denials: Option<i64>,
    pub poll_rate_limit_per_min: u32,
    pub gate_rate_limit_per_min: u32,
    /// How long a gate decision made alone is kept; `None`: for ever.
    pub decision_retention: Option<std::time::Duration>,
    pub push_policy: crate::push_policy::PushPolicy,
    pub push_min_interval: std::time::Duration,
    /// Correct the local clock to PostgreSQL's (see [`crate::clock::DatabaseClock`]).
    pub use_database_clock: bool,
    pub connections: ConnectionSettings,
    pub tls: TlsSettings,
    /// Where `/metrics` is served; `None`: nowhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{} set but empty: an empty value is an error, not the default. Unset {} to use the default, or give a value",
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    EmptySettings(Vec<String>),
    #[error(
        "{name} is {len} bytes long; it must be at least {MIN_SECRET_BYTES} random bytes (try `openssl rand -base64 32`)"
    )]
    ShortSecret { name: &'static str, len: usize },
    #[error("{name} looks like a placeholder, not a random secret (try `openssl rand -base64 32`)")]
    WeakSecret { name: &'static str },
    #[error("WEBAUTHN_RP_ORIGIN `{0}` is not a valid URL")]
    BadOrigin(String),
    #[error(
        "WEBAUTHN_RP_ORIGIN `{origin}` is not under WEBAUTHN_RP_ID `{rp_id}`: passkeys would never work. Use the same domain or a subdomain of it"
    )]
    OriginNotUnderRpId { origin: String, rp_id: String },
    #[error("WEBAUTHN_RP_ORIGIN must use https unless its host is localhost; got `{0}`")]
    InsecureOrigin(String),
    #[error("DATABASE_URL must start with sqlite:// or postgres://; got `{0}`")]
    BadDatabaseUrl(String),
    #[error("set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither (then a pair is generated)")]
    HalfVapid,
    #[error("APPROVAL_TOKEN_TTL_SECONDS must be between 10 and 600; got {0}")]
    TokenTtl(u32),
    #[error("SESSION_TTL_SECONDS must be between 60 and 2592000 (30 days); got {0}")]
    SessionTtl(u32),
    #[error("AUTH_RATE_LIMIT must be at least 1 per minute")]
    RateLimit,
    #[error(
        "set both TLS_CERT and TLS_KEY (the certificate chain and its private key, PEM files), or neither"
    )]
    HalfTls,
    #[error(
        "set either TLS_CERT and TLS_KEY (your own certificate) or ACME_DOMAIN (a certificate obtained automatically), not both"
    )]
    TlsAndAcme,
    #[error(
        "ACME_EMAIL and ACME_CA_ROOT only apply with ACME_DOMAIN: set ACME_DOMAIN to the domain to get a certificate for"
    )]
    AcmeWithoutDomain,
    #[error(
        "ACME_DOMAIN must be one domain name such as gate.example.com (no scheme, port, path or IP address); got `{0}`"
    )]
    BadAcmeDomain(String),
    #[error("ACME_EMAIL must be an email address such as admin@example.com; got `{0}`")]
    BadAcmeEmail(String),
    #[error("ACME_DIRECTORY must be an https:// URL of an ACME directory; got `{0}`")]
    BadAcmeDirectory(String),
    #[error(
        "METRICS_ADDR `{0}` is not an IP address and port; use e.g. 127.0.0.1:9464 (or unset it to turn metrics off)"
    )]
    BadMetricsAddr(String),
    #[error(
        "METRICS_ADDR `{0}` uses PORT {1}: metrics must have a port of their own, away from the public one"
    )]
    MetricsOnPublicPort(String, u16),
    #[error("{name} must be between {min} and {max}; got {value}")]
    OutOfRange { name: &'static str, value: u32, min: u32, max: u32 },
}

fn in_range(name: &'static str, value: u32, min: u32, max: u32) -> Result<u32, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange { name, value, min, max })
    }
}

impl ConnectionSettings {
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let secs = |s: u32| std::time::Duration::from_secs(u64::from(s));
        let header = in_range("HEADER_TIMEOUT_SECONDS", args.header_timeout_seconds, 1, 300)?;
        let idle = in_range("IDLE_TIMEOUT_SECONDS", args.idle_timeout_seconds, 1, 3_600)?;
        let max = in_range("MAX_CONNECTIONS", args.max_connections, 1, 1_000_000)?;
        // 0 turns the per-address cap off (behind a proxy every connection has one address).
        let per_ip = in_range("MAX_CONNECTIONS_PER_IP", args.max_connections_per_ip, 0, 1_000_000)?;
        Ok(Self {
            header_timeout: secs(header),
            idle_timeout: secs(idle),
            max_connections: max as usize,
            max_per_ip: (per_ip > 0).then_some(per_ip as usize),
        })
    }
}

impl DatabaseSettings {
    pub fn from_args(args: &DatabaseArgs) -> Result<Self, ConfigError> {
        let url = match &args.database_url {
            Some(u) if !u.trim().is_empty() => u.trim().to_owned(),
            _ => format!("sqlite://{}?mode=rwc", args.data_dir.join("clawgate.db").display()),
        };
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(ConfigError::BadDatabaseUrl(redact_url(&url)));
        };
        let url = if backend == Backend::Sqlite { creating_sqlite(url) } else { url };
        Ok(Self { url, backend, data_dir: args.data_dir.clone() })
    }
}

/// A `sqlite://` URL that names no `mode` gets `mode=rwc`: the file is created on first start,
/// like the default database, instead of failing with "unable to open database file". A URL that
/// names a mode (`?mode=ro`) or an in-memory database is left as given.
fn creating_sqlite(url: String) -> String {
    let (_, query) = url.split_once('?').unwrap_or((&url, ""));
    let names_mode = query.split('&').any(|pair| pair.starts_with("mode="));
    if names_mode || url.contains(":memory:") {
        return url;
    }
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}mode=rwc")
}

/// The URL without its password (in the user-info part or a `password=` parameter), for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else {
        // Not a URL we can take apart: hide whatever stands before the host.
        return match (url.split_once("://"), url.rsplit_once('@')) {
            (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
            _ => url.to_owned(),
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    let secret_param = |k: &str| k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
    if u.query_pairs().any(|(k, _)| secret_param(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_param(&k) { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// METRICS_ADDR, parsed; unset or blank is off. Its port must not be the public one.
fn metrics_addr(args: &ServeArgs) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let Some(text) = args.metrics_addr.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr =
        text.parse().map_err(|_| ConfigError::BadMetricsAddr(text.to_owned()))?;
    if addr.port() != 0 && addr.port() == args.port {
        return Err(ConfigError::MetricsOnPublicPort(text.to_owned(), args.port));
    }
    Ok(Some(addr))
}

fn secret(name: &'static str, value: &Option<String>) -> Result<Option<Secret>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    let bytes = v.as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::ShortSecret { name, len: bytes.len() });
    }
    let mut distinct: Vec<u8> = bytes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let lower = v.to_ascii_lowercase();
    let placeholder = ["changeme", "change-me", "change_me", "your-secret", "your_secret", "secret-here"]
        .iter()
        .any(|p| lower.contains(p));
    if distinct.len() < 8 || placeholder {
        return Err(ConfigError::WeakSecret { name });
    }
    Ok(Some(Secret::new(bytes.to_vec())))
}

/// The RP ID and origin: as given, else derived from how the server is reached. With ACME the
/// domain is known, so passkeys are bound to it; with TLS files the default stays localhost, over
/// https. (`localhost` is WEBAUTHN_RP_ID's default, so it counts as not given.)
fn rp_defaults(args: &ServeArgs, tls: &TlsSettings) -> (String, String) {
    let acme_domain = match tls {
        TlsSettings::Acme(acme) => Some(acme.domain.as_str()),
        _ => None,
    };
    let rp_id = match acme_domain {
        Some(domain) if args.rp_id == "localhost" => domain.to_owned(),
        _ => args.rp_id.clone(),
    };
    let origin = args.rp_origin.clone().unwrap_or_else(|| match acme_domain {
        Some(domain) if args.port == 443 => format!("https://{domain}"),
        Some(domain) => format!("https://{domain}:{}", args.port),
        None if tls.is_on() => format!("https://localhost:{}", args.port),
        None => format!("http://localhost:{}", args.port),
    });
    (rp_id, origin)
}

/// True when `host` is `rp_id` or a subdomain of it.
pub fn host_under_rp_id(host: &str, rp_id: &str) -> bool {
    host == rp_id || host.ends_with(&format!(".{rp_id}"))
}

/// The settings of `args` (a clap `Args` type) that the environment sets to nothing: clap reads
/// an empty variable as unset, which would quietly stand for the default.
pub fn empty_settings<A: clap::Args>() -> Result<(), ConfigError> {
    let command = A::augment_args(clap::Command::new("settings"));
    let empty: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .filter(|name| std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty()))
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    if empty.is_empty() { Ok(()) } else { Err(ConfigError::EmptySettings(empty)) }
}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        empty_settings::<ServeArgs>()?;
        let database = DatabaseSettings::from_args(&args.db)?;
        let use_database_clock =
            args.clock_source == ClockSource::Database && database.backend == Backend::Postgres;
        let tls = TlsSettings::from_args(args)?;
        let (rp_id, origin_text) = rp_defaults(args, &tls);
        let rp_origin = Url::parse(&origin_text).map_err(|_| ConfigError::BadOrigin(origin_text.clone()))?;
        let host = rp_origin.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(ConfigError::BadOrigin(origin_text));
        }
        if !host_under_rp_id(&host, &rp_id) {
            return Err(ConfigError::OriginNotUnderRpId { origin: origin_text, rp_id });
        }
        if rp_origin.scheme() != "https" && host != "localhost" {
            return Err(ConfigError::InsecureOrigin(origin_text));
        }
        let vapid = match (&args.vapid_public_key, &args.vapid_private_key) {
            (Some(p), Some(s)) => Some((p.clone(), Secret::new(s.as_bytes().to_vec()))),
            (None, None) => None,
            _ => return Err(ConfigError::HalfVapid),
        };
        if !(10..=600).contains(&args.approval_token_ttl_seconds) {
            return Err(ConfigError::TokenTtl(args.approval_token_ttl_seconds));
        }
        if !(60..=2_592_000).contains(&args.session_ttl_seconds) {
            return Err(ConfigError::SessionTtl(args.session_ttl_seconds));
        }
        if args.auth_rate_limit == 0 {
            return Err(ConfigError::RateLimit);
        }
        let origin_string = rp_origin.origin().ascii_serialization();
        let cors_origins = match &args.cors_origins {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => vec![origin_string],
        };
        Ok(Self {
            host: args.host.clone(),
            port: args.port,
            database,
            rp_id,
            rp_origin,
            rp_name: args.rp_name.clone(),
            jwt_secret: secret("JWT_SECRET", &args.jwt_secret)?,
            api_key_secret: secret("API_KEY_SECRET", &args.api_key_secret)?,
            cors_origins,
            log_level: args.log_level.clone(),
            log_format: args.log_format,
            vapid,
            vapid_subject: args.vapid_subject.clone(),
            push_allow_http_loopback: args.push_allow_http_loopback,
            registration_mode: args.registration_mode,
            session_ttl_secs: i64::from(args.session_ttl_seconds),
            approval_token_ttl_secs: i64::from(args.approval_token_ttl_seconds),
            auth_rate_limit_per_min: args.auth_rate_limit,
            trust_forwarded_for: args.trust_forwarded_for,
            max_pending_per_key: (args.max_pending_per_key > 0)
                .then_some(i64::from(args.max_pending_per_key)),
            suspend_after_denials: (args.suspend_after_denials > 0)
                .then_some(i64::from(args.suspend_after_denials)),
            poll_rate_limit_per_min: args.poll_rate_limit.max(1),
            gate_rate_limit_per_min: args.gate_rate_limit.max(1),
            decision_retention: (args.decision_retention_days > 0)
                .then(|| std::time::Duration::from_secs(u64::from(args.decision_retention_days) * 86_400)),
            push_policy: crate::push_policy::PushPolicy::from_setting(
                &args.push_allowed_hosts,
                args.push_allow_http_loopback,
            ),
            push_min_interval: std::time::Duration::from_secs(u64::from(args.push_min_interval_seconds)),
            use_database_clock,
            connections: ConnectionSettings::from_args(args)?,
            tls,
            metrics_addr: metrics_addr(args)?,
        })
    }

    /// Cookies are `Secure` whenever the app is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.rp_origin.scheme() == "https"
    }

    /// The `iss` of every token this server signs.
    pub fn issuer(&self) -> String {
        self.rp_origin.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `clawgate serve`'s flags alone, as the binary parses them.
    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn flags_alone_leave_every_other_setting_at_its_default() {
        let args = ServeArgs::from_flags(&["--port", "4000"]).expect("parses");
        assert_eq!((args.host.as_str(), args.port, args.rp_id.as_str()), ("127.0.0.1", 4000, "localhost"));
        assert_eq!(args.db.data_dir, std::path::PathBuf::from("./data"));
        assert_eq!(args.db.database_url, None);
        assert_eq!(args.registration_mode, RegistrationMode::Open);
        assert_eq!(args.clock_source, ClockSource::Database);
        assert_eq!((args.auth_rate_limit, args.max_pending_per_key, args.gate_rate_limit), (30, 10, 600));
        assert!(ServeArgs::from_flags(&["--no-such-flag"]).is_err());
    }

    #[test]
    fn a_sqlite_url_without_a_mode_creates_its_file() {
        let url = |u: &str| {
            let args = DatabaseArgs { data_dir: "./data".into(), database_url: Some(u.into()) };
            DatabaseSettings::from_args(&args).map(|s| s.url).unwrap_or_default()
        };
        assert_eq!(
            url("sqlite:///var/lib/clawgate/clawgate.db"),
            "sqlite:///var/lib/clawgate/clawgate.db?mode=rwc"
        );
        assert_eq!(url("sqlite://data/x.db?cache=shared"), "sqlite://data/x.db?cache=shared&mode=rwc");
        assert_eq!(url("sqlite:///srv/x.db?mode=ro"), "sqlite:///srv/x.db?mode=ro");
        assert_eq!(url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(url("postgres://db/x"), "postgres://db/x");
    }

    fn parse(extra: &[&str]) -> Result<Settings, ConfigError> {
        let mut argv = vec!["clawgate"];
        argv.extend_from_slice(extra);
        let serve = Serve::try_parse_from(argv).map_err(|e| ConfigError::BadOrigin(e.to_string()))?;
        Settings::from_args(&serve.args)
    }

    #[test]
    fn origin_must_be_under_rp_id() {
        assert!(parse(&["--rp-id", "example.com", "--rp-origin", "https://gate.example.com"]).is_ok());
        assert!(matches!(
            parse(&["--rp-id", "example.com", "--rp-origin", "https://evil.com"]),
            Err(ConfigError::OriginNotUnderRpId { .. })
        ));
        assert!(matches!(
            parse(&["--rp-id", "example.com", "--rp-origin", "https://notexample.com"]),
            Err(ConfigError::OriginNotUnderRpId { .. })
        ));
        assert!(matches!(
            parse(&["--rp-id", "example.com", "--rp-origin", "http://gate.example.com"]),
            Err(ConfigError::InsecureOrigin(_))
        ));
    }

    #[test]
    fn short_and_placeholder_secrets_are_refused() {
        assert!(matches!(
            parse(&["--jwt-secret", "short"]),
            Err(ConfigError::ShortSecret { name: "JWT_SECRET", len: 5 })
        ));
        assert!(matches!(parse(&["--api-key-secret", &"a".repeat(40)]), Err(ConfigError::WeakSecret { .. })));
        assert!(matches!(
            parse(&["--jwt-secret", "changeme-changeme-changeme-changeme-123"]),
            Err(ConfigError::WeakSecret { .. })
        ));
        assert!(parse(&["--jwt-secret", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo="]).is_ok());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = parse(&[]).ok();
        let s = s.as_ref();
        assert_eq!(s.map(|s| s.port), Some(3000));
        assert_eq!(s.map(|s| s.rp_id.as_str()), Some("localhost"));
        assert_eq!(s.map(|s| s.rp_origin.as_str()), Some("http://localhost:3000/"));
        assert_eq!(s.map(|s| s.database.backend), Some(Backend::Sqlite));
        assert_eq!(s.map(|s| s.cors_origins.clone()), Some(vec!["http://localhost:3000".to_owned()]));
    }

    #[test]
    fn gate_calls_are_limited_and_decisions_kept_90_days_by_default() {
        let s = parse(&[]).ok();
        assert_eq!(s.as_ref().map(|s| s.gate_rate_limit_per_min), Some(600));
        assert_eq!(s.and_then(|s| s.decision_retention), Some(std::time::Duration::from_secs(90 * 86_400)));
        let forever = parse(&["--decision-retention-days", "0", "--gate-rate-limit", "0"]).ok();
        assert_eq!(forever.as_ref().map(|s| s.decision_retention), Some(None), "0 keeps every decision");
        assert_eq!(forever.map(|s| s.gate_rate_limit_per_min), Some(1));
    }

    #[test]
    fn database_settings_debug_hides_the_postgres_password() {
        for url in [
            "postgres://clawgate:hunter2-Secret@db.internal:5432/clawgate",
            "postgresql://clawgate@db.internal/clawgate?sslmode=require&password=hunter2-Secret",
        ] {
            let s = parse(&["--database-url", url]).ok();
            let shown = format!("{:?}", s.as_ref().map(|s| &s.database));
            assert!(shown.contains("db.internal"), "{shown}");
            assert!(!shown.contains("hunter2-Secret"), "the password leaks through Debug: {shown}");
            let whole = format!("{s:?}");
            assert!(!whole.contains("hunter2-Secret"), "the password leaks through Settings' Debug");
        }
        assert_eq!(redact_url("postgres://u:hunter2@[db/x"), "postgres://***@[db/x");
    }

    #[test]
    fn connection_settings_are_validated() {
        let s = parse(&[]).ok();
        let c = s.map(|s| s.connections);
        assert_eq!(c.as_ref().map(|c| c.header_timeout.as_secs()), Some(10));
        assert_eq!(c.as_ref().map(|c| c.idle_timeout.as_secs()), Some(60));
        assert_eq!(c.as_ref().map(|c| c.max_connections), Some(10_000));
        assert_eq!(c.as_ref().and_then(|c| c.max_per_ip), Some(256));
        let off = parse(&["--max-connections-per-ip", "0"]).ok();
        assert_eq!(off.map(|s| s.connections.max_per_ip), Some(None));
        for (flag, value) in [
            ("--header-timeout-seconds", "0"),
            ("--idle-timeout-seconds", "0"),
            ("--idle-timeout-seconds", "3601"),
            ("--max-connections", "0"),
        ] {
            let e = parse(&[flag, value]).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("must be between"), "{flag} {value}: {e}");
        }
    }

    #[test]
    fn tls_files_come_as_a_pair_and_exclude_acme() {
        assert!(matches!(parse(&["--tls-cert", "c.pem"]), Err(ConfigError::HalfTls)));
        assert!(matches!(parse(&["--tls-key", "k.pem"]), Err(ConfigError::HalfTls)));
        let s = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).ok();
        assert_eq!(
            s.as_ref().map(|s| s.tls.clone()),
            Some(TlsSettings::Files { cert: "c.pem".into(), key: "k.pem".into() })
        );
        // Served over TLS, the default origin is https (still localhost).
        assert_eq!(s.as_ref().map(|s| s.rp_origin.as_str()), Some("https://localhost:3000/"));
        assert!(s.is_some_and(|s| s.secure_cookies()));
        assert!(matches!(
            parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-domain", "gate.example.com"]),
            Err(ConfigError::TlsAndAcme)
        ));
        assert!(matches!(parse(&["--acme-email", "a@example.com"]), Err(ConfigError::AcmeWithoutDomain)));
        assert!(matches!(parse(&["--acme-ca-root", "ca.pem"]), Err(ConfigError::AcmeWithoutDomain)));
        assert_eq!(parse(&[]).ok().map(|s| s.tls), Some(TlsSettings::Off));
    }

    #[test]
    fn acme_settings_are_validated() {
        for bad in ["https://gate.example.com", "gate.example.com:443", "127.0.0.1", "a..b", "-x.com", "a b"]
        {
            let flag = format!("--acme-domain={bad}");
            assert!(matches!(parse(&[&flag]), Err(ConfigError::BadAcmeDomain(_))), "{bad} is refused");
        }
        let base = ["--acme-domain", "gate.example.com"];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert!(matches!(with(&["--acme-email", "nobody"]), Err(ConfigError::BadAcmeEmail(_))));
        assert!(matches!(
            with(&["--acme-directory", "http://ca.test/dir"]),
            Err(ConfigError::BadAcmeDirectory(_))
        ));
        let s = with(&["--acme-email", "admin@example.com", "--data-dir", "/srv/cg"]).ok();
        let Some(TlsSettings::Acme(acme)) = s.map(|s| s.tls) else { panic!("ACME settings") };
        assert_eq!(acme.domain, "gate.example.com");
        assert_eq!(acme.contact.as_deref(), Some("mailto:admin@example.com"));
        assert_eq!(acme.directory.as_str(), "https://acme-v02.api.letsencrypt.org/directory");
        assert_eq!(acme.cache_dir, std::path::Path::new("/srv/cg/acme"));
        // Upper case and a trailing dot name the same domain.
        let s = parse(&["--acme-domain", "Gate.Example.COM."]).ok();
        assert_eq!(s.map(|s| s.rp_id), Some("gate.example.com".to_owned()));
    }

    #[test]
    fn acme_derives_the_relying_party_unless_given() {
        let s = parse(&["--acme-domain", "gate.example.com", "--port", "443"]).ok();
        assert_eq!(s.as_ref().map(|s| s.rp_id.as_str()), Some("gate.example.com"));
        assert_eq!(s.as_ref().map(|s| s.rp_origin.as_str()), Some("https://gate.example.com/"));
        assert_eq!(s.map(|s| s.cors_origins), Some(vec!["https://gate.example.com".to_owned()]));
        let s = parse(&["--acme-domain", "gate.example.com", "--port", "8443"]).ok();
        assert_eq!(s.map(|s| s.rp_origin.to_string()), Some("https://gate.example.com:8443/".to_owned()));
        // Given settings win, and still have to fit together.
        let s = parse(&["--acme-domain", "gate.example.com", "--rp-id", "example.com"]).ok();
        assert_eq!(s.as_ref().map(|s| s.rp_id.as_str()), Some("example.com"));
        assert_eq!(s.map(|s| s.rp_origin.to_string()), Some("https://gate.example.com:3000/".to_owned()));
        assert!(matches!(
            parse(&["--acme-domain", "gate.example.com", "--rp-origin", "https://other.example.org"]),
            Err(ConfigError::OriginNotUnderRpId { .. })
        ));
    }

    #[test]
    fn metrics_are_off_by_default_and_their_address_is_checked() {
        assert_eq!(parse(&[]).ok().map(|s| s.metrics_addr), Some(None));
        let on = parse(&["--metrics-addr", "127.0.0.1:9464"]).ok().and_then(|s| s.metrics_addr);
        assert_eq!(on.map(|a| a.to_string()), Some("127.0.0.1:9464".to_owned()));
        assert!(matches!(parse(&["--metrics-addr", "localhost"]), Err(ConfigError::BadMetricsAddr(_))));
        assert!(matches!(
            parse(&["--metrics-addr", "0.0.0.0:3000"]),
            Err(ConfigError::MetricsOnPublicPort(_, 3000))
        ));
    }

    #[test]
    fn unknown_database_schemes_are_refused() {
        assert!(matches!(parse(&["--database-url", "mysql://x@y/z"]), Err(ConfigError::BadDatabaseUrl(_))));
    }
}
