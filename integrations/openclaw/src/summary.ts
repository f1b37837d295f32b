// The one-line `action` the person approves. It carries the exact command (or every param) and
// is never shortened: a cut could hide a destructive tail. clawgate refuses actions over 4000
// characters, and so does this plugin, by blocking the call instead of asking.

/** clawgate's limit on `action`, in characters (Unicode scalar values, as the server counts). */
export const MAX_ACTION_CHARS = 4000;

/** Param keys whose string (or argv list) is the command line, in the order they are looked for. */
const COMMAND_KEYS = ["command", "cmd", "commandLine", "command_line", "script"];

/** JSON with object keys sorted at every level, so equal params always read the same. */
export function stableJson(value: unknown): string {
  const seen = new WeakSet<object>();
  const norm = (v: unknown): unknown => {
    if (typeof v === "bigint") return v.toString();
    if (typeof v !== "object" || v === null) return v;
    if (seen.has(v)) return "[circular]";
    seen.add(v);
    if (Array.isArray(v)) return v.map(norm);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) out[key] = norm((v as Record<string, unknown>)[key]);
    return out;
  };
  return JSON.stringify(norm(value)) ?? "null";
}

// Line breaks and other control characters would make the summary span lines or hide text.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The text itself when it is one plain line; else a JSON string literal (quotes, `\n` …). */
export function oneLine(text: string): string {
  return CONTROL.test(text) ? JSON.stringify(text) : text;
}

/** The command line in `params`, if the tool has one, and the key it was under. */
export function commandOf(params: Record<string, unknown>): { key: string; text: string } | undefined {
  for (const key of COMMAND_KEYS) {
    const value = params[key];
    if (typeof value === "string" && value.trim() !== "") return { key, text: value };
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) {
      return { key, text: value.map((a) => (a === "" || /[\s"'\\]/.test(a) ? JSON.stringify(a) : a)).join(" ") };
    }
  }
  return undefined;
}

/**
 * `exec: rm -rf ./old-data (with workdir="/srv/app")` for a tool with a command line,
 * `delete_file {"path":"/tmp/x"}` for any other: always the tool name and every param, whole.
 */
export function describeAction(toolName: string, params: Record<string, unknown>): string {
  const found = commandOf(params);
  if (!found) {
    return Object.keys(params).length === 0 ? `${toolName} (no params)` : `${toolName} ${stableJson(params)}`;
  }
  const rest = Object.keys(params)
    .filter((k) => k !== found.key && params[k] !== undefined)
    .sort()
    .map((k) => `${k}=${stableJson(params[k])}`);
  return `${toolName}: ${oneLine(found.text)}${rest.length > 0 ? ` (with ${rest.join(", ")})` : ""}`;
}

/** Length as clawgate counts it (code points, not UTF-16 units). */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
