//! Calls sent together, at a glance.

/// The status codes of answers, in order: what a count that came out wrong shows.
pub fn statuses(results: &[crate::harness::Resp]) -> Vec<u16> {
    results.iter().map(|r| r.status.as_u16()).collect()
}
