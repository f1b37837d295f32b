// ClawGate's web app: sign up with a passkey, see what agents ask, approve with a passkey or deny.
//
// Plain DOM, no framework. Agent-supplied text only ever reaches the page through text nodes
// (never parsed as HTML), with invisible and direction-changing characters shown as code points.

import './text-rule.js';
import { grantChoice, grantMade, viewGrants, viewRules, viewStop } from './pages.js';
import { viewDecisions } from './decisions.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const toastBox = document.getElementById('toast');

// ---------------------------------------------------------------- DOM helpers

/** Builds an element; string children become text nodes, so nothing is parsed as markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  fill(el, children);
  return el;
}

/** Appends children to `el`: nested arrays flattened, null/false/undefined skipped, strings as text. */
function fill(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces the children of `el` (with `fill`'s rules). */
function show(el, ...children) {
  el.replaceChildren();
  return fill(el, children);
}

// Controls, other invisible format characters, direction overrides and line separators: they
// could make agent text look like something it is not, so they are shown as their code points.
// The rule is the server's (src/domain/text.rs), served as /text-rule.js, so the page marks
// exactly what push notifications mark.
const INVISIBLE = self.CLAWGATE_MARKED;

/** Agent text as a fragment of text nodes, with invisible characters made visible. */
export function visibleText(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(INVISIBLE)) {
    if (m.index > last) frag.append(text.slice(last, m.index));
    const code = m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
    frag.append(h('span', { class: 'esc', title: 'An invisible or control character the agent sent' }, `U+${code}`));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

function agentBlock(text, extraClass = '') {
  return h('pre', { class: `agent-text ${extraClass}`.trim(), dir: 'ltr' }, visibleText(text));
}

function toast(message) {
  toastBox.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (toastBox.textContent = ''), 4000);
}

function errorBox(error) {
  return h('p', { class: 'notice error', role: 'alert' }, describe(error));
}

/** Runs `work` with the button disabled, and shows any failure next to it, in words. */
async function busy(button, where, work) {
  const label = button.textContent;
  button.disabled = true;
  where.querySelectorAll(':scope > .notice').forEach((n) => n.remove());
  try {
    return await work();
  } catch (error) {
    where.append(errorBox(error));
    return undefined;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Milliseconds to add to the local clock to get the server's (phones' clocks drift). */
let serverOffset = 0;

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

/** A call to the API for the page shown now: its answer is dropped if the person leaves first. */
function api(method, path, body) {
  return request(method, path, body, shownPage);
}

/** A call whose answer is wanted whatever page is shown (sign-in state, the live connection). */
function apiAnyPage(method, path, body) {
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

function describe(error) {
  if (error instanceof ApiError) return sentence(error.message);
  if (error && error.name === 'NotAllowedError') {
    return 'The passkey prompt was cancelled or timed out, or the authenticator could not verify you (PIN or biometrics). Nothing was changed.';
  }
  if (error && error.name === 'InvalidStateError') return 'This passkey is already registered with ClawGate.';
  if (error && error.name === 'NotSupportedError') return 'This browser or device cannot use passkeys here.';
  if (error && error.name === 'SecurityError') return 'Passkeys need this page to be opened at its configured address (https, or http://localhost).';
  return sentence((error && error.message) || 'Something went wrong.');
}

function sentence(text) {
  const s = String(text).trim();
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : s;
}

// ---------------------------------------------------------------- passkeys (WebAuthn JSON <-> browser)

function fromB64url(text) {
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

async function addPasskey() {
  const start = await api('POST', '/passkey/register/start', {});
  const credential = await navigator.credentials.create({ publicKey: creationOptions(start.publicKey) });
  return api('POST', '/passkey/register/complete', { ceremonyId: start.ceremonyId, credential: credentialJson(credential), name: deviceName() });
}

async function signInWithPasskey(email) {
  const start = await api('POST', '/passkey/authenticate/start', email ? { email } : {});
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  return api('POST', '/passkey/authenticate/complete', { ceremonyId: start.ceremonyId, credential: credentialJson(credential) });
}

/** Approves request `id` with one passkey prompt; with `grant`, the approval also makes that grant. */
async function approveWithPasskey(id, grant) {
  const start = await api('POST', '/passkey/authenticate/start', grant ? { requestId: id, grant } : { requestId: id });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  return api('POST', `/approval/approve/${id}`, { ceremonyId: start.ceremonyId, credential: credentialJson(credential) });
}

/** Runs `work`; if the server wants a fresh passkey sign-in first, does that and tries once more. */
async function withStepUp(work) {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'step_up_required') throw error;
    toast('Confirm it is you with your passkey.');
    await signInWithPasskey(me && me.email);
    return work();
  }
}

// ---------------------------------------------------------------- time

/** `promise`, or a rejection after `ms` milliseconds: nothing in the page waits forever. */
function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

function serverNow() {
  return Date.now() + serverOffset;
}

function timeLeft(expiresAt) {
  const ms = Date.parse(expiresAt) - serverNow();
  if (ms <= 0) return 'expired';
  const s = Math.ceil(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min left`;
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s left` : `${s} s left`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** How long ago `iso` was, by the server's clock: "less than a minute ago", "4 minutes ago". */
function ago(iso) {
  const minutes = Math.floor((serverNow() - Date.parse(iso)) / 60000);
  if (!(minutes >= 1)) return 'less than a minute ago';
  if (minutes < 60) return `${minutes} ${minutes === 1 ? 'minute' : 'minutes'} ago`;
  const hours = Math.floor(minutes / 60);
  return `${hours} ${hours === 1 ? 'hour' : 'hours'} ago`;
}

/** How an agent that gave no name is called, on every page (and in sw.js's notification). */
const UNNAMED_AGENT = 'An unnamed agent';

/** Updates every `[data-expires]` element and the approve page's "no agent is waiting" once a second. */
setInterval(() => {
  for (const el of document.querySelectorAll('[data-expires]')) el.textContent = timeLeft(el.dataset.expires);
  for (const el of document.querySelectorAll('[data-agent-until]')) showAgentWaiting(el);
}, 1000);

// ---------------------------------------------------------------- live updates

let events = null;
let onApproval = null;
let onDecision = null;
let relisten = null;

/** For a view in another module: what to run on a request's event, and on the gate's decision. */
function follow(approval, decision) {
  onApproval = approval;
  onDecision = decision;
}

/** Said while the live connection is lost (above every page), gone once it is back. */
const liveLost = h(
  'p',
  { class: 'notice warn live-lost', id: 'live-lost', role: 'status', hidden: true },
  'Live updates paused — reconnecting; this page may be out of date.',
);
main.before(liveLost);

function listen() {
  if (events) return;
  clearTimeout(relisten);
  const source = new EventSource('/api/v1/approval/events');
  events = source;
  const refresh = () => onApproval && onApproval();
  source.addEventListener('approval', refresh);
  source.addEventListener('resync', refresh);
  source.addEventListener('decision', () => onDecision && onDecision());
  // After a reconnect, events may have been missed: the page reloads what it shows.
  source.addEventListener('open', () => {
    const wasLost = !liveLost.hidden;
    liveLost.hidden = true;
    refresh();
    if (wasLost) toast('Live updates are back.');
  });
  source.addEventListener('error', () => {
    if (events !== source) return;
    liveLost.hidden = false;
    // The browser retries a dropped connection by itself; one refused outright (the server
    // answered an error) it gives up: after a pause, start again if still signed in, else sign in.
    if (source.readyState === EventSource.CLOSED) {
      events = null;
      relisten = setTimeout(async () => {
        if (!me) return;
        try {
          await apiAnyPage('GET', '/auth/me');
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) {
            me = null;
            nav.hidden = true;
            viewSignIn();
            return;
          }
        }
        if (me) listen();
      }, 5000);
    }
  });
}

function stopListening() {
  clearTimeout(relisten);
  if (events) events.close();
  events = null;
  liveLost.hidden = true;
}

// ---------------------------------------------------------------- views

let me = null;

function statusBadge(status) {
  return h('span', { class: `badge ${status}` }, status);
}

function requestCard(r) {
  return h(
    'li',
    { class: 'card', 'data-request': r.requestId },
    h('div', { class: 'spread' }, h('strong', {}, r.agentId ? visibleText(r.agentId) : UNNAMED_AGENT), statusBadge(r.status)),
    agentBlock(r.action, 'action'),
    h(
      'div',
      { class: 'spread small' },
      r.status === 'PENDING'
        ? h('span', {}, 'Code ', h('strong', {}, r.bindingCode), ' · ', h('span', { 'data-expires': r.expiresAt }, timeLeft(r.expiresAt)))
        : // Lists are in the order requests were asked: that time comes first, the decision's after.
          h('span', { class: 'muted', 'data-asked': r.createdAt }, `Asked ${when(r.createdAt)}`, r.decidedAt ? ` · decided ${when(r.decidedAt)}` : ''),
      h('a', { href: `/approve/${r.requestId}`, 'data-link': true }, r.status === 'PENDING' ? 'Review and decide' : 'Details'),
    ),
  );
}

async function viewPending() {
  main.replaceChildren(h('h1', {}, 'Waiting for you'), h('p', { class: 'muted' }, 'Loading…'));
  const list = h('ul', { class: 'plain', id: 'pending' });
  const load = async () => {
    const data = await api('GET', '/approval/pending');
    list.replaceChildren(...data.requests.map(requestCard));
    const empty = data.requests.length === 0;
    show(
      main,
      h('h1', {}, 'Waiting for you'),
      empty ? h('p', { class: 'muted', id: 'nothing-pending' }, 'Nothing is waiting. When an agent asks, it appears here at once.') : null,
      list,
    );
  };
  onApproval = () => load().catch((e) => main.append(errorBox(e)));
  await load();
}

/**
 * On a pending request, said when no agent waits for the answer any more (hidden while one does,
 * and shown by the once-a-second timer the moment the wait the server reported runs out).
 */
function agentWaitingNotice(r) {
  const el = h('p', {
    class: 'notice warn',
    id: 'no-agent-waiting',
    role: 'status',
    'data-agent-until': r.agentWaitingUntil,
    'data-agent-waiting': String(r.agentWaiting !== false),
    'data-agent-checked': r.agentCheckedAt || '',
    'data-asked': r.createdAt,
  });
  showAgentWaiting(el);
  return el;
}

function showAgentWaiting(el) {
  const waiting = el.dataset.agentWaiting === 'true' && serverNow() < Date.parse(el.dataset.agentUntil);
  el.hidden = waiting;
  if (waiting) return;
  const last = el.dataset.agentChecked
    ? `it last checked ${ago(el.dataset.agentChecked)}`
    : `it has not checked since it asked, ${ago(el.dataset.asked)}`;
  el.textContent = `No agent is waiting for this answer now (${last}): approving still records it, but nothing may act on it.`;
}

async function viewApproval(id) {
  let shownStatus = null;
  const render = async (fetched) => {
    const r = fetched || (await api('GET', `/approval/${id}`));
    shownStatus = r.status;
    const box = h('section', { class: 'card', 'aria-labelledby': 'approval-title' });
    const pending = r.status === 'PENDING';
    fill(
      box,
      h('div', { class: 'spread' }, h('h1', { id: 'approval-title' }, pending ? 'Approve this action?' : 'Request'), statusBadge(r.status)),
      pending && r.agentWaitingUntil ? agentWaitingNotice(r) : null,
      h('h2', {}, 'Action'),
      agentBlock(r.action, 'action'),
      // The code to compare comes before the decision (on a phone the buttons stay in view below).
      h('h2', {}, 'Binding code'),
      h('p', {}, h('span', { class: 'code', id: 'binding-code' }, r.bindingCode)),
      h('p', { class: 'muted small' }, 'The agent shows this same code. If they differ, deny: this is not the request you expect.'),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Agent'),
        h('dd', {}, r.agentId ? agentBlock(r.agentId) : h('span', { class: 'muted' }, UNNAMED_AGENT)),
        h('dt', {}, 'Asked'),
        h('dd', {}, when(r.createdAt)),
        pending ? [h('dt', {}, 'Time left'), h('dd', { 'data-expires': r.expiresAt }, timeLeft(r.expiresAt))] : [h('dt', {}, 'Decided'), h('dd', {}, when(r.decidedAt))],
        r.denyReason ? [h('dt', {}, 'Reason'), h('dd', {}, agentBlock(r.denyReason))] : null,
      ),
      r.grant ? grantMade(r.grant) : null,
      r.context ? [h('h2', {}, 'Context'), agentBlock(JSON.stringify(r.context, null, 2))] : null,
    );
    if (pending) {
      const approve = h('button', { type: 'button', class: 'approve', id: 'approve' }, 'Approve with passkey');
      // Said before the person denies: this denial would suspend the agent's key (issue 17).
      const suspends = r.denyingSuspendsKey === true;
      const deny = h('button', { type: 'button', class: 'deny', id: 'deny' }, suspends ? 'Deny and suspend the key' : 'Deny');
      const reason = h('textarea', { id: 'deny-reason', maxlength: 500, placeholder: 'Optional: tell the agent why (it is shown what you write)' });
      approve.addEventListener('click', () =>
        busy(approve, box, async () => {
          approve.textContent = 'Waiting for your passkey…';
          await approveWithPasskey(id);
          toast('Approved.');
          await render();
        }),
      );
      deny.addEventListener('click', () =>
        busy(deny, box, async () => {
          const done = await api('POST', `/approval/deny/${id}`, reason.value.trim() ? { reason: reason.value.trim() } : {});
          toast(done && done.keySuspended ? 'Denied. The agent’s key is suspended: resume it on API keys.' : 'Denied.');
          await render();
        }),
      );
      const warning = suspends
        ? h(
            'p',
            { class: 'notice error', id: 'deny-suspends' },
            'Denying this suspends the agent’s API key: its requests were denied again and again in the last 10 minutes. ',
            'Until you resume the key on API keys, its agents can neither ask nor pass the gate.',
          )
        : null;
      box.append(h('label', { for: 'deny-reason' }, 'Reason for denying (optional)'), reason, ...(warning ? [warning] : []), h('div', { class: 'decide decide-bar', id: 'decide' }, approve, deny));
      if (r.grantOptions && r.grantOptions.length) {
        box.append(
          grantChoice(r, async (grant) => {
            const done = await approveWithPasskey(id, grant);
            toast(done && done.grantId ? 'Approved, and allowed for the time you chose.' : 'Approved.');
            await render();
          }),
        );
      }
    }
    main.replaceChildren(box, h('p', {}, h('a', { href: '/', 'data-link': true }, '← All pending requests')));
  };
  // A live update re-renders only when the request changed state, so a half-made choice stays.
  const refresh = async () => {
    const r = await api('GET', `/approval/${id}`);
    if (r.status !== shownStatus) await render(r);
    else updateAgentWaiting(r);
  };
  onApproval = () => refresh().catch((e) => main.append(errorBox(e)));
  // While no agent waits, look again now and then: it may come back (its next poll or wait).
  const recheck = setInterval(() => {
    if (location.pathname !== `/approve/${id}` || !main.querySelector('#approval-title')) {
      clearInterval(recheck);
      return;
    }
    const notice = document.getElementById('no-agent-waiting');
    if (notice && !notice.hidden) refresh().catch(() => {});
  }, 15000);
  await render();
}

/** The "no agent is waiting" notice brought up to date with `r`, as read again. */
function updateAgentWaiting(r) {
  const el = document.getElementById('no-agent-waiting');
  if (!el || !r.agentWaitingUntil) return;
  el.dataset.agentUntil = r.agentWaitingUntil;
  el.dataset.agentWaiting = String(r.agentWaiting !== false);
  el.dataset.agentChecked = r.agentCheckedAt || '';
  showAgentWaiting(el);
}

async function viewHistory() {
  const filter = h(
    'select',
    { id: 'status-filter' },
    ...['', 'PENDING', 'APPROVED', 'DENIED', 'EXPIRED'].map((s) => h('option', { value: s }, s ? s.toLowerCase() : 'all')),
  );
  const list = h('ul', { class: 'plain', id: 'history' });
  const more = h('button', { type: 'button', id: 'more', hidden: true }, 'Load more');
  const area = h('div', {});
  let cursor = null;
  const load = async (reset) => {
    if (reset) {
      cursor = null;
      list.replaceChildren();
    }
    const q = new URLSearchParams({ limit: '20' });
    if (filter.value) q.set('status', filter.value);
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `/approval/history?${q}`);
    list.append(...page.requests.map(requestCard));
    if (list.children.length === 0) list.append(h('li', { class: 'muted' }, 'No requests yet.'));
    cursor = page.nextCursor || null;
    more.hidden = !cursor;
  };
  filter.addEventListener('change', () => load(true).catch((e) => area.append(errorBox(e))));
  more.addEventListener('click', () => busy(more, area, () => load(false)));
  main.replaceChildren(
    h('h1', {}, 'History'),
    h('p', { class: 'muted small', id: 'history-order' }, 'Newest first, by when the agent asked.'),
    h('label', { for: 'status-filter' }, 'Show'),
    filter,
    h('h2', { class: 'sr-only' }, 'Requests'),
    list,
    area,
    more,
  );
  onApproval = null;
  await load(true);
}

/** Why a key is suspended (`suspendedBecause`), as the API keys page says it. */
const SUSPENSION_CAUSES = {
  denials: 'its requests were denied again and again (repeated denials within 10 minutes suspend a key). If an agent is being misused or its key leaked, revoke it; if all is well, resume it.',
  stop: 'you stopped all agents (Stop all agents). Once you know the agent using it is safe, resume it; if its key leaked, revoke it.',
  unknown: 'its requests were denied again and again, or you stopped all agents. If an agent is being misused or its key leaked, revoke it; if all is well, resume it.',
};

async function viewKeys() {
  const list = h('ul', { class: 'plain', id: 'keys' });
  const name = h('input', { id: 'key-name', maxlength: 64, placeholder: 'e.g. deploy bot', autocomplete: 'off' });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create API key');
  const shown = h('div', { id: 'new-key' });
  // The key the box shows now: revoking it takes the box away (leaving the page does too).
  let shownKey = null;
  const form = h('form', { class: 'card' }, h('label', { for: 'key-name' }, 'Name'), name, h('p', {}, create), shown);
  const load = async () => {
    const data = await api('GET', '/auth/api-keys');
    list.replaceChildren(
      ...data.apiKeys.map((k) => {
        const revoke = h('button', { type: 'button', class: 'danger' }, 'Revoke');
        const resume = h('button', { type: 'button', class: 'resume' }, 'Resume');
        const suspended = k.suspendedAt && !k.revokedAt;
        const item = h(
          'li',
          { class: 'card', 'data-key': k.id },
          h(
            'div',
            { class: 'spread' },
            h('strong', {}, visibleText(k.name)),
            k.revokedAt ? h('span', { class: 'badge' }, 'revoked') : h('span', { class: 'row' }, suspended ? resume : null, revoke),
          ),
          h('div', { class: 'small muted' }, `${k.prefix}… · created ${when(k.createdAt)}`, k.lastUsedAt ? ` · last used ${when(k.lastUsedAt)}` : ''),
          suspended
            ? h('p', { class: 'notice error', 'data-suspended-because': k.suspendedBecause || 'unknown' }, `Suspended ${when(k.suspendedAt)}: ${SUSPENSION_CAUSES[k.suspendedBecause] || SUSPENSION_CAUSES.unknown}`)
            : null,
        );
        resume.addEventListener('click', () =>
          busy(resume, item, async () => {
            await withStepUp(() => api('POST', `/auth/api-keys/${k.id}/resume`));
            toast('Key resumed.');
            await load();
          }),
        );
        revoke.addEventListener('click', () => {
          if (!confirm(`Revoke “${k.name}”? Agents using it stop working at once.`)) return;
          busy(revoke, item, async () => {
            await api('DELETE', `/auth/api-keys/${k.id}`);
            if (shownKey === k.id) {
              shown.replaceChildren();
              shownKey = null;
            }
            toast('Key revoked.');
            await load();
          });
        });
        return item;
      }),
    );
    if (data.apiKeys.length === 0) list.append(h('li', { class: 'muted' }, 'No keys yet. Create one for each agent.'));
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(create, form, async () => {
      const key = await withStepUp(() => api('POST', '/auth/api-keys', { name: name.value.trim() || undefined }));
      const field = h('input', { id: 'new-key-value', readonly: true, value: key.key, 'aria-label': 'The new API key' });
      const copy = h('button', { type: 'button', id: 'copy-key' }, 'Copy');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(key.key);
          toast('Copied.');
        } catch {
          field.select();
          toast('Select the key and copy it.');
        }
      });
      shown.replaceChildren(
        h('p', { class: 'notice success' }, 'Here is the key. It is shown only now: copy it into your agent’s settings.'),
        h('div', { class: 'secret' }, field, copy),
      );
      shownKey = key.id;
      name.value = '';
      await load();
    });
  });
  main.replaceChildren(
    h('h1', {}, 'API keys'),
    h('p', { class: 'muted' }, 'An agent uses a key to ask you for approval. A key can only ask and wait: it can never approve.'),
    form,
    list,
  );
  onApproval = null;
  await load();
}

