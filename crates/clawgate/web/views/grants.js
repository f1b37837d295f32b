// ClawGate's web app, standing grants: chosen when approving (on the approve page), shown there
// once made, and listed and revoked on /grants.
//
// Agent text (commands, paths, agent ids, which grant descriptions repeat) goes through
// `visibleText`.

import { api } from '../api.js';
import { busy, h, main, show, toast, visibleText } from '../dom.js';
import { timeLeft, when } from '../time.js';
import { grantUses } from './decisions.js';

// ---------------------------------------------------------------- approve with a grant

/** Seconds as the page says them: 900 → "15 min", 3600 → "1 h", 28800 → "8 h". */
export function duration(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/**
 * What a grant covers, from the server's words in pieces (`{what, command?, agent, place}`): the
 * command in code styling, the rest as plain text; the text reads as the server's `description`.
 */
export function coverage(covers, description) {
  if (!covers) return visibleText(description || '');
  const command = covers.command ? [' ', h('code', { class: 'command agent-inline' }, visibleText(covers.command))] : [];
  return h('span', { class: 'covers' }, visibleText(covers.what), command, ', ', visibleText(covers.agent), ', ', visibleText(covers.place));
}

/**
 * The "Approve and allow this for …" choice for a pending request that offers `grantOptions`:
 * the server's options (narrowest first; the first is chosen) as radio buttons, a duration, an
 * optional use limit, and a button whose label says what will be allowed. `approve(grant)` runs
 * the one passkey ceremony.
 */
export function grantChoice(r, approve) {
  const durations = r.grantDurations && r.grantDurations.length ? r.grantDurations : [900, 3600, 28800];
  const radios = r.grantOptions.map((option, i) =>
    h('input', { type: 'radio', name: 'grant-width', id: `grant-width-${i}`, value: String(i), checked: i === 0 }),
  );
  const ttl = h(
    'select',
    { id: 'grant-ttl' },
    durations.map((s) => h('option', { value: String(s), selected: s === 3600 }, duration(s))),
  );
  const uses = h('input', { id: 'grant-max-uses', type: 'number', min: 1, max: 1000, step: 1, inputmode: 'numeric', placeholder: 'any number' });
  const button = h('button', { type: 'button', class: 'approve', id: 'approve-grant' });
  const box = h(
    'fieldset',
    { class: 'grant', id: 'grant-choice' },
    h('legend', {}, 'Or: approve and allow this for …'),
    h('p', { class: 'muted small' }, 'Later calls of this agent key that fit what you choose pass without asking, until the time is up, the uses run out or you revoke it on the Grants page.'),
    r.grantOptions.map((option, i) =>
      h('div', { class: 'choice' }, radios[i], h('label', { for: `grant-width-${i}`, class: 'agent-inline' }, coverage(option.covers, option.description))),
    ),
    h(
      'div',
      { class: 'row grant-limits' },
      h('div', {}, h('label', { for: 'grant-ttl' }, 'For'), ttl),
      h('div', {}, h('label', { for: 'grant-max-uses' }, 'At most … uses (optional)'), uses),
    ),
    h('div', { class: 'decide single' }, button),
  );
  const chosen = () => {
    const i = Number((radios.find((radio) => radio.checked) || radios[0]).value);
    const maxUses = uses.value.trim() ? Number(uses.value) : undefined;
    return { option: r.grantOptions[i], ttlSeconds: Number(ttl.value), maxUses };
  };
  const label = () => {
    const { option, ttlSeconds, maxUses } = chosen();
    const limit = maxUses ? `, at most ${maxUses} ${maxUses === 1 ? 'use' : 'uses'}` : '';
    show(button, 'Approve and allow ', coverage(option.covers, option.description), ` for ${duration(ttlSeconds)}${limit}`);
  };
  for (const input of [...radios, ttl, uses]) {
    input.addEventListener('change', label);
    input.addEventListener('input', label);
  }
  label();
  button.addEventListener('click', () =>
    busy(button, box, async () => {
      const { option, ttlSeconds, maxUses } = chosen();
      if (maxUses !== undefined && !(Number.isInteger(maxUses) && maxUses >= 1 && maxUses <= 1000)) {
        throw new Error('The number of uses must be a whole number from 1 to 1000, or left empty');
      }
      const grant = { width: option.width, ttlSeconds };
      if (maxUses !== undefined) grant.maxUses = maxUses;
      button.textContent = 'Waiting for your passkey…';
      await approve(grant);
    }).finally(label),
  );
  return box;
}

// ---------------------------------------------------------------- grants

const GRANT_STATES = { live: 'live', expired: 'expired', usedUp: 'used up', revoked: 'revoked' };

/** The API key a grant is for, by name (its id when the key is gone). */
function keyName(g) {
  return g.apiKeyName ? h('span', { class: 'key-name agent-inline' }, visibleText(g.apiKeyName)) : h('span', { class: 'muted' }, `a removed key (${g.apiKeyId})`);
}

/**
 * The grant an approval made, on the approve page once approved: what it covers, for how long
 * and how many uses, for which key, and the way to Grants (where it can be revoked).
 */
export function grantMade(g) {
  const live = g.state === 'live';
  const seconds = Math.round((Date.parse(g.expiresAt) - Date.parse(g.createdAt)) / 1000);
  return h(
    'section',
    { class: 'grant-made', id: 'grant-made', 'data-grant': g.id },
    h('h2', {}, 'Allowed for a while'),
    h('p', {}, coverage(g.covers, g.description)),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'For'),
      h('dd', { class: 'grant-for' }, duration(seconds), ' · ', live ? h('span', { 'data-expires': g.expiresAt }, timeLeft(g.expiresAt)) : GRANT_STATES[g.state] || g.state),
      h('dt', {}, 'Uses'),
      h('dd', { class: 'grant-uses' }, g.maxUses ? `at most ${g.maxUses}, used ${g.uses}` : `any number, used ${g.uses}`),
      h('dt', {}, 'API key'),
      h('dd', {}, keyName(g)),
    ),
    h('p', {}, h('a', { href: '/grants', 'data-link': true, id: 'grant-made-link' }, 'See it on Grants, where you can revoke it')),
  );
}

