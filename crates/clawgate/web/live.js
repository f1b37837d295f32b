// ClawGate's web app, live updates: one EventSource on /api/v1/approval/events, the view's
// handlers for its events (`follow`), the reconnect after a refused connection, and the "live
// updates paused" notice above every page while the connection is lost.

import { apiAnyPage, ApiError } from './api.js';
import { h, main, toast } from './dom.js';
import { signedIn } from './session.js';

let events = null;
let onApproval = null;
let onDecision = null;
let relisten = null;

/**
 * What the view shown runs on a request's event, and on the gate's decision (null: nothing). Each
 * render clears both; a view that follows live updates sets them again.
 */
export function follow(approval, decision = null) {
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

/**
 * Opens the live connection (once: again while open does nothing). `signedOut` runs when the
 * server, asked after a refused connection, says the session is over.
 */
export function listen(signedOut) {
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
        if (!signedIn()) return;
        try {
          await apiAnyPage('GET', '/auth/me');
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) {
            signedOut();
            return;
          }
        }
        if (signedIn()) listen(signedOut);
      }, 5000);
    }
  });
}

/** Closes the live connection (signed out), and takes the notice away. */
export function stopListening() {
  clearTimeout(relisten);
  if (events) events.close();
  events = null;
  liveLost.hidden = true;
}
