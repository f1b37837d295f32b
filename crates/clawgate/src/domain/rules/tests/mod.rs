//! Unit tests of the rule engine, one file per module.

mod decide;
mod defaults;
mod pattern;
mod ruleset;
mod scope;
mod shell;
