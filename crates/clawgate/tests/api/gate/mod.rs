//! The gate and the rules (issue 10): a tool call passes, is refused or asks by the key owner's
//! rules; the splitter that reads shell commands, checked against real bash; the gates deciding
//! offline; every decision listed. Review round S (issue 16, `docs/src/security.md`): C2, C3, H1,
//! H2, M1–M4, L1–L3.

mod calls;
mod decisions;
mod every_gate;
mod offline;
mod rules;
mod splitter;
mod splitter_vs_bash;
mod storage;
