//! Web Push: delivery checked by push services that are not ours, pacing and collapsing, what a
//! push may carry and where it may go. Review R's R8, R10 and R11 (`docs/src/security.md`), and a
//! push client that uses no proxy.

mod delivery;
mod endpoint_ownership;
mod invisible_characters;
mod logs_and_proxies;
