// ClawGate's web app, receipts (/receipts): the account's chain of receipts, one per decision and
// security-relevant change, each holding the hash of the one before; the whole chain and a
// checkpoint the server signed, to download and check anywhere with `clawgate audit verify`.
//
// DOM built from text nodes only (dom.js); agent text inside receipts goes through `visibleText`.

import { api } from '../api.js';
import { agentBlock, busy, h, main, toast, visibleText } from '../dom.js';
import { follow } from '../live.js';
import { when } from '../time.js';

/** Receipts the page lists, newest first (the download holds them all). */
const SHOWN = 100;

const KINDS = {
  'account.created': 'Account created',
  'chain.opened': 'Receipts began (the passkeys you had then)',
  'passkey.registered': 'Passkey added',
  'passkey.deleted': 'Passkey deleted',
  'api_key.created': 'Agent key created',
  'api_key.revoked': 'Agent key revoked',
  'api_key.suspended': 'Agent key suspended',
  'api_key.resumed': 'Agent key resumed',
  'request.approved': 'Approved',
  'request.denied': 'Denied',
  'request.expired': 'Expired',
  'grant.created': 'Grant made',
  'grant.revoked': 'Grant revoked',
  'rules.changed': 'Rules saved',
  'agents.stopped': 'All agents stopped',
  'gate.allowed': 'Allowed by the gate',
  'gate.denied': 'Denied by the gate',
  'receipts.pruned': 'Old gate receipts pruned',
  'signing_key.rotated': 'Server signing key added',
  'signing_key.revoked': 'Server signing key revoked',
};

/** Every receipt of the chain, oldest first, a page at a time. */
async function wholeChain() {
  const receipts = [];
  let after = 0;
  let account = null;
  for (;;) {
    const page = await api('GET', `/audit/receipts?after=${after}&limit=500`);
    account = page.account;
    receipts.push(...page.receipts);
    if (page.next === null) return { format: page.format, account, receipts };
    after = page.next;
  }
}

/** Offers `data` as a JSON file named `name`. */
function download(name, data) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Kinds a passkey can sign: the receipt then carries the signature (`evidence`). */
const SIGNED_KINDS = ['request.approved', 'request.denied', 'agents.stopped', 'rules.changed'];

/** What a receipt records, in a line (and the action, for a passkey approval or denial). */
function whatItSays(r) {
  if (r.content === null) return h('div', { class: 'small muted' }, 'Pruned past its retention: its hash stays, what it said is gone.');
  if (r.kind === 'receipts.pruned') return h('div', { class: 'small' }, `${r.content.count} gate receipts made before ${when(new Date(r.content.before).toISOString())} pruned`);
  const c = r.content || {};
  const s = c.signed;
  if (s && (s.decision === 'approve' || s.decision === 'deny')) {
    const more = s.grant ? 'with a standing grant' : s.reason ? `reason: ${s.reason}` : null;
    return [agentBlock(s.action, 'action'), more ? h('div', { class: 'small' }, visibleText(more)) : null];
  }
  if (s && s.decision === 'rules') return h('div', { class: 'small' }, `version ${s.version}, rules hash ${String(s.rulesHash).slice(0, 16)}…`);
  const passkeys = Array.isArray(c.passkeys) ? c.passkeys.map((p) => p.name).join(', ') : null;
  const parts = [c.detail, c.email, c.name, passkeys, c.requestId, c.apiKeyId, c.credentialId].filter(Boolean);
  return parts.length ? h('div', { class: 'small' }, visibleText(parts.join(' · '))) : null;
}

function receiptCard(r) {
  const signed = r.evidence && SIGNED_KINDS.includes(r.kind);
  return h(
    'li',
    { class: 'card receipt', 'data-seq': r.seq, 'data-kind': r.kind },
    h(
      'div',
      { class: 'spread' },
      h('strong', {}, `#${r.seq} ${KINDS[r.kind] || r.kind}`),
      signed ? h('span', { class: 'badge outcome-allow' }, 'signed by your passkey') : null,
    ),
    whatItSays(r),
    h('div', { class: 'small muted' }, h('time', { datetime: new Date(r.time).toISOString() }, when(new Date(r.time).toISOString())), ' · hash ', h('code', { class: 'hash' }, r.hash.slice(0, 16)), '…'),
  );
}

export async function viewReceipts() {
  const list = h('ul', { class: 'plain', id: 'receipts' });
  const head = h('p', { class: 'muted', id: 'chain-head' });
  const saveChain = h('button', { type: 'button', class: 'primary', id: 'download-chain' }, 'Download the chain');
  const saveCheckpoint = h('button', { type: 'button', id: 'download-checkpoint' }, 'Download a checkpoint');
  const actions = h('div', { class: 'spread' }, saveChain, saveCheckpoint);
  // Opened from a decision (`?seq=N`): that receipt first, whatever its age.
  const opened = Number(new URLSearchParams(location.search).get('seq')) || null;
  const focus = h('div', { id: 'opened-receipt' });
  const load = async () => {
    const chain = await wholeChain();
    const mine = opened && chain.receipts.find((r) => r.seq === opened);
    focus.replaceChildren(...(mine ? [h('h2', {}, 'The receipt you opened'), h('ul', { class: 'plain' }, receiptCard(mine))] : []));
    const last = chain.receipts[chain.receipts.length - 1];
    head.replaceChildren(
      last
        ? [`${chain.receipts.length} receipts; the latest, #${last.seq}, has hash `, h('code', { class: 'hash' }, last.hash)]
        : 'No receipts yet.',
    );
    list.replaceChildren(...chain.receipts.slice(-SHOWN).reverse().map(receiptCard));
    return chain;
  };
  saveChain.addEventListener('click', () =>
    busy(saveChain, actions, async () => {
      const chain = await load();
      download(`clawgate-chain-${chain.account}.json`, chain);
      toast('Chain downloaded.');
    }),
  );
  saveCheckpoint.addEventListener('click', () =>
    busy(saveCheckpoint, actions, async () => {
      const checkpoint = await api('GET', '/audit/checkpoint');
      download(`clawgate-checkpoint-${checkpoint.claims.sub}-${checkpoint.claims.seq}.json`, checkpoint);
      toast(`Checkpoint of receipt #${checkpoint.claims.seq} downloaded.`);
    }),
  );
  main.replaceChildren(
    h('h1', {}, 'Receipts'),
    h(
      'p',
      { class: 'muted' },
      'Every decision and change to your account leaves a receipt holding the hash of the one before, so none can be changed, removed or slipped in unnoticed. An approval’s receipt holds what your passkey signed. Download the chain and a checkpoint (the server’s signature of its latest hash; keep it) and check them anywhere with ',
      h('code', {}, 'clawgate audit verify'),
      '.',
    ),
    actions,
    focus,
    head,
    list,
  );
  follow(null);
  await load();
}
