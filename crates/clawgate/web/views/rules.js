// ClawGate's web app, the rule set (/rules): edit it, save it with its warnings and examples,
// and try a call against it.
//
// Agent text (commands, paths, and the rule explanations that repeat them) goes through
// `visibleText`.

import { api } from '../api.js';
import { agentBlock, busy, h, main, show, toast, visibleText } from '../dom.js';
import { contentHash, signDecision, withStepUp } from '../webauthn.js';

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
        // Signed with a passkey: this set (its hash) as the next version.
        const expectedVersion = current.version;
        const signs = async (c) => c.decision === 'rules' && c.version === expectedVersion + 1 && c.rulesHash === (await contentHash(rules));
        const saved = await withStepUp(async () => {
          const passkey = await signDecision({ decision: 'rules', rules, expectedVersion }, signs);
          return api('PUT', '/rules', { rules, expectedVersion, passkey });
        });
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
