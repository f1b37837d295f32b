//! `clawgate serve` as a process of its own, in a folder of its own, seeing only the environment
//! the test gives it; and a plain HTTP client to talk to it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub(crate) fn clawgate(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawgate"));
    // Nothing from the developer's environment: the binary sees only what the test gives it.
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).current_dir(dir);
    cmd
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A running binary, with everything it printed so far.
pub(crate) struct Server {
    child: Child,
    pub(crate) lines: std::sync::mpsc::Receiver<String>,
    readers: Vec<std::thread::JoinHandle<()>>,
    pub(crate) base: String,
    pub(crate) origin: String,
}

impl Server {
    /// Starts `clawgate serve` and waits for the line that says it listens.
    pub(crate) fn start(mut cmd: Command, port: u16) -> Self {
        let mut child =
            cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn clawgate");
        let (tx, rx) = std::sync::mpsc::channel();
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            }));
        }
        let server = Self {
            child,
            lines: rx,
            readers,
            base: format!("http://127.0.0.1:{port}"),
            origin: format!("http://localhost:{port}"),
        };
        let deadline = std::time::Duration::from_secs(60);
        loop {
            let line = server.lines.recv_timeout(deadline).expect("clawgate prints that it listens");
            if line.contains("clawgate is listening") {
                return server;
            }
        }
    }

    /// Stops it with SIGTERM and returns all it printed.
    pub(crate) fn stop(mut self) -> String {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "a graceful stop exits 0: {status:?}");
        // The pipes close with the process; once the readers are done, every line is here.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.lines.try_iter().collect::<Vec<_>>().join("\n")
    }
}

pub(crate) fn http_client() -> reqwest::Client {
    clawgate::app::install_tls_provider();
    reqwest::Client::new()
}

pub(crate) async fn post(http: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap_or(Value::Null)
}
