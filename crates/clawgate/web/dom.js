// ClawGate's web app, the DOM helpers every view builds with: elements from text nodes only
// (nothing is ever parsed as markup), agent text with its invisible characters made visible, the
// toast, and failures said in words next to what failed.

import './text-rule.js';
import { ApiError } from './api.js';

export const main = document.getElementById('main');
const toastBox = document.getElementById('toast');

/** Builds an element; string children become text nodes, so nothing is parsed as markup. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  fill(el, children);
  return el;
}

/** Appends children to `el`: nested arrays flattened, null/false/undefined skipped, strings as text. */
export function fill(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces the children of `el` (with `fill`'s rules). */
export function show(el, ...children) {
  el.replaceChildren();
  return fill(el, children);
}

// Controls, other invisible format characters, direction overrides and line separators: they
// could make agent text look like something it is not, so they are shown as their code points.
// The rule is the server's (src/domain/text.rs), served as /text-rule.js, so the page marks
// exactly what push notifications mark.
const INVISIBLE = self.CLAWGATE_MARKED;

/** Agent text as a fragment of text nodes, with invisible characters made visible. */
export function visibleText(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(INVISIBLE)) {
    if (m.index > last) frag.append(text.slice(last, m.index));
    const code = m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
    frag.append(h('span', { class: 'esc', title: 'An invisible or control character the agent sent' }, `U+${code}`));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

/** Agent text as a block of its own (left to right whatever it holds). */
export function agentBlock(text, extraClass = '') {
  return h('pre', { class: `agent-text ${extraClass}`.trim(), dir: 'ltr' }, visibleText(text));
}

/** Says `message` for a few seconds, in the page's status line. */
export function toast(message) {
  toastBox.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (toastBox.textContent = ''), 4000);
}

/** `error`, said in words, as a notice. */
export function errorBox(error) {
  return h('p', { class: 'notice error', role: 'alert' }, describe(error));
}

/** Runs `work` with the button disabled, and shows any failure next to it, in words. */
export async function busy(button, where, work) {
  const label = button.textContent;
  button.disabled = true;
  where.querySelectorAll(':scope > .notice').forEach((n) => n.remove());
  try {
    return await work();
  } catch (error) {
    where.append(errorBox(error));
    return undefined;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

/** What went wrong, in a sentence the person can act on. */
function describe(error) {
  if (error instanceof ApiError) return sentence(error.message);
  if (error && error.name === 'NotAllowedError') {
    return 'The passkey prompt was cancelled or timed out, or the authenticator could not verify you (PIN or biometrics). Nothing was changed.';
  }
  if (error && error.name === 'InvalidStateError') return 'This passkey is already registered with ClawGate.';
  if (error && error.name === 'NotSupportedError') return 'This browser or device cannot use passkeys here.';
  if (error && error.name === 'SecurityError') return 'Passkeys need this page to be opened at its configured address (https, or http://localhost).';
  return sentence((error && error.message) || 'Something went wrong.');
}

function sentence(text) {
  const s = String(text).trim();
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : s;
}
