//! Where agents run, each against a live server: the `clawgate` command line (`request`, `exec`,
//! `gate`, `verify`), the Rust client, the Claude Code hook, `clawgate mcp` and the OpenClaw
//! plugin, and what each tells its agent while it waits.

mod claude_hook;
mod cli;
mod gate_cli;
mod mcp;
mod mcp_gate;
mod openclaw;
mod rust_client;
mod rust_client_retry;
mod what_agents_hear;
