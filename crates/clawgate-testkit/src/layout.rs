//! The direction between modules, read from the source: which module names which, and the
//! cycles among them. Used by the tests that hold the layout (the server's and the agent's Rust
//! modules, the web app's scripts), so a cycle fails a test instead of waiting for a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A graph of modules: each module and the modules it names.
pub type Graph = BTreeMap<String, Vec<String>>;

/// The modules directly inside `src/inside` (a file `x.rs`, or a folder `x/` with `x.rs` or
/// `x/mod.rs`), each with the sibling modules its code names: `crate::…::x` with the folder's
/// path, or `super::x` from as deep as the name resolves to a sibling. Comments, `#[cfg(test)]
/// mod tests` blocks at the end of a file, `tests.rs` files and `tests/` folders are left out:
/// the direction is the shipped code's. `bin/` is the binaries', not the library's.
pub fn rust_modules(src: &Path, inside: &str) -> Graph {
    let base = if inside.is_empty() { src.to_path_buf() } else { src.join(inside) };
    let modules = modules_in(&base);
    let prefix = if inside.is_empty() {
        "crate::".to_owned()
    } else {
        format!("crate::{}::", inside.replace('/', "::"))
    };
    let mut graph = Graph::new();
    for module in &modules {
        let mut named = BTreeSet::new();
        for (file, depth) in files_of(&base, module) {
            let code = shipped_code(&std::fs::read_to_string(&file).unwrap_or_default());
            for target in names_after(&code, &prefix).into_iter().chain(names_after_super(&code, depth + 1)) {
                if target != *module && modules.contains(&target) {
                    named.insert(target);
                }
            }
        }
        graph.insert(module.clone(), named.into_iter().collect());
    }
    graph
}

/// The module names directly inside `base`.
fn modules_in(base: &Path) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let is_module = path.join("mod.rs").exists() || base.join(format!("{name}.rs")).exists();
            if is_module && name != "tests" && name != "bin" {
                modules.insert(name);
            }
        } else if let Some(stem) = name.strip_suffix(".rs")
            && !["lib", "main", "mod", "tests"].contains(&stem)
        {
            modules.insert(stem.to_owned());
        }
    }
    modules
}

/// A module's files with their depth below `base` (0: `x.rs` or `x/mod.rs`; 1: `x/y.rs` …),
/// without test files.
fn files_of(base: &Path, module: &str) -> Vec<(PathBuf, usize)> {
    let mut files = Vec::new();
    let file = base.join(format!("{module}.rs"));
    if file.exists() {
        files.push((file, 0));
    }
    let mut folders = vec![(base.join(module), 1usize)];
    while let Some((folder, depth)) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" {
                    folders.push((path, depth + 1));
                }
            } else if name == "mod.rs" {
                files.push((path, depth - 1));
            } else if name.ends_with(".rs") && name != "tests.rs" {
                files.push((path, depth));
            }
        }
    }
    files
}

/// The code a build ships: no comment lines, nothing from a trailing `#[cfg(test)] mod tests`.
fn shipped_code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end].lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn identifier_at(text: &str) -> String {
    text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The first name of a path at the start of `text`, or of each path in a `{a, b::c}` group.
fn names_at(text: &str) -> Vec<String> {
    let Some(group) = text.strip_prefix('{') else { return vec![identifier_at(text)] };
    let (mut depth, mut names, mut start) = (0usize, Vec::new(), 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(identifier_at(group[start..].trim_start()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(identifier_at(group[start..].trim_start()));
                start = i + 1;
            }
            _ => {}
        }
    }
    names
}

/// Every `PREFIX name`'s name.
fn names_after(code: &str, prefix: &str) -> Vec<String> {
    code.match_indices(prefix).flat_map(|(at, _)| names_at(&code[at + prefix.len()..])).collect()
}

/// Every name reached through exactly `supers` `super::`s (a sibling of the module's file).
fn names_after_super(code: &str, supers: usize) -> Vec<String> {
    let path = "super::".repeat(supers);
    code.match_indices(&path)
        .filter(|(at, _)| !code[..*at].ends_with("super::") && !code[..*at].ends_with("crate::"))
        .flat_map(|(at, _)| names_at(&code[at + path.len()..]))
        .filter(|name| name != "super")
        .collect()
}

/// The groups of modules that name each other in a circle (strongly connected components of
/// more than one module), each sorted, in order.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for start in graph.keys() {
        if seen.contains(start) {
            continue;
        }
        let ahead = reachable(graph, start);
        let group: Vec<String> =
            ahead.iter().filter(|n| reachable(graph, n).contains(start)).cloned().collect();
        seen.extend(group.iter().cloned());
        if group.len() > 1 {
            found.push(group);
        }
    }
    found.sort();
    found
}

/// The modules `from` reaches (itself included).
fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut reached = BTreeSet::from([from.to_owned()]);
    let mut next = vec![from.to_owned()];
    while let Some(node) = next.pop() {
        for to in graph.get(&node).into_iter().flatten() {
            if reached.insert(to.clone()) {
                next.push(to.clone());
            }
        }
    }
    reached
}

/// One cycle in `graph`, as the path around it, if any.
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a Graph,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            return Some(path[at..].iter().chain([&node]).map(|n| (*n).to_owned()).collect());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        edges.iter().map(|(a, to)| ((*a).to_owned(), to.iter().map(|t| (*t).to_owned()).collect())).collect()
    }

    #[test]
    fn a_circle_is_found_and_a_line_is_not() {
        let line = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &[])]);
        assert_eq!(find_cycle(&line), None);
        assert!(cycles(&line).is_empty());
        let circle = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]);
        assert_eq!(find_cycle(&circle), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
        assert_eq!(cycles(&circle), vec![vec!["a".to_owned(), "b".into(), "c".into()]]);
    }

    #[test]
    fn names_are_read_from_code_not_comments_or_tests() {
        let code = shipped_code(
            "use crate::store::Db;\nuse crate::{clock::Clock, events};\n// crate::http is only mentioned\n\
             fn f() { super::state::x(); super::super::far(); }\n\
             #[cfg(test)]\nmod tests {\n    use crate::app;\n}\n",
        );
        assert_eq!(names_after(&code, "crate::"), vec!["store", "clock", "events"]);
        assert_eq!(names_after_super(&code, 1), vec!["state"]);
        assert_eq!(names_after_super(&code, 2), vec!["far"]);
    }
}
