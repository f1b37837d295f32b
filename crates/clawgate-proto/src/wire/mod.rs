//! What goes over the wire between an agent and the server, each type declared once: the server
//! answers with these, the Rust client reads them, the OpenAPI document is generated from them
//! (with the `openapi` feature), and the OpenClaw plugin's TypeScript types are generated from
//! that document.
//!
//! - [`approvals`]: asking a person, and a request's status;
//! - [`gate`]: a tool call brought to the gate, its answer, and the policy a gate keeps;
//! - [`tokens`]: what a token says, which tokens a check takes, and `verify-token`;
//! - [`error`]: the one shape every error has.

pub mod approvals;
pub mod error;
pub mod gate;
pub mod tokens;

pub use approvals::{ApprovalCreated, ApprovalRequest, Decider, StatusView};
pub use error::{ErrorBody, ErrorDetail};
pub use gate::{GateAnswer, GateExplained, GateRequest, Outcome, PolicyClaims, PolicyGrant, PolicyView};
pub use tokens::{Accept, ApprovalClaims, DecidedBy, InvalidReason, TokenKind, Verification, VerifyRequest};
