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

/** Approves request `id` with one passkey prompt; with `grant`, the approval also makes that grant. */
export async function approveWithPasskey(id, grant) {
  const start = await api('POST', '/passkey/authenticate/start', grant ? { requestId: id, grant } : { requestId: id });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  return api('POST', `/approval/approve/${id}`, { ceremonyId: start.ceremonyId, credential: credentialJson(credential) });
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
