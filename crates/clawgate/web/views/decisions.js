// ClawGate's web app, every decision: /decisions lists what your rules, your grants, you, Stop
// all agents and expiry decided about your agents' calls, newest first, live; and a grant's uses
// on /grants come from the same list.
//
// DOM built from text nodes only (dom.js); agent text (actions, paths, agent ids, key names, and
// the words that repeat them) goes through `visibleText`.

import { api } from '../api.js';
import { agentBlock, busy, errorBox, h, main, visibleText } from '../dom.js';
import { follow } from '../live.js';
import { when } from '../time.js';

const OUTCOMES = { allow: 'allowed', deny: 'denied', expired: 'expired' };
const DECIDERS = [
  ['', 'anything'],
  ['rule', 'your rules'],
  ['grant', 'your grants'],
  ['person', 'you'],
  ['stop', 'Stop all agents'],
  ['expiry', 'nobody (expired)'],
];

/** A select with `options` ([value, label]) and a label before it. */
function select(id, label, options) {
  const el = h('select', { id }, ...options.map(([value, text]) => h('option', { value }, text)));
  return [el, h('label', { for: id }, label), el];
}

/** One decision as a card: what decided it in words, the call, and which key, agent and when. */
function decisionCard(d) {
  const details = [
    h('span', { class: 'key-name agent-inline' }, d.apiKeyName ? visibleText(d.apiKeyName) : `a removed key (${d.apiKeyId})`),
    d.agentId ? [' · agent ', h('span', { class: 'agent-inline' }, visibleText(d.agentId))] : null,
    d.tool ? [' · ', visibleText(d.tool)] : null,
    d.cwd ? [' · in ', h('span', { class: 'agent-inline' }, visibleText(d.cwd))] : null,
    ' · ',
    h('time', { datetime: d.at }, when(d.at)),
  ];
  return h(
    'li',
    { class: 'card decision', 'data-decision': d.id, 'data-decided-by': d.decidedBy, 'data-outcome': d.outcome },
    h('div', { class: 'spread' }, h('strong', { class: 'summary' }, visibleText(d.summary)), h('span', { class: d.outcome === 'expired' ? 'badge expired' : `badge outcome-${d.outcome}` }, OUTCOMES[d.outcome] || d.outcome)),
    agentBlock(d.action, 'action'),
    h(
      'div',
      { class: 'small muted' },
      details,
      d.requestId ? [' · ', h('a', { href: `/approve/${d.requestId}`, 'data-link': true }, 'the request')] : null,
      d.receiptSeq ? [' · ', h('a', { href: `/receipts?seq=${d.receiptSeq}`, 'data-link': true, class: 'receipt-link' }, `receipt #${d.receiptSeq}`)] : null,
    ),
  );
}

