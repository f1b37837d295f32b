// ClawGate's web app, the gate's pages: standing grants (chosen on the approve page, listed and
// revoked on /grants), the rule set (/rules: edit, save with its warnings and examples, try a
// call) and the kill switch (/stop).
//
// Same rules as app.js: DOM built from text nodes only; agent text (commands, paths, agent ids,
// which grant descriptions and rule explanations repeat) goes through `visibleText`.

import { h, show, visibleText, agentBlock, toast, busy, api, withStepUp, timeLeft, when } from './app.js';
import { grantUses } from './decisions.js';

const main = document.getElementById('main');

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

// ---------------------------------------------------------------- rules

const TOOLS = ['Bash', 'Write', 'Edit', 'Read', 'WebFetch', 'other'];
const TARGET = { Bash: ['Command', 'command'], WebFetch: ['URL', 'url'], other: ['Input (a JSON object, optional)', null] };
const PAST = { allow: 'allowed', ask: 'asked', deny: 'denied' };

/** A JSON value on one line, with a space after each `:` and `,` (strings as JSON writes them). */
function inline(value) {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${inline(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A rule set as the editor shows it: each rule and each example on a line of its own, so a set
 * reads in a few dozen lines rather than hundreds, and a long pattern or regex wraps whole.
 */
export function formatRules(set) {
  if (!set || typeof set !== 'object' || Array.isArray(set)) return JSON.stringify(set, null, 2);
  const entries = Object.entries(set);
  const lines = entries.map(([key, value], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    if (!Array.isArray(value) || value.length === 0) return `  ${JSON.stringify(key)}: ${inline(value)}${comma}`;
    const items = value.map((item, j) => `    ${inline(item)}${j < value.length - 1 ? ',' : ''}`);
    return [`  ${JSON.stringify(key)}: [`, ...items, `  ]${comma}`].join('\n');
  });
  return ['{', ...lines, '}'].join('\n');
}

/** "Rule 2 "name"" for a rule's position (from 0) in `set`, or "The rule set". */
function ruleLabel(set, index) {
  if (index === null || index === undefined) return 'The rule set';
  const rule = set && Array.isArray(set.rules) ? set.rules[index] : null;
  const name = rule && typeof rule.name === 'string' ? ` "${rule.name}"` : '';
  return `Rule ${index + 1}${name}`;
}

/** What decided an example, in words: "by rule 1 "no force pushes"", "by the default". */
function decidedBy(d) {
  if (!d) return '';
  if (d.kind === 'rule') return `by rule ${d.index + 1}${d.name ? ` "${d.name}"` : ''}`;
  if (d.kind === 'default') return 'by the default';
  return 'because the splitter could not be sure of it';
}

/** The warnings of a saved set, next to the editor; hidden when there are none. */
function showWarnings(box, view) {
  const warnings = view.warnings || [];
  box.hidden = warnings.length === 0;
  show(
    box,
    h('p', { class: 'warn-title' }, warnings.length === 1 ? 'One thing here may not do what you mean' : `${warnings.length} things here may not do what you mean`, ' (the rules are in force as saved):'),
    h(
      'ul',
      {},
      warnings.map((w) =>
        h('li', { class: 'rules-warning', 'data-rule': w.rule ?? '' }, h('strong', {}, ruleLabel(view.rules, w.rule), w.field ? `, ${w.field}` : '', ': '), w.message),
      ),
    ),
  );
}

/** Each example of the saved set with the outcome it gets now. */
function showExamples(list, view) {
  const examples = view.examples || [];
  if (examples.length === 0) {
    show(list, h('li', { class: 'muted small', id: 'rules-no-examples' }, 'No examples yet. Add "examples" to the set, e.g. "examples": [{"command": "git push --force", "expect": "deny"}, {"tool": "Write", "input": {"file_path": "/srv/app/x"}, "cwd": "/srv/app", "expect": "allow"}].'));
    return;
  }
  show(
    list,
    examples.map((e) =>
      h(
        'li',
        { class: `rules-example ${e.passes ? 'passes' : 'fails'}`, 'data-example': e.index },
        h('span', { class: `badge outcome-${e.outcome}` }, e.outcome),
        ' ',
        h('code', { class: 'agent-inline' }, visibleText(e.call)),
        h(
          'span',
          { class: 'example-verdict' },
          e.passes
            ? ` ${PAST[e.outcome] || e.outcome} ${decidedBy(e.decidedBy)}, as expected.`
            : ` should be ${PAST[e.expect] || e.expect} but is ${PAST[e.outcome] || e.outcome} ${decidedBy(e.decidedBy)}.`,
        ),
        h('details', {}, h('summary', {}, 'Why'), agentBlock(e.explanation || '', 'explanation')),
      ),
    ),
  );
}

export async function viewRules() {
  const version = h('span', { id: 'rules-version' });
  const source = h('span', { id: 'rules-source' });
  const editor = h('textarea', { id: 'rules-editor', class: 'mono', spellcheck: 'false', autocomplete: 'off', rows: 16, 'aria-describedby': 'rules-help' });
  const warnings = h('div', { id: 'rules-warnings', class: 'warnings', role: 'status', hidden: true });
  const save = h('button', { type: 'submit', class: 'primary', id: 'rules-save' }, 'Save rules');
  const editArea = h('form', { class: 'card', id: 'rules-form' }, h('label', { for: 'rules-editor' }, 'Rule set (JSON)'), editor, warnings, h('p', { class: 'row' }, save));
  const exampleList = h('ul', { class: 'plain', id: 'rules-examples' });
  const examplesCard = h(
    'section',
    { class: 'card', 'aria-labelledby': 'rules-examples-title' },
    h('h2', { id: 'rules-examples-title' }, 'Examples'),
    h('p', { class: 'muted small' }, 'Calls these rules must get right, kept in the set as "examples". Every save checks them: a change that gets one wrong is refused, saying which.'),
    exampleList,
  );
  let current = null;
  const showSaved = (view) => {
    current = view;
    version.textContent = String(view.version);
    source.textContent = view.source === 'saved' ? 'saved by you' : 'the built-in defaults (nothing saved yet)';
    showWarnings(warnings, view);
    showExamples(exampleList, view);
  };
  const edit = (rules) => {
    editor.value = formatRules(rules);
    editor.rows = Math.min(40, Math.max(8, editor.value.split('\n').length + 1));
  };
  const load = async () => {
    const view = await api('GET', '/rules');
    showSaved(view);
    edit(view.rules);
  };
  editArea.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, editArea, async () => {
      let rules;
      try {
        rules = JSON.parse(editor.value);
      } catch (e) {
        throw new Error(`This is not valid JSON: ${e.message}. Nothing was saved`);
      }
      try {
        const saved = await withStepUp(() => api('PUT', '/rules', { rules, expectedVersion: current.version }));
        showSaved(saved);
        edit(saved.rules);
        const warned = (saved.warnings || []).length;
        editArea.append(h('p', { class: 'notice success', id: 'rules-saved' }, `Saved as version ${saved.version}.`, warned ? ' See what may not do what you mean, above.' : ''));
        toast('Rules saved.');
      } catch (e) {
        if (e.code === 'version_conflict') {
          // In the page's own words only: the server's sentence says the same thing.
          const latest = await api('GET', '/rules').catch(() => null);
          const now = latest ? ` (they are at version ${latest.version} now)` : '';
          e.message = `The rules were changed elsewhere since you opened them${now}. Nothing was saved: copy your edit, reload this page and apply it again`;
        }
        throw e;
      }
    });
  });

  // The dry run.
  const tool = h('select', { id: 'explain-tool' }, TOOLS.map((t) => h('option', { value: t }, t)));
  const toolName = h('input', { id: 'explain-tool-name', autocomplete: 'off', placeholder: 'e.g. WebSearch' });
  const toolNameBox = h('div', { hidden: true }, h('label', { for: 'explain-tool-name' }, 'Tool name'), toolName);
  const targetLabel = h('label', { for: 'explain-target' });
  const target = h('input', { id: 'explain-target', class: 'mono', autocomplete: 'off', spellcheck: 'false' });
  const cwd = h('input', { id: 'explain-cwd', class: 'mono', autocomplete: 'off', placeholder: 'e.g. /srv/app (optional)' });
  const agent = h('input', { id: 'explain-agent', autocomplete: 'off', placeholder: 'e.g. claude (optional)' });
  const run = h('button', { type: 'submit', id: 'explain-run' }, 'What would happen?');
  const result = h('div', { id: 'explain-result', 'aria-live': 'polite' });
  const relabel = () => {
    const [text] = TARGET[tool.value] || ['Path', 'file_path'];
    targetLabel.textContent = text;
    toolNameBox.hidden = tool.value !== 'other';
  };
  tool.addEventListener('change', relabel);
  relabel();
  const explainForm = h(
    'form',
    { class: 'card', id: 'explain' },
    h('h2', {}, 'What would happen?'),
    h('p', { class: 'muted small' }, 'Try a call against your saved rules. Nothing is run or recorded.'),
    h('label', { for: 'explain-tool' }, 'Tool'),
    tool,
    toolNameBox,
    targetLabel,
    target,
    h('label', { for: 'explain-cwd' }, 'Working directory'),
    cwd,
    h('label', { for: 'explain-agent' }, 'Agent'),
    agent,
    h('p', {}, run),
    result,
  );
  explainForm.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(run, explainForm, async () => {
      result.replaceChildren();
      const name = tool.value === 'other' ? toolName.value.trim() : tool.value;
      if (!name) throw new Error('Name the tool');
      let input;
      const [, field] = TARGET[tool.value] || ['Path', 'file_path'];
      if (field) {
        input = { [field]: target.value };
      } else {
        try {
          input = target.value.trim() ? JSON.parse(target.value) : {};
        } catch (e) {
          throw new Error(`The input is not valid JSON: ${e.message}`);
        }
        if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('The input must be a JSON object');
      }
      const body = { tool: name, input };
      if (cwd.value.trim()) body.cwd = cwd.value.trim();
      if (agent.value.trim()) body.agentId = agent.value.trim();
      const answer = await api('POST', '/rules/explain', body);
      const outcome = (answer.decision && answer.decision.outcome) || 'unknown';
      show(
        result,
        h('p', {}, h('span', { class: `badge outcome-${outcome}`, id: 'explain-outcome' }, outcome), ` by rule set version ${answer.version}`),
        agentBlock(answer.explanation || '', 'explanation'),
      );
    });
  });

  main.replaceChildren(
    h('h1', {}, 'Rules'),
    h('p', { class: 'muted', id: 'rules-meta' }, 'Version ', version, ', ', source, '.'),
    h(
      'p',
      { class: 'muted small', id: 'rules-help' },
      'The gate asks these rules about every tool call: the first rule that matches decides (allow, ask or deny), else the default. ',
      'Example: {"default": "ask", "rules": [{"name": "tests", "outcome": "allow", "tool": "Bash", "command": "cargo test*"}]}. ',
      'Tool names are case-sensitive (Bash, Write, Edit …). A save is refused for a tool name in the wrong case or an example the rules get wrong; a rule no call can reach is saved with a warning. ',
      'Saving needs a passkey sign-in.',
    ),
    editArea,
    examplesCard,
    explainForm,
  );
  await load();
}

// ---------------------------------------------------------------- the kill switch

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
      const done = await withStepUp(() => api('POST', '/stop'));
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