async function viewPasskeys() {
  const list = h('ul', { class: 'plain', id: 'passkeys' });
  const add = h('button', { type: 'button', class: 'primary', id: 'add-passkey' }, 'Add a passkey');
  const area = h('div', {}, h('p', {}, add));
  // An error is about what was just tried: it goes when the person acts again or the list changes.
  const clearErrors = () => main.querySelectorAll('.notice.error').forEach((n) => n.remove());
  const load = async () => {
    const data = await api('GET', '/passkey');
    clearErrors();
    list.replaceChildren(
      ...data.passkeys.map((p) => {
        const field = h('input', { value: p.name, maxlength: 64, 'aria-label': `Name of passkey ${p.name}` });
        const save = h('button', { type: 'button' }, 'Rename');
        const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
        const item = h(
          'li',
          { class: 'card' },
          h('div', { class: 'secret' }, field, save),
          h('div', { class: 'spread small muted' }, `Added ${when(p.createdAt)}${p.lastUsedAt ? ` · last used ${when(p.lastUsedAt)}` : ''}`, remove),
        );
        save.addEventListener('click', () =>
          busy(save, item, async () => {
            clearErrors();
            await api('PATCH', `/passkey/${p.id}`, { name: field.value });
            toast('Renamed.');
          }),
        );
        remove.addEventListener('click', () => {
          if (data.passkeys.length === 1 && !confirm('This is your only passkey. Without one you cannot approve anything. Delete it?')) return;
          busy(remove, item, async () => {
            clearErrors();
            await withStepUp(() => api('DELETE', `/passkey/${p.id}`));
            toast('Passkey deleted.');
            await load();
          });
        });
        return item;
      }),
    );
  };
  add.addEventListener('click', () =>
    busy(add, area, async () => {
      clearErrors();
      await withStepUp(addPasskey);
      toast('Passkey added.');
      await load();
    }),
  );
  main.replaceChildren(h('h1', {}, 'Passkeys'), h('p', { class: 'muted' }, 'Any of these can approve what your agents ask.'), list, area);
  onApproval = null;
  await load();
}

