// ClawGate's web app, passkeys (/passkeys): the account's passkeys, renamed, deleted or added.

import { api } from '../api.js';
import { busy, h, main, toast } from '../dom.js';
import { follow } from '../live.js';
import { when } from '../time.js';
import { addPasskey, withStepUp } from '../webauthn.js';

export async function viewPasskeys() {
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
  follow(null);
  await load();
}
