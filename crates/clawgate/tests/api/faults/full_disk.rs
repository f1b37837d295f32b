//! Review R, a full disk (`docs/src/security.md`, "Also fixed"; finding 4 of the "ops" slice): on a
//! full disk every write answered 500 while `/health` stayed 200. On a real full file system (a
//! small tmpfs; needs root, else skipped with a note).
#![cfg(target_os = "linux")]

use crate::harness::{Auth, TestApp};
use clawgate::config::Backend;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir }),
            Ok(o) => {
                let why = format!(
                    "cannot mount a tmpfs (root needed): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                crate::harness::skip(&crate::harness::current_test(), &why);
                None
            }
            Err(e) => {
                crate::harness::skip(&crate::harness::current_test(), &format!("cannot run mount ({e})"));
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes a file until the disk has no byte left.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let mut size = 64 * 1024;
    let zeros = vec![0u8; size];
    while size > 0 {
        match file.write(&zeros[..size]) {
            Ok(0) | Err(_) => size /= 2,
            Ok(_) => {}
        }
    }
    let _ = file.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_503_with_retry_after_and_health_says_so() {
    let Some(disk) = SmallDisk::mount("4m") else { return };
    let data = disk.path().to_owned();
    let app = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.db.data_dir = data;
        a.auth_rate_limit = 100_000;
    })
    .await
    .expect("a server on the small disk");
    let (mut n, anyone) = (0, Auth::None);
    let mut register = || {
        n += 1;
        app.post("/api/v1/auth/register", &anyone, json!({ "email": format!("user{n}@example.com") }))
    };
    register().await.expect(201);
    app.get("/health", &Auth::None).await.expect(200);

    let filler = fill(disk.path());
    // The write-ahead log may still hold a little reusable room: write until it is gone.
    let mut refused = None;
    for _ in 0..500 {
        let r = register().await;
        if r.status.as_u16() != 201 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("a write fails once the disk is full");
    let refused = refused.expect_error(503, "storage_full");
    assert!(refused.headers.contains_key("retry-after"), "{:?}", refused.headers);
    assert!(refused.text.contains("storage is full"), "{}", refused.text);

    let health = app.get("/health", &Auth::None).await.expect(503);
    assert_eq!(health.body["database"], "full", "{}", health.text);
    assert!(health.body["message"].as_str().is_some_and(|m| m.contains("disk is full")), "{}", health.text);

    std::fs::remove_file(filler).expect("free the space");
    let health = app.get("/health", &Auth::None).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    register().await.expect(201);
    app.get("/health", &Auth::None).await.expect(200);
    // Closed before the disk is unmounted.
    drop(app.stop().await);
}
