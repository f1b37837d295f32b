// ClawGate's web app, the kill switch (/stop): every pending request denied, every grant
// revoked, every API key suspended, at once, signed with a passkey (its receipt carries the
// signature).

import { api } from '../api.js';
import { busy, h, main, show, toast } from '../dom.js';
import { when } from '../time.js';
import { signDecision, withStepUp } from '../webauthn.js';

function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export async function viewStop() {
  const confirmButton = h('button', { type: 'button', class: 'deny', id: 'stop-confirm' }, 'Yes, stop all agents now');
  const cancel = h('a', { href: '/', 'data-link': true, class: 'button', id: 'stop-cancel' }, 'Cancel');
  const box = h(
    'section',
    { class: 'card stop', 'aria-labelledby': 'stop-title' },
    h('h1', { id: 'stop-title' }, 'Stop all agents?'),
    h('p', {}, 'At once, for every agent of yours:'),
    h(
      'ul',
      {},
      h('li', {}, 'every pending request is denied (its agent is told right away);'),
      h('li', {}, 'every standing grant is revoked;'),
      h('li', {}, 'every API key is suspended: agents can no longer ask or pass the gate.'),
    ),
    h('p', {}, 'Afterwards you resume each key on its own, on the API keys page, once you know the agent is safe.'),
    h('div', { class: 'decide' }, confirmButton, cancel),
  );
  confirmButton.addEventListener('click', () =>
    busy(confirmButton, box, async () => {
      confirmButton.textContent = 'Stopping…';
      const done = await withStepUp(async () => {
        const passkey = await signDecision({ decision: 'stop' }, (c) => c.decision === 'stop');
        return api('POST', '/stop', { passkey });
      });
      toast('All agents stopped.');
      show(
        main,
        h(
          'section',
          { class: 'card stop', id: 'stop-result' },
          h('h1', {}, 'All agents stopped'),
          h(
            'p',
            { id: 'stop-counts' },
            `Denied ${count(done.deniedRequests, 'pending request', 'pending requests')}, revoked ${count(done.revokedGrants, 'grant', 'grants')} and suspended ${count(done.suspendedKeys, 'API key', 'API keys')}`,
            done.stoppedAt ? ` at ${when(done.stoppedAt)}.` : '.',
          ),
          h('p', {}, 'The keys stay suspended until you resume them one by one: ', h('a', { href: '/keys', 'data-link': true, id: 'stop-to-keys' }, 'go to API keys'), '.'),
        ),
      );
    }),
  );
  main.replaceChildren(box);
}
