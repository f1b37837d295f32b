// ClawGate's web app: sign up with a passkey, see what agents ask, approve with a passkey or deny.
//
// Plain DOM, no framework. Agent-supplied text only ever reaches the page through text nodes
// (never parsed as HTML), with invisible and direction-changing characters shown as code points.
//
// This is the entry: it routes paths to the views (views/*.js), finds out who is signed in, and
// keeps the live connection and the page's clock going. The modules below it (dom, api, time,
// session, webauthn, live) never import a view: where they must reach back up (the session
// ended, sign-in done), they are handed a callback.

import { ApiError, apiAnyPage, newPage } from './api.js';
import { errorBox, h, main } from './dom.js';
import { follow, listen, stopListening } from './live.js';
import { setSignedIn, signedIn } from './session.js';
import { timeLeft } from './time.js';
import { showAgentWaiting, viewApproval } from './views/approve.js';
import { viewDecisions } from './views/decisions.js';
import { viewReceipts } from './views/receipts.js';
import { viewGrants } from './views/grants.js';
import { viewKeys } from './views/keys.js';
import { pushRegistration, viewNotifications } from './views/notifications.js';
import { viewPasskeys } from './views/passkeys.js';
import { viewHistory, viewPending } from './views/requests.js';
import { viewRules } from './views/rules.js';
import { viewSignIn } from './views/sign-in.js';
import { viewStop } from './views/stop.js';

const nav = document.getElementById('nav');

/**
 * Updates every `[data-expires]` element and the approve page's "no agent is waiting" once a second
 * (one clock for every page, so it lives here, above the views).
 */
setInterval(() => {
  for (const el of document.querySelectorAll('[data-expires]')) el.textContent = timeLeft(el.dataset.expires);
  for (const el of document.querySelectorAll('[data-agent-until]')) showAgentWaiting(el);
}, 1000);

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
  [/^\/receipts$/, viewReceipts],
  [/^\/rules$/, viewRules],
  [/^\/stop$/, viewStop],
];

/** The session is over (the server said so): the sign-in page, without the nav. */
function sessionEnded() {
  setSignedIn(null);
  nav.hidden = true;
  return viewSignIn(start);
}

async function render() {
  newPage();
  if (!signedIn()) return viewSignIn(start);
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
  follow(null, null); // a view that follows live updates sets them again
  try {
    await view(...path.match(pattern).slice(1));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded();
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
    setSignedIn(null);
    nav.hidden = true;
    stopListening();
    go('/');
  }
});

/** Finds out who is signed in (the session cookie is HttpOnly) and shows the page. */
async function start() {
  try {
    setSignedIn(await apiAnyPage('GET', '/auth/me'));
  } catch (error) {
    // 401: no session. step_up_required: an email-only session on an account that has a passkey
    // now, which can only sign out: either way, sign in with the passkey.
    const signedOut = error instanceof ApiError && (error.status === 401 || error.code === 'step_up_required');
    if (!signedOut) {
      main.replaceChildren(errorBox(error));
      return;
    }
    setSignedIn(null);
  }
  const me = signedIn();
  nav.hidden = !me;
  if (me) listen(sessionEnded);
  if (me && me.passkeyCount === 0) {
    // Registered but the passkey was never made: finish that first.
    history.replaceState(null, '', '/passkeys');
  }
  await render();
}

pushRegistration().catch(() => {});
start();
