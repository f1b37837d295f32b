//! The direction between modules, held by a test instead of by memory: the server library's
//! top-level modules, the modules inside `http/`, and the agent crate's modules name each other
//! in one direction only (the web app's scripts are held by `http::routes::web_app`'s tests).
//! A new cycle fails here, naming it.

use clawgate_testkit::layout::{Graph, cycles, find_cycle, rust_modules};
use std::path::{Path, PathBuf};

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src")
}

/// No module of `graph` names, through others, one that names it.
fn holds(what: &str, graph: &Graph) {
    assert!(
        graph.len() > 1 && graph.values().any(|v| !v.is_empty()),
        "{what}: the modules are read: {graph:?}"
    );
    let path = find_cycle(graph).map(|c| c.join(" → ")).unwrap_or_default();
    assert_eq!(
        cycles(graph),
        Vec::<Vec<String>>::new(),
        "{what}: modules that name each other in a circle ({path}); {graph:#?}"
    );
}

#[test]
fn the_server_librarys_modules_name_each_other_in_one_direction() {
    holds("crates/clawgate/src", &rust_modules(&crate_src("clawgate"), ""));
}

#[test]
fn the_http_modules_name_each_other_in_one_direction() {
    holds("crates/clawgate/src/http", &rust_modules(&crate_src("clawgate"), "http"));
}

#[test]
fn the_agent_crates_modules_name_each_other_in_one_direction() {
    holds("crates/clawgate-agent/src", &rust_modules(&crate_src("clawgate-agent"), ""));
    holds("crates/clawgate-agent/src/mcp", &rust_modules(&crate_src("clawgate-agent"), "mcp"));
}

#[test]
fn the_contracts_modules_name_each_other_in_one_direction() {
    holds("crates/clawgate-proto/src", &rust_modules(&crate_src("clawgate-proto"), ""));
}

/// Handlers parse, call a service and answer: no file of `http/routes` reaches the store's
/// connection (`app.db`, `Db`) or runs SQL (`sqlx`); a service does.
#[test]
fn no_handler_touches_the_store() {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the routes").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(&crate_src("clawgate").join("http/routes"), &mut files);
    assert!(files.len() > 10, "the handlers are read: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a handler");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if ["app.db", ".db.", "store::Db", "sqlx"].iter().any(|t| code.contains(t)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "handlers that touch the store (move it into a service):\n{}",
        found.join("\n")
    );
}
