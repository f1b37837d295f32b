// The plugin's settings, read from `plugins.entries.clawgate.config` (`api.pluginConfig`).
// OpenClaw validates them against `configSchema` in openclaw.plugin.json before the plugin loads;
// they are checked again here, because a wrong value must never turn into "let it through".

import { compilePatterns, DEFAULT_PATTERNS, PatternError, type CompiledPattern, type PatternSpec } from "./patterns.js";

export const DEFAULT_SERVER_URL = "http://localhost:3000";
export const DEFAULT_EXPIRES_IN_SECONDS = 300;
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_WAIT_SECONDS = 30;
/** The server's limits: lifetimes 30–600 s, long-polls up to 60 s. */
export const MIN_EXPIRES_IN_SECONDS = 30;
export const MAX_EXPIRES_IN_SECONDS = 600;
export const MAX_WAIT_SECONDS = 60;
/** OpenClaw caps a hook budget at 600 s; leave room for the last status request. */
export const MAX_TIMEOUT_SECONDS = 585;
/** Extra hook budget on top of `timeoutSeconds`, so the plugin's own answer wins the race. */
export const HOOK_BUDGET_MARGIN_SECONDS = 15;
/** Environment variable read when `apiKey` is not in the config. */
export const API_KEY_ENV = "CLAWGATE_API_KEY";

/** The config as written (every field optional). */
export interface ClawgateConfigInput {
  serverUrl?: string;
  apiKey?: string;
  agentId?: string;
  expiresInSeconds?: number;
  timeoutSeconds?: number;
  waitSeconds?: number;
  patterns?: PatternSpec[];
  extraPatterns?: PatternSpec[];
  disabledPatterns?: string[];
  failOpenWhenUnreachable?: boolean;
}

/** The settings the hook runs with. */
export interface Settings {
  /** Without a trailing slash. */
  serverUrl: string;
  /** Absent: risky calls are blocked (the plugin cannot ask). */
  apiKey?: string;
  agentId?: string;
  expiresInSeconds: number;
  timeoutSeconds: number;
  waitSeconds: number;
  patterns: CompiledPattern[];
  /** When clawgate cannot be reached: let calls no risk pattern matches run (default: block every call). */
  failOpenWhenUnreachable: boolean;
}

/** What `resolveSettings` gives: settings, or why there are none (every call is then blocked). */
export type Resolved = { ok: true; settings: Settings; warnings: string[] } | { ok: false; error: string };

/** Every setting `configSchema` in openclaw.plugin.json must describe. */
export const CONFIG_KEYS: readonly string[] = Object.freeze([
  "serverUrl",
  "apiKey",
  "agentId",
  "expiresInSeconds",
  "timeoutSeconds",
  "waitSeconds",
  "patterns",
  "extraPatterns",
  "disabledPatterns",
  "failOpenWhenUnreachable",
]);
const KNOWN_KEYS = new Set(CONFIG_KEYS);

class ConfigError extends Error {}

