//! The manual holds together, checked without mdBook and without a network: every Markdown file
//! in `docs/src` is a chapter of `docs/src/SUMMARY.md` and every chapter it names exists, and
//! every relative link in `README.md` and the book leads to a file that exists and, with a
//! `#anchor`, to a heading of that file (its id as mdBook and GitHub make it).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The Markdown files under `dir`, as paths relative to it with `/` between parts.
fn markdown_files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, found);
            } else if path.extension().is_some_and(|e| e == "md") {
                let relative = path.strip_prefix(root).expect("under the root");
                let parts: Vec<_> = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect();
                found.insert(parts.join("/"));
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(dir, dir, &mut found);
    found
}

/// The text outside fenced code blocks and inline code spans, line for line (code becomes blank,
/// so line numbers still hold): links and headings are only looked for there.
fn prose(markdown: &str) -> Vec<String> {
    let mut fence: Option<(char, usize)> = None;
    markdown
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
            let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
            match (fence, marker) {
                (None, Some(m)) if run >= 3 => {
                    fence = Some((m, run));
                    String::new()
                }
                (Some((m, n)), Some(c)) if c == m && run >= n && trimmed[run..].trim().is_empty() => {
                    fence = None;
                    String::new()
                }
                (Some(_), _) => String::new(),
                (None, _) => without_code_spans(line),
            }
        })
        .collect()
}

/// `line` with every inline code span (a run of backticks to the next run of the same length)
/// taken out.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let open = chars[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + open;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let run = chars[j..].iter().take_while(|c| **c == '`').count();
                if run == open {
                    close = Some(j + run);
                    break;
                }
                j += run;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                out.push(' ');
                i = end;
            }
            // An unmatched run is text.
            None => {
                out.extend(&chars[i..i + open]);
                i += open;
            }
        }
    }
    out
}

/// Every link target in `markdown` with its line (from 1): inline links and images
/// (`[text](target "title")`) and reference definitions (`[name]: target`).
fn links(markdown: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in prose(markdown).iter().enumerate() {
        let definition = line.trim_start().strip_prefix('[').and_then(|rest| rest.split_once("]:"));
        if let Some((name, target)) = definition
            && !name.is_empty()
            && let Some(target) = target.split_whitespace().next()
        {
            found.push((n + 1, target.trim_matches(['<', '>']).to_owned()));
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let mut depth = 0usize;
            let end = after
                .char_indices()
                .find(|&(_, c)| match c {
                    '(' => {
                        depth += 1;
                        false
                    }
                    ')' if depth == 0 => true,
                    ')' => {
                        depth -= 1;
                        false
                    }
                    _ => false,
                })
                .map_or(after.len(), |(i, _)| i);
            let inside = after[..end].trim();
            let target = if let Some(angled) = inside.strip_prefix('<') {
                angled.split('>').next().unwrap_or_default()
            } else {
                inside.split_whitespace().next().unwrap_or_default()
            };
            found.push((n + 1, target.to_owned()));
            rest = &after[end..];
        }
    }
    found
}

/// Whether a link target names a place outside the repository (`https:`, `mailto:`, …).
fn is_external(target: &str) -> bool {
    if target.starts_with("//") {
        return true;
    }
    match target.split_once(':') {
        Some((scheme, _)) => {
            scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        }
        None => false,
    }
}

/// A heading's id as mdBook (`id_from_content`) and GitHub make it: the heading's text without
/// its markup, trimmed and in lower case; letters, digits, `_` and `-` kept, white space as `-`,
/// everything else left out.
fn heading_id(heading: &str) -> String {
    // Inline markup: `[text](target)` reads as its text; code, emphasis and HTML marks go.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else { break };
        let Some(close) = rest[open + mid..].find(')') else { break };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// The anchors a Markdown file offers: its headings' ids (a repeated one gets `-1`, `-2`, … as
/// mdBook and GitHub number them) and any HTML `id="…"`.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (line, original) in prose(markdown).into_iter().zip(markdown.lines()) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level)
            && trimmed[level..].starts_with([' ', '\t'])
            && line.len() - trimmed.len() < 4
        {
            // A heading's text keeps what its code spans hold: read it from the line as written.
            let written = original.trim_start()[level..].replace('`', "");
            let id = heading_id(written.trim().trim_end_matches('#').trim_end());
            let mut unique = id.clone();
            let mut n = 0;
            while !ids.insert(unique.clone()) {
                n += 1;
                unique = format!("{id}-{n}");
            }
        }
        for attribute in ["id=\"", "name=\""] {
            for (at, _) in line.match_indices(attribute) {
                let value = &line[at + attribute.len()..];
                if let Some(end) = value.find('"') {
                    ids.insert(value[..end].to_owned());
                }
            }
        }
    }
    ids
}

