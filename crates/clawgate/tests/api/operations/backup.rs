//! `clawgate backup` and `clawgate restore`, run as the real binary: a consistent copy taken
//! while a server writes, restored into a fresh folder and served again; restore refusing while
//! a server has the database open, and refusing a damaged backup without touching anything.

use crate::harness::{TestApp, TestDb};
use clawgate::config::Backend;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// The binary with nothing from the developer's environment but PATH.
fn clawgate(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let child = clawgate(args, envs).spawn().expect("spawn clawgate");
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("clawgate finishes within a minute")
        .expect("clawgate's output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn data_dir(app: &TestApp) -> String {
    app.state.settings.database.data_dir.display().to_string()
}

/// `clawgate backup PATH` for the server's database; asserts it succeeded.
async fn backup(data_dir: &str, path: &Path) -> String {
    let path = path.display().to_string();
    let out = run(&["backup", &path], &[("DATA_DIR", data_dir)]).await;
    assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
    text(&out.stdout)
}

async fn restore(data_dir: &str, path: &Path) -> Output {
    run(&["restore", &path.display().to_string()], &[("DATA_DIR", data_dir)]).await
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_server_writes_restores_into_a_fresh_folder_and_serves() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| a.max_pending_per_key = 0).await.expect("sqlite");
    let app = Arc::new(app);
    let person = app.person("backup@example.com").await;
    let key = app.api_key(&person).await;
    let before = app.ask(&key, "made before the backup").await;

    // A writer that keeps creating requests until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (app, key, stop, created) = (app.clone(), key.clone(), stop.clone(), created.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                app.ask(&key, &format!("written during the backup {n}")).await;
                created.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while created.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "the writer creates requests");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("clawgate-backup.db");
    let at_start = created.load(Ordering::SeqCst);
    let said = backup(&data_dir(&app), &path).await;
    // Keep writing until the writer has made more since the backup began: it ran beside it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while created.load(Ordering::SeqCst) <= at_start + 2 {
        assert!(Instant::now() < deadline, "the writer keeps writing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("the writer never failed a request");

    assert!(said.contains("integrity ok"), "the backup says it checked out: {said}");
    // The copy holds what was there when it began, and perhaps some of what came during it.
    let in_copy: usize = said
        .split("approval_requests ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the backup counts the requests it holds: {said}"));
    let total = 1 + created.load(Ordering::SeqCst);
    assert!(
        (1 + at_start..total).contains(&in_copy),
        "{in_copy} requests of {at_start}+1 to {total}: {said}"
    );
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600, "the backup is for the server's user only");

    // An existing file is not overwritten without --force, and is with it.
    let path_text = path.display().to_string();
    let again = run(&["backup", &path_text], &[("DATA_DIR", &data_dir(&app))]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("--force"), "says how: {}", text(&again.stderr));
    let forced = run(&["backup", &path_text, "--force"], &[("DATA_DIR", &data_dir(&app))]).await;
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(names_in(folder.path()), ["clawgate-backup.db"], "no partial file is left behind");

    // Restored into a fresh folder, a server on it has the data and the agent's key works.
    let fresh = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let fresh_dir = fresh.dir.path().to_owned();
    let out = restore(&fresh_dir.display().to_string(), &path).await;
    assert!(out.status.success(), "restore failed: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("restored"), "{}", text(&out.stdout));
    #[cfg(unix)]
    assert_eq!(mode_of(&fresh_dir.join("clawgate.db")), 0o600);
    let restored = TestApp::spawn_on(fresh, |a| a.max_pending_per_key = 0).await;
    let status = restored.status(&key, &before.id).await.expect(200);
    assert_eq!(status.body["status"], "PENDING", "{}", status.text);
    let more = restored.ask(&key, "after the restore").await;
    restored.status(&key, &more.id).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_while_a_server_has_the_database_open_and_keeps_the_current_one() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let person = app.person("restore@example.com").await;
    let key = app.api_key(&person).await;
    let kept = app.ask(&key, "in the backup").await;
    let dir = data_dir(&app);
    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("b.db");
    backup(&dir, &path).await;
    let later = app.ask(&key, "after the backup").await;

    let out = restore(&dir, &path).await;
    assert_eq!(out.status.code(), Some(1), "refused while the server runs");
    let said = text(&out.stderr);
    assert!(said.contains("in use") && said.contains("nothing was changed"), "says why: {said}");
    assert!(
        names_in(Path::new(&dir)).iter().all(|n| !n.contains("before-restore")),
        "nothing was set aside: {:?}",
        names_in(Path::new(&dir))
    );
    // The server never noticed.
    app.status(&key, &later.id).await.expect(200);

    let db = app.stop().await;
    let out = restore(&dir, &path).await;
    assert!(out.status.success(), "restore with the server stopped: {}", text(&out.stderr));
    let set_aside: Vec<String> =
        names_in(Path::new(&dir)).into_iter().filter(|n| n.contains(".before-restore-")).collect();
    assert_eq!(set_aside.len(), 1, "the replaced database is kept: {:?}", names_in(Path::new(&dir)));
    assert!(text(&out.stdout).contains(&set_aside[0]), "and named: {}", text(&out.stdout));

    let restored = TestApp::spawn_on(db, |_| {}).await;
    restored.status(&key, &kept.id).await.expect(200);
    restored.status(&key, &later.id).await.expect(404);
    // What came after the backup is still in the file set aside.
    let old = PathBuf::from(&dir).join(&set_aside[0]);
    let old_backup = folder.path().join("from-the-old.db");
    let out = run(
        &["backup", &old_backup.display().to_string()],
        &[("DATABASE_URL", &format!("sqlite://{}", old.display()))],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("approval_requests 2"), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_refused_and_nothing_is_replaced() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| a.max_pending_per_key = 0).await.expect("sqlite");
    let person = app.person("damaged@example.com").await;
    let key = app.api_key(&person).await;
    for n in 0..20 {
        app.ask(&key, &format!("request {n} {}", "x".repeat(500))).await;
    }
    let dir = data_dir(&app);
    let folder = tempfile::tempdir().expect("temp dir");
    let good = folder.path().join("good.db");
    backup(&dir, &good).await;
    let db = app.stop().await;
    let database = Path::new(&dir).join("clawgate.db");
    let before = std::fs::read(&database).expect("read the database");
    let listing = names_in(Path::new(&dir));

    // Pages overwritten in the middle of the file, and a file that is no database at all.
    let mut bytes = std::fs::read(&good).expect("read the backup");
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 8192] {
        *b = 0xA5;
    }
    let damaged = folder.path().join("damaged.db");
    std::fs::write(&damaged, &bytes).expect("write");
    let garbage = folder.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database").expect("write");
    let newer = folder.path().join("newer.db");
    std::fs::copy(&good, &newer).expect("copy");
    {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", newer.display())).await.expect("open");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .expect("insert");
        let _ = conn.close().await;
    }

    let unreadable = ["is damaged", "SQLite database"];
    for (file, why) in
        [(&damaged, &unreadable[..]), (&garbage, &unreadable[1..]), (&newer, &["newer clawgate"][..])]
    {
        let out = restore(&dir, file).await;
        assert_eq!(out.status.code(), Some(1), "{} is refused", file.display());
        let said = text(&out.stderr);
        assert!(said.contains("nothing was changed"), "says nothing changed: {said}");
        assert!(why.iter().any(|w| said.contains(w)), "says why: {said}");
        assert_eq!(names_in(Path::new(&dir)), listing, "no file was added or moved");
        assert!(std::fs::read(&database).expect("read") == before, "the database is untouched");
    }
    drop(db);
}

#[tokio::test]
async fn on_postgres_backup_and_restore_print_the_pg_tools_lines_without_the_password() {
    let url = "postgres://clawgate:s3cret@db.example:5432/gate";
    let out = run(&["backup", "/backups/gate.dump"], &[("DATABASE_URL", url)]).await;
    assert_eq!(out.status.code(), Some(3), "a distinct code: nothing was done here");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        stdout.trim(),
        "pg_dump --format=custom --file=/backups/gate.dump 'postgres://clawgate:***@db.example:5432/gate'"
    );
    assert!(stderr.contains("pg_restore") && stderr.contains("PGPASSWORD"), "says why and how: {stderr}");
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "the password is never printed");

    let out = run(&["restore", "/backups/gate.dump"], &[("DATABASE_URL", url)]).await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout).trim(),
        "pg_restore --clean --if-exists --no-owner --dbname='postgres://clawgate:***@db.example:5432/gate' \
         /backups/gate.dump"
    );
    assert!(!text(&out.stderr).contains("s3cret"));
}
