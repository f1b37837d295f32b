// ClawGate's web app, API keys (/keys): create one (its secret shown once), revoke one, and
// resume one that was suspended, saying why it was.

import { api } from '../api.js';
import { busy, h, main, toast, visibleText } from '../dom.js';
import { follow } from '../live.js';
import { when } from '../time.js';
import { withStepUp } from '../webauthn.js';

/** Why a key is suspended (`suspendedBecause`), as the API keys page says it. */
const SUSPENSION_CAUSES = {
  denials: 'its requests were denied again and again (repeated denials within 10 minutes suspend a key). If an agent is being misused or its key leaked, revoke it; if all is well, resume it.',
  stop: 'you stopped all agents (Stop all agents). Once you know the agent using it is safe, resume it; if its key leaked, revoke it.',
  unknown: 'its requests were denied again and again, or you stopped all agents. If an agent is being misused or its key leaked, revoke it; if all is well, resume it.',
};

export async function viewKeys() {
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
  follow(null);
  await load();
}
