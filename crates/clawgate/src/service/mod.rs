//! Services: the rules between `http` (which parses and answers) and `store` (which owns the
//! SQL). A service reads the clock, decides, shapes the transaction (which store calls, in what
//! order) and tells whoever must know (events, Web Push); it returns domain results or its own
//! error enum, which `http::error` maps to status codes and messages.

pub mod approvals;
pub mod decisions;
pub mod gate;
pub mod grants;
pub mod keys;
pub mod policy;
pub mod rules;
pub mod stop;
pub mod tokens;
