//! clawgate's contract, free of I/O, shared by the server, the client and the agent's commands:
//! what both sides must compute alike.
//!
//! - [`gate`]: a tool call as the gate sees it, and the action text a person approves;
//! - [`approval`]: what an agent may ask, how long a request lives, and the hash a token covers;
//! - [`rules`]: the rule language, and what it decides for a call (the server's gate, and an
//!   agent's gate deciding by the person's kept rules while the server is unreachable);
//! - [`evidence`]: what a person's passkey signs when they decide (the challenge derived from it);
//! - [`denial`] and [`text`]: what an agent hears about a "no", with invisible characters marked;
//! - [`random`]: identifiers and codes drawn from the operating system's generator;
//! - [`wire`]: every request, answer and claims type an agent and the server exchange, once.

pub mod approval;
pub mod denial;
pub mod evidence;
pub mod gate;
pub mod random;
pub mod rules;
pub mod text;
pub mod wire;