function integer(raw: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`"${key}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function optionalString(raw: Record<string, unknown>, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new ConfigError(`"${key}" must be a string`);
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

function specList(raw: Record<string, unknown>, key: string): unknown[] | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ConfigError(`"${key}" must be a list of patterns`);
  return value;
}

/** Reads `api.pluginConfig` (and `CLAWGATE_API_KEY` from `env` when the config has no key). */
export function resolveSettings(pluginConfig: unknown, env: Record<string, string | undefined> = {}): Resolved {
  try {
    if (pluginConfig !== undefined && (typeof pluginConfig !== "object" || pluginConfig === null || Array.isArray(pluginConfig))) {
      throw new ConfigError("the plugin config must be an object");
    }
    const raw = (pluginConfig ?? {}) as Record<string, unknown>;
    const warnings: string[] = [];
    for (const key of Object.keys(raw)) {
      if (!KNOWN_KEYS.has(key)) throw new ConfigError(`unknown setting "${key}"`);
    }

    const serverUrl = (optionalString(raw, "serverUrl") ?? DEFAULT_SERVER_URL).replace(/\/+$/, "");
    let url: URL;
    try {
      url = new URL(serverUrl);
    } catch {
      throw new ConfigError(`"serverUrl" is not a URL: ${serverUrl}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`"serverUrl" must be http or https: ${serverUrl}`);
    if (url.search || url.hash || url.username || url.password) {
      throw new ConfigError(`"serverUrl" must be a plain origin (and path), without query, fragment or credentials`);
    }

    const apiKey = optionalString(raw, "apiKey") ?? (env[API_KEY_ENV]?.trim() || undefined);
    const agentId = optionalString(raw, "agentId");
    const expiresInSeconds = integer(raw, "expiresInSeconds", DEFAULT_EXPIRES_IN_SECONDS, MIN_EXPIRES_IN_SECONDS, MAX_EXPIRES_IN_SECONDS);
    const timeoutSeconds = integer(raw, "timeoutSeconds", Math.min(DEFAULT_TIMEOUT_SECONDS, expiresInSeconds), 1, MAX_TIMEOUT_SECONDS);
    const waitSeconds = integer(raw, "waitSeconds", DEFAULT_WAIT_SECONDS, 1, MAX_WAIT_SECONDS);
    if (timeoutSeconds > expiresInSeconds) {
      warnings.push(`timeoutSeconds (${timeoutSeconds}) is longer than expiresInSeconds (${expiresInSeconds}): requests expire first`);
    }

    const base: unknown[] = specList(raw, "patterns") ?? [...DEFAULT_PATTERNS];
    const extra = specList(raw, "extraPatterns") ?? [];
    const disabledRaw = raw.disabledPatterns;
    if (disabledRaw !== undefined && (!Array.isArray(disabledRaw) || !disabledRaw.every((d) => typeof d === "string"))) {
      throw new ConfigError(`"disabledPatterns" must be a list of pattern ids`);
    }
    const disabled = new Set((disabledRaw as string[] | undefined) ?? []);
    const idOf = (p: unknown) => (typeof p === "object" && p !== null ? (p as { id?: unknown }).id : undefined);
    const known = new Set([...base, ...extra].map(idOf));
    for (const id of disabled) {
      if (!known.has(id)) warnings.push(`disabledPatterns names "${id}", which is not a pattern`);
    }
    const specs = [...base, ...extra].filter((p) => !disabled.has(idOf(p) as string));
    const patterns = compilePatterns(specs);
    if (patterns.length === 0 && raw.failOpenWhenUnreachable === true) {
      warnings.push("no patterns are active: when clawgate cannot decide, every tool call runs");
    }

    const failOpenRaw = raw.failOpenWhenUnreachable;
    if (failOpenRaw !== undefined && typeof failOpenRaw !== "boolean") {
      throw new ConfigError(`"failOpenWhenUnreachable" must be true or false`);
    }
    const failOpenWhenUnreachable = failOpenRaw === true;
    if (failOpenWhenUnreachable) {
      warnings.push("failOpenWhenUnreachable: while clawgate cannot be reached, calls no risk pattern matches run unasked");
    }
    if (!apiKey) {
      const blocked = failOpenWhenUnreachable ? "every call matching a risk pattern" : "every call";
      warnings.push(`no apiKey (nor ${API_KEY_ENV}): clawgate cannot decide, so ${blocked} will be blocked`);
    }
    const settings: Settings = { serverUrl, expiresInSeconds, timeoutSeconds, waitSeconds, patterns, failOpenWhenUnreachable };
    if (apiKey) settings.apiKey = apiKey;
    if (agentId) settings.agentId = agentId;
    return { ok: true, settings, warnings };
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PatternError) return { ok: false, error: e.message };
    throw e;
  }
}

/** The `before_tool_call` budget to ask OpenClaw for (ms): the wait plus a margin, at most 600 s. */
export function hookBudgetMs(settings: Pick<Settings, "timeoutSeconds">): number {
  return Math.min(600_000, (settings.timeoutSeconds + HOOK_BUDGET_MARGIN_SECONDS) * 1000);
}