export async function viewDecisions() {
  const [keyFilter, ...keyLabelled] = select('decision-key', 'Key', [['', 'all keys']]);
  const [outcomeFilter, ...outcomeLabelled] = select('decision-outcome', 'Outcome', [['', 'any'], ['allow', 'allowed'], ['deny', 'denied'], ['expired', 'expired']]);
  const [deciderFilter, ...deciderLabelled] = select('decision-decider', 'Decided by', DECIDERS);
  const list = h('ul', { class: 'plain', id: 'decisions' });
  const more = h('button', { type: 'button', id: 'more-decisions', hidden: true }, 'Load more');
  const area = h('div', {});
  const shown = new Set();
  let cursor = null;

  const query = (before) => {
    const q = new URLSearchParams({ limit: '50' });
    if (keyFilter.value) q.set('apiKeyId', keyFilter.value);
    if (outcomeFilter.value) q.set('outcome', outcomeFilter.value);
    if (deciderFilter.value) q.set('decider', deciderFilter.value);
    if (before) q.set('before', before);
    return api('GET', `/decisions?${q}`);
  };
  const emptyNote = () => {
    list.querySelector('#no-decisions')?.remove();
    if (shown.size === 0) list.append(h('li', { class: 'muted', id: 'no-decisions' }, 'No decisions yet. When an agent calls the gate or asks you, what was decided appears here.'));
  };
  const append = (page) => {
    for (const d of page.decisions.filter((d) => !shown.has(d.id))) {
      shown.add(d.id);
      list.append(decisionCard(d));
    }
    cursor = page.next;
    more.hidden = !cursor;
    emptyNote();
  };
  const reset = async () => {
    const page = await query(null);
    shown.clear();
    list.replaceChildren();
    append(page);
  };
  // Live: newer decisions go on top; if more arrived than a page holds, start over.
  const prependNew = async () => {
    const page = await query(null);
    const fresh = page.decisions.filter((d) => !shown.has(d.id));
    if (fresh.length === page.decisions.length && page.next && shown.size > 0) return reset();
    const first = list.querySelector('li.decision');
    for (const d of fresh) {
      shown.add(d.id);
      list.insertBefore(decisionCard(d), first);
    }
    emptyNote();
  };
  // One refresh at a time, in order, however fast events come.
  let queue = Promise.resolve();
  const serial = (work) => () => {
    queue = queue.then(work).catch((e) => area.append(errorBox(e)));
    return queue;
  };
  for (const f of [keyFilter, outcomeFilter, deciderFilter]) f.addEventListener('change', serial(reset));
  more.addEventListener('click', () => busy(more, area, async () => append(await query(cursor))));

  main.replaceChildren(
    h('h1', {}, 'Decisions'),
    h('p', { class: 'muted' }, 'Everything decided about your agents’ calls: by your rules, your grants, you, Stop all agents, or nobody in time. New decisions appear here as they happen.'),
    h('div', { class: 'row filters' }, keyLabelled, outcomeLabelled, deciderLabelled),
    h('h2', { class: 'sr-only' }, 'Decisions, newest first'),
    list,
    area,
    more,
  );
  const keys = await api('GET', '/auth/api-keys');
  keyFilter.append(...keys.apiKeys.map((k) => h('option', { value: k.id }, visibleText(k.name))));
  follow(serial(prependNew), serial(prependNew));
  await serial(reset)();
}

/**
 * A grant's uses, for its card on /grants: a "Show uses" button that lists the calls it allowed
 * (newest first, a page at a time).
 */
export function grantUses(g) {
  const button = h('button', { type: 'button', class: 'link show-uses', 'aria-expanded': 'false' }, 'Show uses');
  const list = h('ul', { class: 'plain grant-uses-list', hidden: true });
  const more = h('button', { type: 'button', class: 'link', hidden: true }, 'Load more');
  const box = h('div', { class: 'grant-uses-box' }, button, list, more);
  let cursor = null;
  const load = async () => {
    const q = new URLSearchParams({ grantId: g.id, limit: '20' });
    if (cursor) q.set('before', cursor);
    const page = await api('GET', `/decisions?${q}`);
    list.append(
      ...page.decisions.map((d) =>
        h('li', { class: 'grant-use', 'data-decision': d.id }, h('time', { class: 'small muted', datetime: d.at }, when(d.at)), d.agentId ? h('span', { class: 'small muted agent-inline' }, ' · ', visibleText(d.agentId)) : null, agentBlock(d.action, 'action')),
      ),
    );
    if (list.children.length === 0) list.append(h('li', { class: 'muted' }, 'Not used yet.'));
    cursor = page.next;
    more.hidden = !cursor;
  };
  button.addEventListener('click', async () => {
    const open = list.hidden;
    await busy(button, box, async () => {
      list.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
      if (open) {
        list.replaceChildren();
        cursor = null;
        await load();
      } else {
        more.hidden = true;
      }
    });
    // After `busy`, which puts the label back as it was.
    button.textContent = open ? 'Hide uses' : 'Show uses';
  });
  more.addEventListener('click', () => busy(more, box, load));
  return box;
}
