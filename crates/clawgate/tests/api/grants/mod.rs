//! Standing grants (issue 10, part 3): chosen with a passkey approval, used by later calls within
//! their width, as often as allowed, on every instance, until they expire or are revoked.

mod standing_grants;
