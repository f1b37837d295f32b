//! The example systemd unit (deploy/systemd/clawgate.service): systemd's own checker accepts it
//! with no warning, its hardening scores "OK" in `systemd-analyze security`, and what it sets
//! agrees with the server (settings that exist, enough open files for the connection cap).

use crate::harness::repo::{read, repo, serve_settings};

const UNIT: &str = "deploy/systemd/clawgate.service";

/// `KEY=value` lines of the unit, in order (a key may repeat).
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn value<'a>(all: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    all.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

#[test]
fn the_unit_agrees_with_the_server() {
    let unit = read(UNIT);
    let all = directives(&unit);
    assert_eq!(value(&all, "ExecStart"), ["/usr/local/bin/clawgate serve"]);
    let settings = serve_settings();
    for env in value(&all, "Environment") {
        let name = env.split('=').next().unwrap_or_default();
        assert!(settings.contains(name), "Environment={env}: {name} is not a setting of clawgate serve");
    }
    assert_eq!(value(&all, "Environment"), ["DATA_DIR=/var/lib/clawgate"], "data in the state folder");
    assert_eq!(value(&all, "StateDirectory"), ["clawgate"]);
    assert_eq!(value(&all, "StateDirectoryMode"), ["0700"]);
    // The default connection cap, plus the files the server keeps for itself (server::RESERVED_FILES).
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .args(["serve", "--help"])
        .output()
        .expect("serve --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let cap: u64 = help
        .split("[env: MAX_CONNECTIONS=")
        .nth(1)
        .and_then(|rest| rest.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .expect("MAX_CONNECTIONS's default in serve --help");
    let files: u64 = value(&all, "LimitNOFILE").first().and_then(|n| n.parse().ok()).expect("LimitNOFILE");
    assert!(files >= cap + 256, "LimitNOFILE={files} is below MAX_CONNECTIONS's default {cap} plus 256");
    for hardening in ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "UMask"] {
        assert!(!value(&all, hardening).is_empty(), "{hardening} is set");
    }
}

/// `systemd-analyze`, or `None` (with a recorded skip) where it is missing outside CI.
fn systemd_analyze() -> Option<&'static str> {
    let found = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var("CLAWGATE_REQUIRE_SYSTEMD_TOOLS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CLAWGATE_REQUIRE_SYSTEMD_TOOLS=1 but systemd-analyze is missing (apt-get install systemd)"
        );
        crate::harness::skip(
            &crate::harness::current_test(),
            "systemd-analyze is missing (apt-get install systemd)",
        );
        return None;
    }
    Some("systemd-analyze")
}

#[test]
fn systemd_accepts_the_unit_and_scores_its_hardening_ok() {
    let Some(analyze) = systemd_analyze() else { return };
    // The unit as installed, with the binary where the test built it.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clawgate.service");
    let unit = read(UNIT).replace("/usr/local/bin/clawgate", env!("CARGO_BIN_EXE_clawgate"));
    std::fs::write(&file, unit).expect("write unit");
    let out = std::process::Command::new(analyze).arg("verify").arg(&file).output().expect("verify");
    let said = String::from_utf8_lossy(&out.stderr);
    // An unknown or misspelt key is only a warning to systemd: any output is a failure here.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {}: {said}",
        repo().join(UNIT).display()
    );

    let out = std::process::Command::new(analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&file)
        .output()
        .expect("security");
    let report = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = report
        .split("Overall exposure level for clawgate.service: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {report}{}", String::from_utf8_lossy(&out.stderr)));
    // systemd calls 0–2.0 "OK", up to 4.9 "MEDIUM"; a default service scores 9.6 "UNSAFE".
    assert!(exposure <= 2.0, "exposure {exposure} is above OK:\n{report}");
}
