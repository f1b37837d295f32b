// ClawGate for OpenClaw: a `before_tool_call` hook that makes risky tool calls (deleting files,
// wiping disks, publishing packages, force-pushing, dropping tables …) wait for a person's
// passkey approval on a clawgate server, and blocks them unless that person approves.

import { hookBudgetMs, resolveSettings } from "./config.js";
import { createBeforeToolCallHandler } from "./hook.js";
import type { OpenClawPluginDefinition } from "./openclaw-types.js";

export { DEFAULT_PATTERNS, compilePatterns, findRisks } from "./patterns.js";
export type { PatternSpec, RiskMatch } from "./patterns.js";
export { resolveSettings, hookBudgetMs } from "./config.js";
export type { ClawgateConfigInput, Settings } from "./config.js";
export { createBeforeToolCallHandler, idempotencyKey } from "./hook.js";
export type { Approval, HookDeps } from "./hook.js";
export { describeAction } from "./summary.js";

export const PLUGIN_ID = "clawgate";
/** Runs after ordinary handlers: a call another plugin blocks never bothers the person. */
export const HOOK_PRIORITY = -100;

const plugin: OpenClawPluginDefinition = {
  id: PLUGIN_ID,
  name: "ClawGate",
  description: "Risky tool calls wait for a person's passkey approval on a clawgate server; anything else blocks them.",
  register(api) {
    const resolved = resolveSettings(api.pluginConfig, process.env);
    if (!resolved.ok) {
      api.logger.error(`clawgate: invalid config, every tool call will be blocked: ${resolved.error}`);
    } else {
      for (const warning of resolved.warnings) api.logger.warn(`clawgate: ${warning}`);
    }
    const handler = createBeforeToolCallHandler(resolved, { logger: api.logger });
    // Ask OpenClaw for a budget longer than our own wait, so our answer (with the binding code)
    // is the one that counts. The operator's plugins.entries.clawgate.hooks.timeouts.before_tool_call
    // (or hooks.timeoutMs) overrides it.
    const timeoutMs = resolved.ok ? hookBudgetMs(resolved.settings) : undefined;
    api.on("before_tool_call", handler, { priority: HOOK_PRIORITY, ...(timeoutMs ? { timeoutMs } : {}) });
    if (resolved.ok) {
      const s = resolved.settings;
      api.logger.info(
        `clawgate: gating ${s.patterns.length} risk patterns through ${s.serverUrl} (wait up to ${s.timeoutSeconds} s per call; hook budget ${timeoutMs} ms)`,
      );
    }
  },
};

export default plugin;
