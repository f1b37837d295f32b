//! The tool names calls reach the rules with, so a `tool` glob can be checked when a rule set is
//! saved: a name that differs from a known one only in case (`bash`) is a typo the rule would
//! never match, and a name no agent sends is worth a warning.

use super::pattern::Glob;

/// Claude Code's tools, as its hooks and `gate_tool_call` name them (older names included).
#[rustfmt::skip]
pub const CLAUDE_CODE_TOOLS: [&str; 39] = [
    "Bash", "Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "NotebookRead", "Glob", "Grep", "LS",
    "WebFetch", "WebSearch", "Task", "Agent", "TodoWrite", "TodoRead", "BashOutput", "KillShell", "KillBash",
    "ExitPlanMode", "EnterPlanMode", "EnterWorktree", "ExitWorktree", "AskUserQuestion", "Skill",
    "SlashCommand", "ListMcpResourcesTool", "ReadMcpResourceTool", "LSP", "PowerShell", "ToolSearch",
    "TaskCreate", "TaskGet", "TaskList", "TaskOutput", "TaskStop", "TaskUpdate", "CronCreate", "CronList",
];

/// OpenClaw's core tools, which its plugin sends under their own names. Its shell tools (`exec`,
/// `bash`) are sent with `shell: true` and decided as `Bash`.
#[rustfmt::skip]
pub const OPENCLAW_TOOLS: [&str; 22] = [
    "exec", "process", "read", "write", "edit", "apply_patch", "browser", "canvas", "nodes", "cron",
    "gateway", "message", "image", "web_search", "web_fetch", "memory_search", "memory_get",
    "sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status",
];

/// MCP tools are named `mcp__<server>__<tool>`: the servers are the person's own, so any such
/// name may be real.
const MCP_PREFIX: &str = "mcp__";

/// OpenClaw's shell tool: its calls reach the rules as `Bash`.
pub const SHELL_TOOL: &str = "exec";

/// What a `tool` glob can match, as far as the server knows its agents' tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolReach {
    /// Matches a known tool (or is an MCP tool's name).
    Known,
    /// Matches OpenClaw's `exec` only, whose calls the gate decides as `Bash`.
    ShellOnly,
    /// Matches no known tool, but these ones if case is ignored (`bash` for `Bash`).
    CaseOf(Vec<&'static str>),
    /// Matches no known tool; the closest known name when it is a near miss (`Bsh`).
    Unknown { near: Option<&'static str> },
}

fn known() -> impl Iterator<Item = &'static str> {
    CLAUDE_CODE_TOOLS.iter().chain(&OPENCLAW_TOOLS).copied()
}

/// What `glob` reaches among the known tool names.
pub fn reach(glob: &Glob) -> ToolReach {
    if glob.as_str().starts_with(MCP_PREFIX) {
        return ToolReach::Known;
    }
    let matched: Vec<&str> = known().filter(|t| glob.matches(t)).collect();
    match matched.as_slice() {
        [SHELL_TOOL] => return ToolReach::ShellOnly,
        [_, ..] => return ToolReach::Known,
        [] => {}
    }
    // Case-blind: the glob and the names lower-cased (`[A-Z]` becomes `[a-z]`, which is fine).
    let folded = Glob::parse(&glob.as_str().to_lowercase()).ok();
    let by_case: Vec<&str> =
        known().filter(|t| folded.as_ref().is_some_and(|g| g.matches(&t.to_lowercase()))).collect();
    if !by_case.is_empty() {
        return ToolReach::CaseOf(by_case);
    }
    let near = is_literal(glob.as_str()).then(|| closest(glob.as_str())).flatten();
    ToolReach::Unknown { near }
}

/// Whether a glob is a plain name, without `*`, `?`, `[` or `\`.
pub fn is_literal(source: &str) -> bool {
    !source.contains(['*', '?', '[', '\\'])
}

/// The known tool within two edits of `name` (a dropped, added or changed character; at most one
/// per two characters of the name), if one is.
fn closest(name: &str) -> Option<&'static str> {
    known()
        .map(|t| (edit_distance(&name.to_lowercase(), &t.to_lowercase()), t))
        .filter(|(d, t)| *d <= 2 && *d * 2 <= t.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, t)| t)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}
