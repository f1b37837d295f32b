// ClawGate for OpenClaw: a `before_tool_call` hook that brings every tool call to a clawgate
// server's gate, where the person's rules and standing grants allow or deny it at once, or the
// person is asked and the call waits for their passkey approval. When clawgate cannot decide, the
// plugin's local risk patterns block risky calls (deleting files, wiping disks, publishing …).

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
  description: "Every tool call is decided by the person's rules, standing grants or passkey approval on a clawgate server; when clawgate cannot decide, risky calls are blocked.",
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
        `clawgate: gating tool calls through ${s.serverUrl} (${s.patterns.length} local risk patterns for when it cannot decide; wait up to ${s.timeoutSeconds} s per call; hook budget ${timeoutMs} ms)`,
      );
    }
  },
};

export default plugin;