async function pushRegistration() {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) return null;
  return navigator.serviceWorker.register('/sw.js');
}

async function viewNotifications() {
  const state = h('p', { id: 'push-state' });
  const toggle = h('button', { type: 'button', class: 'primary', id: 'push-toggle' });
  const area = h('div', { class: 'card' }, state, toggle);
  const render = async () => {
    state.textContent = 'Checking this device…';
    if ('Notification' in window && Notification.permission === 'denied') {
      // The browser refuses without asking: a button here could not work.
      state.textContent =
        'Notifications are blocked for this site in this browser. To allow them, open the site settings (the icon at the left of the address bar, or the browser’s Settings → Privacy and security → Site settings → Notifications), set Notifications to Allow for this site, then come back to this page.';
      state.dataset.ready = 'blocked';
      toggle.hidden = true;
      return;
    }
    const registration = await withTimeout(pushRegistration(), 5000).catch(() => null);
    if (!registration) {
      state.textContent = 'This browser cannot receive push notifications. On an iPhone, add ClawGate to the Home Screen first (Share → Add to Home Screen) and open it from there.';
      state.dataset.ready = 'unsupported';
      toggle.hidden = true;
      return;
    }
    let subscription;
    try {
      subscription = await withTimeout(registration.pushManager.getSubscription(), 5000);
    } catch {
      state.textContent = 'This browser’s push service does not answer, so notifications cannot be set up here.';
      state.dataset.ready = 'unavailable';
      toggle.hidden = true;
      return;
    }
    toggle.hidden = false;
    state.textContent = subscription
      ? 'Notifications are on for this device: you are told when an agent asks.'
      : 'Notifications are off for this device.';
    state.dataset.ready = subscription ? 'on' : 'off';
    toggle.textContent = subscription ? 'Turn notifications off' : 'Turn notifications on';
    toggle.onclick = () =>
      busy(toggle, area, async () => {
        if (subscription) {
          await api('POST', '/push/unsubscribe', { endpoint: subscription.endpoint }).catch((e) => {
            if (!(e instanceof ApiError && e.status === 404)) throw e;
          });
          await subscription.unsubscribe();
        } else {
          if ((await Notification.requestPermission()) !== 'granted') throw new Error('Notifications were not allowed.');
          const { publicKey } = await api('GET', '/push/vapid-public-key');
          const created = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromB64url(publicKey) });
          await api('POST', '/push/subscribe', created.toJSON());
        }
        await render();
      });
  };
  main.replaceChildren(h('h1', {}, 'Notifications'), area);
  onApproval = null;
  // Allowed or blocked in the site settings meanwhile: say what holds now.
  navigator.permissions
    ?.query({ name: 'notifications' })
    .then((status) => {
      status.onchange = () => area.isConnected && render().catch(() => {});
    })
    .catch(() => {});
  await render();
}

