//! Approvals: an agent asks and waits without polling; the person decides with a passkey bound to
//! that one request; the agent hears the decision and the person's reason. Acceptance lists A
//! (binding) and E (abuse) of `shared/docs/security.md`; review R's R2 (`docs/src/security.md`).

mod abuse;
mod binding;
mod daily_use;
mod end_to_end;
mod passkey_signs_the_action;
mod revoked_key_waits;
mod waiting;
mod what_agents_hear;
