//! Unit tests of the rule engine, one file per module.

pub(crate) use super::corpus::{ORDINARY_COMMANDS, RISKY_COMMANDS};

mod decide;
mod defaults;
mod examples;
mod pattern;
mod review;
mod ruleset;
mod scope;
mod shell;
mod subset;