const NO_EMAIL_HINT =
  'The passkey prompt was cancelled, or no passkey here can sign in without an email: some passkeys (such as those on many security keys) need the account named first. Enter your email above and try again.';

function viewSignIn() {
  shownPage += 1; // also when shown without a render (the session ended): earlier answers stay out
  stopListening();
  onApproval = null;
  const email = h('input', { id: 'signin-email', type: 'email', autocomplete: 'username webauthn', placeholder: 'you@example.com' });
  const signIn = h('button', { type: 'submit', class: 'primary', id: 'signin' }, 'Sign in with passkey');
  const signInForm = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signin-title' },
    h('h2', { id: 'signin-title' }, 'Sign in'),
    h('label', { for: 'signin-email' }, 'Email (optional)'),
    email,
    h('p', {}, signIn),
  );
  signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(signIn, signInForm, async () => {
      signIn.textContent = 'Waiting for your passkey…';
      const typed = email.value.trim();
      try {
        await signInWithPasskey(typed);
      } catch (error) {
        // Without an email the authenticator must find the passkey by itself, which a passkey
        // that is not discoverable (some security keys) cannot do: say what to do instead.
        if (!typed && error && error.name === 'NotAllowedError') {
          email.focus();
          throw new Error(NO_EMAIL_HINT);
        }
        throw error;
      }
      await start();
    });
  });

  const newEmail = h('input', { id: 'signup-email', type: 'email', required: true, autocomplete: 'email', placeholder: 'you@example.com' });
  const signUp = h('button', { type: 'submit', class: 'primary', id: 'signup' }, 'Create account with a passkey');
  const signUpForm = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signup-title' },
    h('h2', { id: 'signup-title' }, 'New here?'),
    h('p', { class: 'muted small' }, 'Your account is protected by a passkey on this device (Face ID, Touch ID, Windows Hello or a security key). There is no password.'),
    h('label', { for: 'signup-email' }, 'Email'),
    newEmail,
    h('p', {}, signUp),
  );
  let registered = false;
  signUpForm.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(signUp, signUpForm, async () => {
      if (!registered) {
        await api('POST', '/auth/register', { email: newEmail.value.trim() });
        registered = true;
      }
      signUp.textContent = 'Creating your passkey…';
      await addPasskey();
      await start();
    }).then(() => {
      if (registered && !me) signUp.textContent = 'Try creating the passkey again';
    });
  });
  main.replaceChildren(
    h('h1', {}, 'Approve what your agents do'),
    h('p', { class: 'muted' }, 'When an agent asks to do something that needs your yes, it shows up here. You approve with a passkey, or deny.'),
    signInForm,
    signUpForm,
  );
  main.focus();
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/$/, viewPending],
  [/^\/approve\/(req_[0-9A-Za-z]{22})$/, viewApproval],
  [/^\/history$/, viewHistory],
  [/^\/keys$/, viewKeys],
  [/^\/passkeys$/, viewPasskeys],
  [/^\/notifications$/, viewNotifications],
  [/^\/grants$/, viewGrants],
  [/^\/decisions$/, viewDecisions],
  [/^\/rules$/, viewRules],
  [/^\/stop$/, viewStop],
];

