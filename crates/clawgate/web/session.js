// ClawGate's web app, who is signed in: the answer of /auth/me (the session cookie itself is
// HttpOnly), or null when no one is.

let me = null;

/** Who is signed in (`{ email, passkeyCount, … }`), or null. */
export function signedIn() {
  return me;
}

/** Records who is signed in now (null once signed out). */
export function setSignedIn(who) {
  me = who;
}
