// ClawGate's web app, the API client: calls to /api/v1 with the session cookie and CSRF token,
// failures as `ApiError`, the server's clock (learnt from its answers), and the page binding that
// drops an answer arriving after the person left the page that asked.

/** A failure the server answered (or `network` when it could not be reached). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Milliseconds to add to the local clock to get the server's (phones' clocks drift). */
let serverOffset = 0;

/** Now, by the server's clock. */
export function serverNow() {
  return Date.now() + serverOffset;
}

function csrfToken() {
  const found = document.cookie.split('; ').find((c) => c.startsWith('clawgate_csrf='));
  return found ? decodeURIComponent(found.slice('clawgate_csrf='.length)) : '';
}

/**
 * Which page is shown: each render starts a new one. An answer that arrives after its page was
 * left is dropped (the view that asked never resumes), so a slow list cannot land over the page
 * the person went to next.
 */
let shownPage = 0;

/** A new page is shown (or the sign-in form is): answers to calls made for the one before are dropped. */
export function newPage() {
  shownPage += 1;
}

/** A call to the API for the page shown now: its answer is dropped if the person leaves first. */
export function api(method, path, body) {
  return request(method, path, body, shownPage);
}

/** A call whose answer is wanted whatever page is shown (sign-in state, the live connection). */
export function apiAnyPage(method, path, body) {
  return request(method, path, body, null);
}

/** Never settles: what an answer for a page no longer shown gets instead. */
function dropped() {
  return new Promise(() => {});
}

async function request(method, path, body, page) {
  const left = () => page !== null && page !== shownPage;
  const headers = { 'X-Clawgate-Session': 'cookie' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    if (left()) return dropped();
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }
  const date = Date.parse(response.headers.get('date') || '');
  if (!Number.isNaN(date)) serverOffset = date - Date.now();
  const text = await response.text();
  if (left()) return dropped();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const e = data && data.error;
    throw new ApiError(response.status, e ? e.code : `http_${response.status}`, e ? e.message : `The server answered ${response.status}.`);
  }
  return data;
}