/// `path` with `.` and `..` resolved as text (the link's file may not exist).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Every problem with the relative links of the Markdown file `file` (a path from the
/// repository's root), in words.
fn broken_links(root: &Path, file: &str) -> Vec<String> {
    let markdown = read(&root.join(file));
    let here = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (line, target) in links(&markdown) {
        if target.is_empty() || is_external(&target) {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        let path = path.split('?').next().unwrap_or_default();
        let (shown, linked) = if path.is_empty() {
            (file.to_owned(), root.join(file))
        } else {
            let relative = normalized(&here.join(path));
            if relative.components().next().is_none() || relative.starts_with("..") {
                problems.push(format!("{file}:{line}: `{target}` leads out of the repository"));
                continue;
            }
            (relative.display().to_string(), root.join(&relative))
        };
        if !linked.exists() {
            problems.push(format!("{file}:{line}: `{target}`: {shown} does not exist"));
            continue;
        }
        if let Some(anchor) = anchor {
            let is_markdown = linked.extension().is_some_and(|e| e == "md");
            if !is_markdown {
                problems
                    .push(format!("{file}:{line}: `{target}`: an anchor into a file that is not Markdown"));
            } else if !anchors(&read(&linked)).contains(anchor) {
                problems.push(format!("{file}:{line}: `{target}`: {shown} has no heading #{anchor}"));
            }
        }
    }
    problems
}

#[test]
fn every_chapter_is_in_the_summary_and_the_summary_names_only_chapters() {
    let src = repo().join("docs/src");
    let summary = read(&src.join("SUMMARY.md"));
    let named: Vec<String> = links(&summary)
        .into_iter()
        .map(|(_, target)| target)
        .filter(|t| !t.is_empty() && !is_external(t))
        .map(|t| t.split('#').next().unwrap_or_default().trim_start_matches("./").to_owned())
        .collect();
    let files = markdown_files(&src);
    let missing: Vec<_> = named.iter().filter(|n| !files.contains(*n)).collect();
    assert!(missing.is_empty(), "SUMMARY.md names chapters that do not exist in docs/src: {missing:?}");
    let named: BTreeSet<_> = named.into_iter().collect();
    let unlisted: Vec<_> = files.iter().filter(|f| *f != "SUMMARY.md" && !named.contains(*f)).collect();
    assert!(unlisted.is_empty(), "Markdown files in docs/src that SUMMARY.md does not name: {unlisted:?}");
    assert!(named.len() >= 10, "SUMMARY.md names {} chapters", named.len());
}

#[test]
fn every_relative_link_in_the_readme_and_the_book_leads_somewhere() {
    let root = repo();
    let mut files = vec!["README.md".to_owned()];
    files.extend(markdown_files(&root.join("docs/src")).into_iter().map(|f| format!("docs/src/{f}")));
    let problems: Vec<String> = files.iter().flat_map(|f| broken_links(&root, f)).collect();
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
    // The README is the way in: it links into the book.
    let readme = read(&root.join("README.md"));
    assert!(
        links(&readme).iter().any(|(_, t)| t.starts_with("docs/src/") && t.ends_with(".md")),
        "README.md links into the book (docs/src/….md)"
    );
}

#[test]
fn the_link_checker_reads_markdown_as_mdbook_does() {
    let text = "# Getting `clawgate` on your PATH\n\
                ## What an allow covers\n\
                ## What an allow covers\n\
                ```bash\n# not a heading [nor](a-link.md)\n```\n\
                See [one](a.md#x), ![two](img/b.png \"title\"), `[code](c.md)` and\n\
                [three](<d e.md>) or [four](https://example.com/f.md).\n\
                [ref]: g.md#y\n";
    let ids = anchors(text);
    let expected = ["getting-clawgate-on-your-path", "what-an-allow-covers", "what-an-allow-covers-1"];
    assert_eq!(ids, expected.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<String>>());
    let targets: Vec<String> = links(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(targets, ["a.md#x", "img/b.png", "d e.md", "https://example.com/f.md", "g.md#y"]);
    assert!(is_external("https://example.com") && is_external("mailto:a@example.com"));
    assert!(!is_external("docs/src/api.md#who-may-call-what") && !is_external("#tokens"));
    assert_eq!(
        heading_id(" `clawgate keys revoke`: a key you believe leaked "),
        "clawgate-keys-revoke-a-key-you-believe-leaked"
    );
    assert_eq!(heading_id("Notifications (Web Push)"), "notifications-web-push");
    assert_eq!(normalized(Path::new("docs/src/running/../api.md")), PathBuf::from("docs/src/api.md"));
    assert_eq!(normalized(Path::new("docs/../../x.md")), PathBuf::from("../x.md"));
}
