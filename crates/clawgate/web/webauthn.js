// ClawGate's web app, passkeys: the WebAuthn ceremonies (the server's JSON options to the
// browser's `navigator.credentials` and back, in base64url), and the passkey step-up the server
// asks for before a sensitive change.

import { api, ApiError } from './api.js';
import { toast } from './dom.js';
import { signedIn } from './session.js';

export function fromB64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function creationOptions(o) {
  return {
    ...o,
    challenge: fromB64url(o.challenge),
    user: { ...o.user, id: fromB64url(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

function requestOptions(o) {
  return {
    ...o,
    challenge: fromB64url(o.challenge),
    allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

function credentialJson(c) {
  const r = c.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return { id: c.id, rawId: toB64url(c.rawId), type: c.type, response, extensions: c.getClientExtensionResults() };
}

function deviceName() {
  const ua = navigator.userAgent;
  for (const [pattern, name] of [[/iPhone/, 'iPhone'], [/iPad/, 'iPad'], [/Android/, 'Android'], [/Mac OS X/, 'Mac'], [/Windows/, 'Windows'], [/Linux/, 'Linux']]) {
    if (pattern.test(ua)) return `${name} passkey`;
  }
  return 'Passkey';
}

export async function addPasskey() {
  const start = await api('POST', '/passkey/register/start', {});
  const credential = await navigator.credentials.create({ publicKey: creationOptions(start.publicKey) });
  return api('POST', '/passkey/register/complete', { ceremonyId: start.ceremonyId, credential: credentialJson(credential), name: deviceName() });
}

export async function signInWithPasskey(email) {
  const start = await api('POST', '/passkey/authenticate/start', email ? { email } : {});
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  return api('POST', '/passkey/authenticate/complete', { ceremonyId: start.ceremonyId, credential: credentialJson(credential) });
}

/**
 * RFC 8785 canonical JSON. JavaScript's own sort (by UTF-16 code units) and `JSON.stringify` (its
 * string escapes and number forms) are the RFC's, so it takes a few lines here.
 */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The WebAuthn challenge for `signing`: SHA-256 of `clawgate decision v1\0`, the content's canonical JSON and the nonce. */
async function derivedChallenge(signing) {
  const parts = [new TextEncoder().encode('clawgate decision v1\0'), new TextEncoder().encode(canonical(signing.content)), fromB64url(signing.nonce)];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  return toB64url(await crypto.subtle.digest('SHA-256', bytes));
}

/**
 * Approves request `id` with one passkey prompt; with `grant`, the approval also makes that
 * grant. Before the passkey is asked, the page checks what it will sign: the server's content
 * must be this request as shown (`shown`: its action and binding code) and the challenge must be
 * the one derived from it; `onSigning` is then told the content's hash, to show.
 */
export async function approveWithPasskey(id, grant, shown, onSigning) {
  const start = await api('POST', '/passkey/authenticate/start', grant ? { requestId: id, grant } : { requestId: id });
  const signing = start.signing;
  const content = signing && signing.content;
  const same = content && content.requestId === id && (!shown || (content.action === shown.action && content.bindingCode === shown.bindingCode));
  if (!same || (await derivedChallenge(signing)) !== start.publicKey.challenge) {
    throw new Error('clawgate asked your passkey to sign something other than this request, so nothing was signed or approved. Reload the page and look again.');
  }
  if (onSigning) onSigning(signing);
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  return api('POST', `/approval/approve/${id}`, { ceremonyId: start.ceremonyId, credential: credentialJson(credential) });
}

/** SHA-256 (hex) of a value's canonical JSON: a signed rule set's `rulesHash`. */
export async function contentHash(value) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical(value))));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Signs a decision other than an approval with one passkey prompt: a denial
 * (`{decision: 'deny', requestId, reason}`), Stop all agents (`{decision: 'stop'}`) or a rule set
 * (`{decision: 'rules', rules, expectedVersion}`). Before the passkey is asked, the page checks
 * what it will sign (`expected(content)`) and that the challenge is derived from it; `onSigning`
 * is then told, to show. The answer, to send as `passkey` with the decision itself.
 */
export async function signDecision(decision, expected, onSigning) {
  const start = await api('POST', '/passkey/decide/start', decision);
  const signing = start.signing;
  if (!signing || !(await expected(signing.content)) || (await derivedChallenge(signing)) !== start.publicKey.challenge) {
    throw new Error('clawgate asked your passkey to sign something other than this decision, so nothing was signed or changed. Reload the page and look again.');
  }
  if (onSigning) onSigning(signing);
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  return { ceremonyId: start.ceremonyId, credential: credentialJson(credential) };
}

/** Runs `work`; if the server wants a fresh passkey sign-in first, does that and tries once more. */
export async function withStepUp(work) {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'step_up_required') throw error;
    toast('Confirm it is you with your passkey.');
    const me = signedIn();
    await signInWithPasskey(me && me.email);
    return work();
  }
}
