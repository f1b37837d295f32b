//! Where a file tool's file really is. The server compares paths as text (it is not the agent's
//! machine), so the hook resolves them here, where the files are: a grant or an `inside` rule for
//! a folder then never covers a file that a symlink in that folder leads out of it.

use super::hook_event::HookEvent;
use clawgate_proto::rules::FILE_TOOLS;
use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// `path` as the system will find it: taken from `cwd` when relative, each existing prefix with
/// its symlinks resolved (the realpath of the deepest existing ancestor), a dangling symlink
/// followed to where writing through it would create its file, and the components that do not
/// exist yet joined as written (`..` after one of them folded as text).
pub fn resolve(path: &Path, cwd: &Path) -> PathBuf {
    resolve_within(path, cwd, 0)
}

/// Symlinks followed past this many are a loop: the path stays as far as it got.
const MAX_LINKS: usize = 40;

fn resolve_within(path: &Path, cwd: &Path, links: usize) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in cwd.join(path).components() {
        match part {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            // `out` holds no symlink: going up from it is going up on disk.
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                } else if let Ok(target) = std::fs::read_link(&out)
                    && links < MAX_LINKS
                {
                    // A link to what does not exist yet: a write creates its target.
                    let parent = out.parent().map_or_else(|| PathBuf::from("/"), Path::to_owned);
                    out = resolve_within(&target, &parent, links + 1);
                }
            }
        }
    }
    out
}

/// Resolves the event's paths in place (see [`resolve`]): its `cwd`, and the file a file tool
/// (Write, Edit, MultiEdit, NotebookEdit, Read) names, relative ones taken from the `cwd` as sent
/// (else this process's). The file as the agent wrote it, when that differs.
pub fn resolve_paths(event: &mut HookEvent) -> Option<String> {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let cwd = event.cwd.as_deref().map(Path::new).filter(|c| c.is_absolute()).map_or(here, Path::to_owned);
    if let Some(sent) = &event.cwd
        && Path::new(sent).is_absolute()
    {
        event.cwd = Some(shown(&resolve(Path::new(sent), Path::new("/"))));
    }
    let (_, field) = FILE_TOOLS.iter().find(|(tool, _)| *tool == event.tool_name)?;
    let requested = event.tool_input.get(*field)?.as_str()?.to_owned();
    let real = shown(&resolve(Path::new(&requested), &cwd));
    if real == requested {
        return None;
    }
    event.tool_input[*field] = Value::String(real);
    Some(requested)
}

/// A path as text; a name that is not UTF-8 is shown with U+FFFD, which no grant's folder holds.
fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The project folder, where it really is (symlinks resolved, as the event's files are):
/// Claude Code's `CLAUDE_PROJECT_DIR`, else the event's `cwd`.
pub fn project_dir(event: &HookEvent) -> PathBuf {
    let dir = std::env::var_os("CLAUDE_PROJECT_DIR")
        .map(PathBuf::from)
        .or_else(|| event.cwd.as_ref().map(PathBuf::from))
        .unwrap_or_default();
    if dir.is_absolute() { resolve(&dir, Path::new("/")) } else { dir }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(tool: &str, input: Value, cwd: &Path) -> HookEvent {
        HookEvent {
            hook_event_name: "PreToolUse".into(),
            tool_name: tool.into(),
            tool_input: input,
            session_id: None,
            cwd: Some(shown(cwd)),
            tool_use_id: None,
        }
    }

    #[test]
    fn a_dangling_symlink_is_followed_to_the_file_a_write_would_create() -> std::io::Result<()> {
        let (p, elsewhere) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let (p, elsewhere) = (p.path().canonicalize()?, elsewhere.path().canonicalize()?);
        std::os::unix::fs::symlink(elsewhere.join("authorized_keys"), p.join("keys"))?;
        std::os::unix::fs::symlink("loop", p.join("loop"))?;
        assert_eq!(resolve(Path::new("keys"), &p), elsewhere.join("authorized_keys"));
        assert!(resolve(Path::new("loop"), &p).starts_with(&p), "a loop ends, where it is");
        Ok(())
    }

    #[test]
    fn a_symlink_out_of_the_folder_is_followed() -> std::io::Result<()> {
        let (p, elsewhere) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let (p, elsewhere) = (p.path().canonicalize()?, elsewhere.path().canonicalize()?);
        std::os::unix::fs::symlink(&elsewhere, p.join("h"))?;
        std::fs::create_dir(p.join("real"))?;
        assert_eq!(resolve(Path::new("h/.bashrc"), &p), elsewhere.join(".bashrc"));
        assert_eq!(resolve(&p.join("h/new/dir/file"), Path::new("/")), elsewhere.join("new/dir/file"));
        assert_eq!(resolve(&p.join("real/../h/x"), Path::new("/")), elsewhere.join("x"));
        assert_eq!(resolve(&p.join("missing/../h/x"), Path::new("/")), elsewhere.join("x"));
        assert_eq!(
            resolve(&p.join("h/../x"), Path::new("/")),
            elsewhere.parent().map(|e| e.join("x")).unwrap_or_default()
        );
        assert_eq!(resolve(&p.join("real/./file"), Path::new("/")), p.join("real/file"));
        Ok(())
    }

    #[test]
    fn the_event_carries_the_real_file_and_says_what_was_asked() -> std::io::Result<()> {
        let (p, elsewhere) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let (p, elsewhere) = (p.path().canonicalize()?, elsewhere.path().canonicalize()?);
        std::os::unix::fs::symlink(&elsewhere, p.join("h"))?;
        let mut write = event("Write", json!({"file_path": "h/.bashrc", "content": "x"}), &p);
        assert_eq!(resolve_paths(&mut write).as_deref(), Some("h/.bashrc"));
        assert_eq!(write.tool_input["file_path"], shown(&elsewhere.join(".bashrc")));
        assert_eq!(write.tool_input["content"], "x");
        let mut notebook = event("NotebookEdit", json!({"notebook_path": shown(&p.join("h/n.ipynb"))}), &p);
        assert!(resolve_paths(&mut notebook).is_some());
        assert_eq!(notebook.tool_input["notebook_path"], shown(&elsewhere.join("n.ipynb")));
        let mut plain = event("Edit", json!({"file_path": shown(&p.join("src/a.rs"))}), &p);
        assert_eq!(resolve_paths(&mut plain), None, "nothing to tell when nothing changed");
        let mut bash = event("Bash", json!({"command": "cat h/.bashrc"}), &p);
        assert_eq!(resolve_paths(&mut bash), None);
        assert_eq!(bash.tool_input["command"], "cat h/.bashrc");
        // The cwd is where it really is too.
        let mut via_link = event("Read", json!({"file_path": "x"}), &p.join("h"));
        assert_eq!(resolve_paths(&mut via_link).as_deref(), Some("x"));
        assert_eq!(via_link.cwd, Some(shown(&elsewhere)));
        Ok(())
    }
}
