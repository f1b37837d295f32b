// ClawGate's web app, a request's approve page (/approve/req_…): what the agent asks, the binding
// code to compare, approve with a passkey (or with a grant) or deny, and whether an agent still
// waits for the answer. Live: it re-renders when the request changes state.

import { api, serverNow } from '../api.js';
import { agentBlock, busy, errorBox, fill, h, main, toast } from '../dom.js';
import { follow } from '../live.js';
import { ago, timeLeft, when } from '../time.js';
import { approveWithPasskey, signDecision } from '../webauthn.js';
import { grantChoice, grantMade } from './grants.js';
import { statusBadge, UNNAMED_AGENT } from './requests.js';

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

/** Shows or hides the "no agent is waiting" notice `el`, as of now (the page's clock ticks it). */
export function showAgentWaiting(el) {
  const waiting = el.dataset.agentWaiting === 'true' && serverNow() < Date.parse(el.dataset.agentUntil);
  el.hidden = waiting;
  if (waiting) return;
  const last = el.dataset.agentChecked
    ? `it last checked ${ago(el.dataset.agentChecked)}`
    : `it has not checked since it asked, ${ago(el.dataset.asked)}`;
  el.textContent = `No agent is waiting for this answer now (${last}): approving still records it, but nothing may act on it.`;
}

export async function viewApproval(id) {
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
        r.receiptSeq ? [h('dt', {}, 'Receipt'), h('dd', {}, h('a', { href: `/receipts?seq=${r.receiptSeq}`, 'data-link': true, id: 'receipt-link' }, `#${r.receiptSeq} in your chain`))] : null,
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
      // What the passkey signs, once the page has checked it: shown while the passkey asks.
      const signs = h('p', { class: 'muted', id: 'signs' });
      const showSigning = (signing) => {
        const grant = signing.content.grant ? ', with the grant you chose' : '';
        const what = signing.content.decision === 'deny' ? 'your denial of this request' : 'this request';
        signs.replaceChildren(`Your passkey signs ${what}${grant}: content hash ${signing.contentHash.slice(0, 16)}…`);
        signs.title = `SHA-256 ${signing.contentHash} of ${JSON.stringify(signing.content)}`;
      };
      const shown = { action: r.action, bindingCode: r.bindingCode };
      approve.addEventListener('click', () =>
        busy(approve, box, async () => {
          approve.textContent = 'Waiting for your passkey…';
          await approveWithPasskey(id, undefined, shown, showSigning);
          toast('Approved.');
          await render();
        }),
      );
      deny.addEventListener('click', () =>
        busy(deny, box, async () => {
          const why = reason.value.trim() || null;
          const denial = { decision: 'deny', requestId: id, reason: why };
          const thisDenial = (c) => c.decision === 'deny' && c.requestId === id && c.action === shown.action && c.bindingCode === shown.bindingCode && c.reason === why;
          let passkey = null;
          try {
            deny.textContent = 'Waiting for your passkey…';
            passkey = await signDecision(denial, thisDenial, showSigning);
          } catch (e) {
            // Denying needs no passkey: a dismissed prompt still denies, recorded without a signature.
            if (e.name !== 'NotAllowedError') throw e;
          }
          const body = { ...(why ? { reason: why } : {}), ...(passkey ? { passkey } : {}) };
          const done = await api('POST', `/approval/deny/${id}`, body);
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
      box.append(h('label', { for: 'deny-reason' }, 'Reason for denying (optional)'), reason, ...(warning ? [warning] : []), h('div', { class: 'decide decide-bar', id: 'decide' }, approve, deny), signs);
      if (r.grantOptions && r.grantOptions.length) {
        box.append(
          grantChoice(r, async (grant) => {
            const done = await approveWithPasskey(id, grant, shown, showSigning);
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
  follow(() => refresh().catch((e) => main.append(errorBox(e))));
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