async function render() {
  shownPage += 1;
  if (!me) return viewSignIn();
  const path = location.pathname;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/', 'data-link': true }, 'Go to pending requests')));
    return;
  }
  const [pattern, view] = route;
  onApproval = null; // a view that follows live updates sets it again
  onDecision = null;
  try {
    await view(...path.match(pattern).slice(1));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      me = null;
      nav.hidden = true;
      return viewSignIn();
    }
    main.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(error));
  }
}

function go(path) {
  history.pushState(null, '', path);
  render().then(() => main.focus());
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute('href'));
});
window.addEventListener('popstate', () => render());

document.getElementById('signout').addEventListener('click', async () => {
  try {
    await apiAnyPage('POST', '/auth/logout');
  } finally {
    me = null;
    nav.hidden = true;
    stopListening();
    go('/');
  }
});

/** Finds out who is signed in (the session cookie is HttpOnly) and shows the page. */
async function start() {
  try {
    me = await apiAnyPage('GET', '/auth/me');
  } catch (error) {
    // 401: no session. step_up_required: an email-only session on an account that has a passkey
    // now, which can only sign out: either way, sign in with the passkey.
    const signedOut = error instanceof ApiError && (error.status === 401 || error.code === 'step_up_required');
    if (!signedOut) {
      main.replaceChildren(errorBox(error));
      return;
    }
    me = null;
  }
  nav.hidden = !me;
  if (me) listen();
  if (me && me.passkeyCount === 0) {
    // Registered but the passkey was never made: finish that first.
    history.replaceState(null, '', '/passkeys');
  }
  await render();
}

// For the gate's pages (pages.js), which build on the same helpers.
export { h, fill, show, agentBlock, toast, errorBox, busy, api, ApiError, withStepUp, timeLeft, when, sentence, follow };

pushRegistration().catch(() => {});
start();
