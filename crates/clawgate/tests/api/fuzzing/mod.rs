//! Hostile input from the outside: schemathesis generating requests from the served OpenAPI
//! document, and NUL in every JSON body (review R's R12, `docs/src/security.md`).

mod nul_bytes;
mod schemathesis;
