// ClawGate's web app, the lists of requests: what waits for you (/, live) and History, both as
// request cards that open the request's approve page.

import { api } from '../api.js';
import { agentBlock, busy, errorBox, h, main, show, visibleText } from '../dom.js';
import { follow } from '../live.js';
import { timeLeft, when } from '../time.js';

/** How an agent that gave no name is called, on every page (and in sw.js's notification). */
export const UNNAMED_AGENT = 'An unnamed agent';

export function statusBadge(status) {
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

export async function viewPending() {
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
  follow(() => load().catch((e) => main.append(errorBox(e))));
  await load();
}

export async function viewHistory() {
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
  follow(null);
  await load(true);
}
