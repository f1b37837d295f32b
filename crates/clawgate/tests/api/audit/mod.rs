//! Evidence anyone can check (issue 19): every decision and security-relevant change leaves a
//! receipt in its account's chain; the server signs checkpoints of it; `clawgate audit verify`
//! checks a downloaded chain trusting nothing but the file (and the published keys).

mod chain_writes;
mod cross_check;
mod pruning;
pub(crate) mod receipts;
mod signed_decisions;
mod verify;