function grantCard(g, reload) {
  const live = g.state === 'live';
  const revoke = live ? h('button', { type: 'button', class: 'danger revoke' }, 'Revoke') : null;
  const item = h(
    'li',
    { class: 'card', 'data-grant': g.id, 'data-state': g.state },
    h('div', { class: 'spread' }, h('strong', { class: 'agent-inline' }, coverage(g.covers, g.description)), revoke),
    h(
      'div',
      { class: 'small' },
      h('span', { class: 'uses' }, g.maxUses ? `Used ${g.uses} of ${g.maxUses}` : `Used ${g.uses}`),
      ' · ',
      live ? h('span', { 'data-expires': g.expiresAt }, timeLeft(g.expiresAt)) : h('span', { class: `badge ${g.state}` }, GRANT_STATES[g.state] || g.state),
    ),
    h(
      'div',
      { class: 'small muted' },
      'API key ',
      keyName(g),
      ` · made ${when(g.createdAt)} · `,
      h('a', { href: `/approve/${g.requestId}`, 'data-link': true }, 'the approval'),
      g.revokedAt ? ` · revoked ${when(g.revokedAt)}` : '',
    ),
    grantUses(g),
  );
  if (revoke) {
    revoke.addEventListener('click', () =>
      busy(revoke, item, async () => {
        await api('DELETE', `/grants/${g.id}`);
        toast('Grant revoked.');
        await reload();
      }),
    );
  }
  return item;
}

export async function viewGrants() {
  const list = h('ul', { class: 'plain', id: 'grants' });
  const load = async () => {
    const data = await api('GET', '/grants');
    list.replaceChildren(...data.grants.map((g) => grantCard(g, load)));
    if (data.grants.length === 0) {
      list.append(h('li', { class: 'muted', id: 'no-grants' }, 'No grants. When you approve a request, you can choose to allow the same for a while.'));
    }
  };
  main.replaceChildren(
    h('h1', {}, 'Grants'),
    h('p', { class: 'muted' }, 'What you allowed for a while when approving. Calls that fit a live grant pass without asking you. Revoking takes effect at once.'),
    list,
  );
  await load();
}
