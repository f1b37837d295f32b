//! Review R's R4 (`docs/src/security.md`; finding 2 of the "ops" slice): with a `DATA_DIR` that
//! already existed, the database (holding every server secret) and its folder stayed readable by
//! every local user. Runs the real binary.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

fn clawgate(dir: &Path, data: &Path) -> (Command, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawgate"));
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("DATA_DIR", data)
        .current_dir(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    (cmd, port)
}

/// `GET /health` over a plain socket: the server is serving (and handles SIGTERM) once it answers.
fn health(port: u16) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    conn.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").expect("write");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read");
    answer
}

/// Every line the child prints, stdout and stderr together.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let outputs: [Box<dyn std::io::Read + Send>; 2] =
        [Box::new(child.stdout.take().expect("stdout")), Box::new(child.stderr.take().expect("stderr"))];
    for output in outputs {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    rx
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Starts the binary on `data`, checks it serves, reads the modes of `data` and `files` while it
/// runs (SQLite keeps its -wal and -shm files while the database is open), stops it: everything
/// it logged, and the modes (0 for a missing file).
fn serve_once(dir: &Path, data: &Path, files: &[std::path::PathBuf]) -> (String, Vec<(String, u32)>) {
    let (mut cmd, port) = clawgate(dir, data);
    let mut child = cmd.spawn().expect("spawn clawgate");
    let lines = lines_of(&mut child);
    let mut seen = Vec::new();
    let started = loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("clawgate is listening") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let answer = if started { health(port) } else { String::new() };
    let modes: Vec<(String, u32)> = std::iter::once(data.to_owned())
        .chain(files.iter().cloned())
        .map(|p| (p.display().to_string(), if p.exists() { mode(&p) } else { 0 }))
        .collect();
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().expect("wait");
    assert!(started, "clawgate did not start: {seen:#?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    (seen.join("\n"), modes)
}

#[test]
fn a_folder_shared_with_other_files_keeps_its_mode_and_the_database_files_are_private() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("shared");
    std::fs::create_dir(&data).expect("mkdir");
    set_mode(&data, 0o755);
    // Someone's other files (think of a home folder, or /tmp): not clawgate's to close.
    std::fs::write(data.join("notes.txt"), b"").expect("create");
    let files = ["clawgate.db", "clawgate.db-wal", "clawgate.db-shm"].map(|f| data.join(f));
    let (log, modes) = serve_once(dir.path(), &data, &files);
    assert_eq!(modes[0].1, 0o755, "a shared folder keeps its mode: {modes:?}");
    for (file, mode) in &modes[1..] {
        assert_eq!(*mode, 0o600, "{file} holds secrets: owner only");
    }
    assert!(log.contains("holds other files") && log.contains("folder of its own"), "it says so: {log}");
}

#[test]
fn existing_data_dir_and_database_files_are_made_private_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    set_mode(&data, 0o755);
    // A database and companions left readable by everyone (empty files are a valid empty
    // database, log and index to SQLite).
    let files = ["clawgate.db", "clawgate.db-wal", "clawgate.db-shm"].map(|f| data.join(f));
    for file in &files {
        std::fs::write(file, b"").expect("create");
        set_mode(file, 0o644);
    }
    let (log, modes) = serve_once(dir.path(), &data, &files);
    assert_eq!(modes[0].1, 0o700, "the data folder is closed to other users: {modes:?}");
    for (file, mode) in &modes[1..] {
        assert_eq!(*mode, 0o600, "{file} holds secrets: owner only");
    }
    assert!(
        log.contains("could be read by other users") && log.contains("fixed it to 0700"),
        "the fix is logged: {log}"
    );
}

#[test]
fn someone_elses_open_data_dir_is_refused_with_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("dir");
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").expect("probe");
    if std::fs::metadata(&probe).expect("probe").uid() != 0 {
        crate::harness::skip(
            &crate::harness::current_test(),
            "not root: cannot give a folder to another user",
        );
        return;
    }
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    set_mode(&data, 0o755);
    let nobody = Command::new("chown").arg("65534").arg(&data).status().expect("chown");
    assert!(nobody.success());
    let mut child = clawgate(dir.path(), &data).0.spawn().expect("spawn clawgate");
    // Bounded: a server that wrongly starts is stopped rather than waited on forever.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    assert!(status.is_some_and(|s| !s.success()), "clawgate must refuse someone else's open data folder");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to another user") && err.contains("chmod 700"), "{err}");
    assert_eq!(mode(&data), 0o755, "someone else's folder is left as it was");
}
