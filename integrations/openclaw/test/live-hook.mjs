// Runs the BUILT plugin (dist/) the way OpenClaw would: `register(api)` with a minimal api, then
// one `before_tool_call` with a realistic event. Prints one JSON line on stdout:
//   {"result": <the hook's result or null>, "elapsedMs", "hookOptions", "logs": [{level, message}]}
// Driven by crates/clawgate/tests/api/agents/openclaw.rs; by hand:
//   CLAWGATE_API_KEY=ag_… CLAWGATE_URL=http://localhost:3000 HOOK_COMMAND='rm -rf ./old-data' \
//     node test/live-hook.mjs
//
// Environment:
//   CLAWGATE_URL          serverUrl (default: the plugin's default)
//   CLAWGATE_API_KEY      the agent's API key (read by the plugin itself when the config has none)
//   HOOK_COMMAND          the exec command (default: rm -rf ./old-data)
//   HOOK_TIMEOUT_SECONDS  timeoutSeconds (default: the plugin's default)
//   HOOK_WAIT_SECONDS     waitSeconds (default: the plugin's default)
//   HOOK_FAIL_OPEN        1: failOpenWhenUnreachable
//   HOOK_RUN_ID, HOOK_TOOL_CALL_ID  the call's ids (default: run-live, call-live)

import { fileURLToPath } from "node:url";

const dist = new URL("../dist/index.js", import.meta.url);
let plugin;
try {
  plugin = (await import(dist.href)).default;
} catch (e) {
  process.stderr.write(`live-hook: cannot load the built plugin at ${fileURLToPath(dist)} (run npm run build): ${e}\n`);
  process.exit(2);
}

const env = process.env;
const pluginConfig = {};
if (env.CLAWGATE_URL) pluginConfig.serverUrl = env.CLAWGATE_URL;
if (env.HOOK_TIMEOUT_SECONDS) pluginConfig.timeoutSeconds = Number(env.HOOK_TIMEOUT_SECONDS);
if (env.HOOK_WAIT_SECONDS) pluginConfig.waitSeconds = Number(env.HOOK_WAIT_SECONDS);
if (env.HOOK_FAIL_OPEN) pluginConfig.failOpenWhenUnreachable = env.HOOK_FAIL_OPEN === "1";

const logs = [];
const log = (level) => (message) => logs.push({ level, message });
const registered = [];
const api = {
  id: "clawgate",
  name: "ClawGate",
  source: fileURLToPath(dist),
  registrationMode: "full",
  pluginConfig,
  logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  on: (hookName, handler, opts) => registered.push({ hookName, handler, opts }),
};

plugin.register(api);
const hooks = registered.filter((r) => r.hookName === "before_tool_call");
if (hooks.length !== 1) {
  process.stderr.write(`live-hook: expected one before_tool_call registration, got ${registered.length} registrations\n`);
  process.exit(3);
}
const [hook] = hooks;

const runId = env.HOOK_RUN_ID ?? "run-live";
const toolCallId = env.HOOK_TOOL_CALL_ID ?? "call-live";
const event = { toolName: "exec", params: { command: env.HOOK_COMMAND ?? "rm -rf ./old-data" }, runId, toolCallId };
const ctx = { agentId: "live-agent", sessionKey: "agent:live-agent:main", sessionId: "session-live", runId, toolName: "exec", toolCallId };

const started = Date.now();
const result = await hook.handler(event, ctx);
process.stdout.write(`${JSON.stringify({ result: result ?? null, elapsedMs: Date.now() - started, hookOptions: hook.opts, logs })}\n`);
