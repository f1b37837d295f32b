//! HTTPS built in, on the real binary: certificate files (served, swapped when they change, a
//! broken replacement ignored, refused at start when unusable), the handshake under the header
//! deadline, and ACME end to end against Pebble (a local ACME server) with a real TLS client.

use crate::harness::serve::{clawgate, free_port};
use crate::harness::{current_test, skip};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate and key for `names`, self-signed: (certificate PEM, key PEM, certificate DER).
fn self_signed(names: &[&str]) -> (String, String, Vec<u8>) {
    let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let made = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (made.cert.pem(), made.key_pair.serialize_pem(), made.cert.der().to_vec())
}

fn tls_client_config(roots: &[&[u8]]) -> rustls::ClientConfig {
    let mut store = rustls::RootCertStore::empty();
    for der in roots {
        store.add(CertificateDer::from(der.to_vec())).expect("a usable root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// An HTTPS client that trusts only `roots`, reaching `name` at 127.0.0.1:`port`.
fn https_client(roots: &[&[u8]], name: &str, port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_client_config(roots))
        .resolve(name, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The certificate a fresh connection is shown (verified against `roots`), or why there is none.
async fn presented(port: u16, name: &str, roots: &[&[u8]]) -> Result<Vec<u8>, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_client_config(roots)));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let handshake = tokio::time::timeout(Duration::from_secs(10), connector.connect(server_name, tcp));
    let tls = handshake.await.map_err(|_| "handshake timed out".to_owned())?.map_err(|e| e.to_string())?;
    let (_, connection) = tls.get_ref();
    let first = connection.peer_certificates().and_then(|chain| chain.first());
    first.map(|c| c.to_vec()).ok_or_else(|| "no certificate".to_owned())
}

/// Polls `check` until it gives a value, failing with `what` after `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `clawgate serve` with its output in a file, so a test can wait for any line, early or late;
/// stopped (SIGTERM) when dropped.
struct Gate {
    child: Child,
    log: std::path::PathBuf,
}

impl Gate {
    /// Starts it and waits until it says it listens.
    async fn start(mut cmd: Command, log: std::path::PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .arg("serve")
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn clawgate");
        let gate = Self { child, log };
        gate.line("clawgate is listening", Duration::from_secs(60)).await;
        gate
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a line of its output that contains `text`; returns it.
    async fn line(&self, text: &str, limit: Duration) -> String {
        eventually(limit, &format!("the server to print `{text}`"), || async {
            self.logs().lines().find(|l| l.contains(text)).map(str::to_owned)
        })
        .await
    }

    /// Stops it gracefully; returns all it printed.
    fn stop(mut self) -> String {
        self.terminate();
        self.logs()
    }

    fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("key.pem"), key).expect("write key");
    std::fs::write(dir.join("cert.pem"), cert).expect("write cert");
}

fn with_tls_files(dir: &Path, port: u16) -> Command {
    let mut cmd = clawgate(dir);
    cmd.env("PORT", port.to_string())
        .env("TLS_CERT", dir.join("cert.pem"))
        .env("TLS_KEY", dir.join("key.pem"))
        .env("HEADER_TIMEOUT_SECONDS", "1");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_are_served_and_swapped_when_they_change() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert1, key1, der1) = self_signed(&["localhost"]);
    let (cert2, key2, der2) = self_signed(&["localhost"]);
    write_pair(dir.path(), &cert1, &key1);
    let port = free_port();
    let server = Gate::start(with_tls_files(dir.path(), port), dir.path().join("gate.log")).await;

    // HTTPS with a client that trusts the certificate; the origin follows (https, localhost).
    let http = https_client(&[&der1], "localhost", port);
    let health =
        http.get(format!("https://localhost:{port}/health")).send().await.expect("health over https");
    assert_eq!(health.status(), 200);
    let origin = format!("https://localhost:{port}");
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("https://localhost:{port}/api/v1/auth/register"))
        .header("Origin", &origin)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    let allowed = preflight.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
    assert_eq!(allowed, Some(origin.as_str()), "the default origin is https://localhost:PORT");

    // New files: new connections get the new certificate (checked every few seconds).
    write_pair(dir.path(), &cert2, &key2);
    let both: [&[u8]; 2] = [&der1, &der2];
    eventually(Duration::from_secs(30), "the second certificate", || async {
        presented(port, "localhost", &both).await.ok().filter(|der| *der == der2)
    })
    .await;
    let http = https_client(&[&der2], "localhost", port);
    let health = http.get(format!("https://localhost:{port}/health")).send().await.expect("health, new cert");
    assert_eq!(health.status(), 200);
    let reloaded = server.line("reloaded the TLS certificate", Duration::from_secs(5)).await;
    assert!(reloaded.contains("valid_until"), "the new certificate's expiry is logged: {reloaded}");

    // A broken replacement is logged and the previous pair kept.
    std::fs::write(dir.path().join("cert.pem"), "this is not a certificate\n").expect("write");
    let line = server.line("no certificate in it", Duration::from_secs(30)).await;
    assert!(line.contains("still serving the previous one"), "{line}");
    assert_eq!(presented(port, "localhost", &both).await.as_deref(), Ok(der2.as_slice()));

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // A client that connects and never starts the handshake is closed after the header timeout.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let opened = Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection is closed, not left open: {read:?}"
    );
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after the 1 s header timeout, not before: {waited:?}"
    );

    let logs = server.stop();
    assert!(
        logs.contains("loaded the TLS certificate") && logs.contains("CN=rcgen self signed cert"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_still_in_its_handshake_holds_its_place_under_the_caps() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key, der) = self_signed(&["localhost"]);
    write_pair(dir.path(), &cert, &key);
    let port = free_port();
    let mut cmd = with_tls_files(dir.path(), port);
    cmd.env("MAX_CONNECTIONS_PER_IP", "1").env("HEADER_TIMEOUT_SECONDS", "2");
    let server = Gate::start(cmd, dir.path().join("gate.log")).await;
    let http = https_client(&[&der], "localhost", port);
    let health = format!("https://localhost:{port}/health");

    // A client that opened a connection and never sent its ClientHello takes the one place...
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let refused = http.get(&health).send().await;
    assert!(refused.is_err(), "a second connection is refused while the first one is open: {refused:?}");
    // ...until the header timeout closes it; then others get in.
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    eventually(Duration::from_secs(10), "a connection after the silent one closed", || async {
        let r = http.get(&health).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let logs = server.stop();
    assert!(logs.contains("refusing connections: too many open"), "the refusal is logged: {logs}");
}

/// Starts `clawgate serve` expecting it to refuse; returns what it printed on stderr.
fn refusal(dir: &Path, env: &[(&str, &Path)]) -> String {
    let mut cmd = clawgate(dir);
    cmd.arg("serve").env("PORT", free_port().to_string()).envs(env.iter().copied());
    let out = cmd.output().expect("run");
    assert!(!out.status.success(), "clawgate must refuse to start with {env:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unusable_tls_files_stop_the_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (cert1, key1, _) = self_signed(&["localhost"]);
    let (_, key2, _) = self_signed(&["localhost"]);
    std::fs::write(d.join("cert.pem"), cert1).expect("write");
    std::fs::write(d.join("key.pem"), key1).expect("write");
    std::fs::write(d.join("other-key.pem"), key2).expect("write");
    std::fs::write(d.join("junk.pem"), "hello\n").expect("write");

    let missing = refusal(d, &[("TLS_CERT", &d.join("nope.pem")), ("TLS_KEY", &d.join("key.pem"))]);
    assert!(
        missing.contains("TLS_CERT") && missing.contains("nope.pem") && missing.contains("cannot read"),
        "{missing}"
    );
    let mismatched = refusal(d, &[("TLS_CERT", &d.join("cert.pem")), ("TLS_KEY", &d.join("other-key.pem"))]);
    assert!(
        mismatched.contains("other-key.pem") && mismatched.contains("not the private key of the certificate"),
        "{mismatched}"
    );
    let junk = refusal(d, &[("TLS_CERT", &d.join("cert.pem")), ("TLS_KEY", &d.join("junk.pem"))]);
    assert!(
        junk.contains("TLS_KEY") && junk.contains("junk.pem") && junk.contains("no private key"),
        "{junk}"
    );
    let half = refusal(d, &[("TLS_CERT", &d.join("cert.pem"))]);
    assert!(half.contains("TLS_CERT and TLS_KEY"), "{half}");
    let both = refusal(
        d,
        &[
            ("TLS_CERT", &d.join("cert.pem")),
            ("TLS_KEY", &d.join("key.pem")),
            ("ACME_DOMAIN", Path::new("gate.test")),
        ],
    );
    assert!(both.contains("not both"), "{both}");
}

/// A child process stopped when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pebble and its DNS, or `None` (a recorded skip) when they are not installed and not required.
fn pebble_tools() -> Option<(&'static Path, &'static Path)> {
    let (pebble, dns) = (Path::new("/usr/bin/pebble"), Path::new("/usr/bin/pebble-challtestsrv"));
    if pebble.exists() && dns.exists() {
        return Some((pebble, dns));
    }
    let required = std::env::var("CLAWGATE_REQUIRE_ACME_TOOLS").is_ok_and(|v| v == "1" || v == "true");
    assert!(!required, "CLAWGATE_REQUIRE_ACME_TOOLS is set but pebble is missing (apt-get install pebble)");
    skip(&current_test(), "pebble is missing (apt-get install pebble): the ACME end-to-end test cannot run");
    None
}

/// A local ACME server: Pebble validating against `tls_port` (TLS-ALPN-01), names resolved by
/// pebble-challtestsrv to 127.0.0.1.
struct Pebble {
    _processes: [Running; 2],
    directory: String,
    management: u16,
    /// Pebble's own HTTPS certificate (PEM file and DER).
    https_cert: std::path::PathBuf,
    https_der: Vec<u8>,
}

async fn start_pebble(dir: &Path, tls_port: u16) -> Option<Pebble> {
    let (pebble, challtestsrv) = pebble_tools()?;
    let (dns_port, dns_management, listen, management) = (free_port(), free_port(), free_port(), free_port());
    let dns = Command::new(challtestsrv)
        .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
        .args(["-management", &format!("127.0.0.1:{dns_management}")])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pebble-challtestsrv");
    let dns = Running(dns);

    let (cert, key, https_der) = self_signed(&["127.0.0.1", "localhost"]);
    let https_cert = dir.join("pebble-cert.pem");
    std::fs::write(&https_cert, cert).expect("write");
    std::fs::write(dir.join("pebble-key.pem"), key).expect("write");
    let config = json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{listen}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": https_cert,
        "privateKey": dir.join("pebble-key.pem"),
        "httpPort": free_port(),
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false
    }});
    std::fs::write(dir.join("pebble.json"), config.to_string()).expect("write");
    let log = std::fs::File::create(dir.join("pebble.log")).expect("log file");
    let ca = Command::new(pebble)
        .arg("-config")
        .arg(dir.join("pebble.json"))
        .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start pebble");
    let pebble = Pebble {
        _processes: [Running(ca), dns],
        directory: format!("https://127.0.0.1:{listen}/dir"),
        management,
        https_cert,
        https_der,
    };
    // Both answer before the test goes on.
    let client = https_client(&[&pebble.https_der], "localhost", listen);
    eventually(Duration::from_secs(30), "pebble's directory", || async {
        let r = client.get(&pebble.directory).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "pebble-challtestsrv", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", dns_management)).await.ok().map(|_| ())
    })
    .await;
    Some(pebble)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_certificate_from_pebble_is_served_and_reused_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let Some(pebble) = start_pebble(dir.path(), port).await else { return };
    let gate = |d: &Path| {
        let mut cmd = clawgate(d);
        cmd.env("PORT", port.to_string())
            .env("ACME_DOMAIN", "gate.test")
            .env("ACME_EMAIL", "admin@example.com")
            .env("ACME_DIRECTORY", &pebble.directory)
            .env("ACME_CA_ROOT", &pebble.https_cert);
        cmd
    };
    let server = Gate::start(gate(dir.path()), dir.path().join("first.log")).await;

    // The root Pebble issues under (it makes a new one each run).
    let management = https_client(&[&pebble.https_der], "localhost", pebble.management);
    let root_pem = management
        .get(format!("https://127.0.0.1:{}/roots/0", pebble.management))
        .send()
        .await
        .expect("pebble root")
        .text()
        .await
        .expect("pebble root");
    let root = {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(root_pem.as_bytes()).expect("a PEM root").to_vec()
    };

    // A client that trusts only that root reaches https://gate.test once the certificate is there.
    let http = https_client(&[&root], "gate.test", port);
    let base = format!("https://gate.test:{port}");
    eventually(Duration::from_secs(60), "a certificate from pebble", || async {
        let r = http.get(format!("{base}/health")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let served = presented(port, "gate.test", &[&root]).await.expect("the ACME certificate");

    // Passkeys are bound to the domain, and the origin is https://gate.test:PORT.
    let start = http
        .post(format!("{base}/api/v1/passkey/authenticate/start"))
        .json(&json!({}))
        .send()
        .await
        .expect("passkey options");
    let options: Value = start.json().await.expect("json");
    assert_eq!(options["publicKey"]["rpId"], "gate.test", "{options}");
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{base}/api/v1/auth/register"))
        .header("Origin", &base)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    let allowed = preflight.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
    assert_eq!(allowed, Some(base.as_str()));

    let first_run = server.stop();
    assert!(first_run.contains("ordering a certificate for gate.test"), "{first_run}");
    assert!(first_run.contains(&format!("open {base}")), "{first_run}");
    // Pebble is local; a real certificate authority could not reach 127.0.0.1, and the log says so.
    assert!(first_run.contains("HOST 127.0.0.1 accepts connections from this machine only"), "{first_run}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let acme = dir.path().join("data/acme");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&acme), 0o700);
        let files =
            std::fs::read_dir(&acme).expect("acme dir").map(|e| e.expect("entry").path()).collect::<Vec<_>>();
        assert_eq!(files.len(), 2, "the account and the certificate: {files:?}");
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    // Restarted, it serves the stored certificate at once: no new order.
    let server = Gate::start(gate(dir.path()), dir.path().join("second.log")).await;
    let again = eventually(Duration::from_secs(30), "the stored certificate", || async {
        presented(port, "gate.test", &[&root]).await.ok()
    })
    .await;
    assert_eq!(again, served, "the same certificate is served after a restart");
    let second_run = server.stop();
    assert!(second_run.contains("found a stored certificate"), "{second_run}");
    assert!(!second_run.contains("ordering a certificate"), "{second_run}");
}
