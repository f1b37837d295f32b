// The hook against a stand-in clawgate: approvals, long-polls, denials, expiry, timeouts, and
// every way it must fail closed.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { resolveSettings } from "../src/config.js";
import { createBeforeToolCallHandler, idempotencyKey, MIN_POLL_INTERVAL_MS, type Approval } from "../src/hook.js";
import plugin, { HOOK_PRIORITY } from "../src/index.js";
import type { BeforeToolCallContext, BeforeToolCallEvent, BeforeToolCallResult, OpenClawPluginApi } from "../src/openclaw-types.js";
import { BINDING_CODE, closedPort, created, error, FakeClawgate, REQUEST_ID, status, TOKEN, type Script } from "./fake-clawgate.js";

const COMMAND = "rm -rf ./old-data";
const ACTION = `exec: ${COMMAND}`;

function event(extra: Partial<BeforeToolCallEvent> = {}): BeforeToolCallEvent {
  return { toolName: "exec", params: { command: COMMAND }, runId: "run-1", toolCallId: "call-1", ...extra };
}

function ctx(extra: Partial<BeforeToolCallContext> = {}): BeforeToolCallContext {
  return { agentId: "main", sessionKey: "agent:main:main", runId: "run-1", toolName: "exec", toolCallId: "call-1", ...extra };
}

interface Logged {
  level: string;
  message: string;
}

function logger(into: Logged[]) {
  return {
    debug: (message: string) => into.push({ level: "debug", message }),
    info: (message: string) => into.push({ level: "info", message }),
    warn: (message: string) => into.push({ level: "warn", message }),
    error: (message: string) => into.push({ level: "error", message }),
  };
}

const servers: FakeClawgate[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function fake(onStatus: Script, onCreate: Script = () => created()): Promise<FakeClawgate> {
  const server = await new FakeClawgate(onCreate, onStatus).start();
  servers.push(server);
  return server;
}

/** A hook talking to `serverUrl`, with a fast long-poll; `approvals` and `logs` collect what it did. */
function hook(serverUrl: string, config: Record<string, unknown> = {}) {
  const approvals: Approval[] = [];
  const logs: Logged[] = [];
  const resolved = resolveSettings({ serverUrl, apiKey: "ag_test", agentId: "bot", waitSeconds: 1, timeoutSeconds: 10, ...config });
  const handler = createBeforeToolCallHandler(resolved, { logger: logger(logs), onApproved: (a) => approvals.push(a) });
  const run = async (e: BeforeToolCallEvent = event(), c: BeforeToolCallContext = ctx()): Promise<BeforeToolCallResult | undefined> =>
    (await handler(e, c)) ?? undefined;
  return { run, approvals, logs };
}

function blocked(result: BeforeToolCallResult | undefined): string {
  assert.ok(result, "the call must be blocked, not let through");
  assert.equal(result.block, true, JSON.stringify(result));
  assert.ok(typeof result.blockReason === "string" && result.blockReason.length > 0);
  return result.blockReason;
}

describe("approved", () => {
  test("waits on a long-poll and lets the call through with the token", async () => {
    const server = await fake(() => ({ ...status("APPROVED", ACTION), delayMs: 300 }));
    const { run, approvals, logs } = hook(server.url);
    const result = await run();
    assert.equal(result, undefined, "an approved call is let through (no decision returned)");

    const [create] = server.creates();
    assert.ok(create);
    assert.equal(create.headers.authorization, "Bearer ag_test");
    assert.match(String(create.headers["content-type"]), /application\/json/);
    assert.equal(create.headers["idempotency-key"], idempotencyKey("run-1", "call-1", "agent:main:main"));
    assert.match(String(create.headers["idempotency-key"]), /^openclaw-[0-9a-f]{64}$/);
    assert.deepEqual(create.body, {
      action: ACTION,
      agentId: "bot",
      expiresInSeconds: 300,
      context: {
        source: "openclaw",
        tool: "exec",
        params: { command: COMMAND },
        matched: [{ id: "rm", description: "deletes files (rm, including rm -rf)" }],
        runId: "run-1",
        toolCallId: "call-1",
        sessionKey: "agent:main:main",
      },
    });

    const statuses = server.statuses();
    assert.equal(statuses.length, 1, "the long-poll answered with the decision: one status request");
    assert.equal(statuses[0]?.path, `/api/v1/approval/status/${REQUEST_ID}`);
    assert.equal(statuses[0]?.query.get("wait"), "1");
    assert.equal(statuses[0]?.headers.authorization, "Bearer ag_test");

    assert.equal(approvals.length, 1);
    assert.equal(approvals[0]?.token, TOKEN);
    assert.equal(approvals[0]?.requestId, REQUEST_ID);
    assert.equal(approvals[0]?.action, ACTION);
    assert.equal(approvals[0]?.toolCallId, "call-1");
    const info = logs.map((l) => l.message).join("\n");
    assert.match(info, new RegExp(`binding code ${BINDING_CODE}`));
    assert.match(info, /approved/);
    assert.ok(!info.includes(TOKEN), "the token is never logged");
  });

  test("re-asks while the long-poll answers PENDING, without extra pauses", async () => {
    const server = await fake((req, i) =>
      i < 2 ? { ...status("PENDING", ACTION), delayMs: Number(req.query.get("wait")) * 1000 } : status("APPROVED", ACTION),
    );
    const { run, approvals } = hook(server.url, { waitSeconds: 1 });
    const started = Date.now();
    assert.equal(await run(), undefined);
    const elapsed = Date.now() - started;
    assert.equal(server.statuses().length, 3);
    assert.ok(server.statuses().every((s) => s.query.get("wait") === "1"));
    assert.ok(elapsed >= 1900 && elapsed < 6000, `two held polls of 1 s, then the decision: ${elapsed} ms`);
    assert.equal(approvals.length, 1);
  });

  test("the agent id defaults to OpenClaw's", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const resolved = resolveSettings({ serverUrl: server.url, apiKey: "ag_test" });
    await createBeforeToolCallHandler(resolved)(event(), ctx({ agentId: "ops-agent" }));
    assert.equal((server.creates()[0]?.body as { agentId?: string }).agentId, "ops-agent");
  });

  test("a 503 with Retry-After is waited out, then the decision counts", async () => {
    const server = await fake((_req, i) => (i === 0 ? { ...error(503, "unavailable", "database down"), headers: { "retry-after": "1" } } : status("APPROVED", ACTION)));
    const { run } = hook(server.url);
    assert.equal(await run(), undefined);
    const [first, second] = server.statuses();
    assert.ok(first && second);
    // Measured where the server sees the requests, so a little network time is allowed for.
    assert.ok(second.at - first.at >= 800, `Retry-After honoured: ${second.at - first.at} ms`);
  });
});

describe("blocked with a reason", () => {
  test("DENIED with the person's reason", async () => {
    const server = await fake(() => status("DENIED", ACTION, { reason: "not on a Friday" }));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /denied/);
    assert.match(reason, /not on a Friday/);
    assert.ok(reason.includes(BINDING_CODE) && reason.includes(REQUEST_ID));
    assert.ok(reason.includes(COMMAND));
  });

  test("DENIED without a reason says so", async () => {
    const server = await fake(() => status("DENIED", ACTION));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /denied .*giving no reason/);
  });

  test("EXPIRED", async () => {
    const server = await fake(() => status("EXPIRED", ACTION));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /expired at 2030-01-01T00:05:00Z/);
    assert.ok(reason.includes(BINDING_CODE));
  });

  test("no decision within timeoutSeconds, against a server that ignores ?wait (about one request a second)", async () => {
    const server = await fake(() => status("PENDING", ACTION));
    const started = Date.now();
    const reason = blocked(await hook(server.url, { timeoutSeconds: 3, waitSeconds: 30 }).run());
    const elapsed = Date.now() - started;
    assert.match(reason, /no decision on .* within 3 s/);
    assert.ok(reason.includes(BINDING_CODE) && reason.includes(REQUEST_ID));
    assert.ok(elapsed >= 2900 && elapsed < 8000, `${elapsed} ms`);
    const statuses = server.statuses();
    assert.ok(statuses.length >= 2 && statuses.length <= 5, `${statuses.length} status requests in 3 s`);
    // Requests start at least a second apart; seen from the server, a little network time blurs that.
    for (let i = 1; i < statuses.length; i++) {
      const gap = statuses[i]!.at - statuses[i - 1]!.at;
      assert.ok(gap >= MIN_POLL_INTERVAL_MS - 250, `requests ${gap} ms apart`);
    }
    const waits = statuses.map((s) => Number(s.query.get("wait")));
    assert.ok(waits.every((w) => w >= 0 && w <= 3), `wait never beyond the time left: ${waits.join(",")}`);
  });

  test("the hook's abort signal ends the wait at once", async () => {
    const server = await fake(() => ({ ...status("PENDING", ACTION), delayMs: 5000 }));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    const reason = blocked(await hook(server.url, { waitSeconds: 5 }).run(event(), ctx({ abortSignal: controller.signal })));
    assert.match(reason, /cancelled/);
    assert.ok(Date.now() - started < 2000);
  });

  test("an already aborted call is not even asked for", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const controller = new AbortController();
    controller.abort();
    blocked(await hook(server.url).run(event(), ctx({ abortSignal: controller.signal })));
    assert.equal(server.seen.length, 0);
  });
});

describe("fails closed", () => {
  test("no apiKey: blocked, and nothing is sent", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const logs: Logged[] = [];
    const handler = createBeforeToolCallHandler(resolveSettings({ serverUrl: server.url }), { logger: logger(logs) });
    const reason = blocked((await handler(event(), ctx())) ?? undefined);
    assert.match(reason, /no apiKey/);
    assert.equal(server.seen.length, 0);
  });

  test("server unreachable: blocked quickly", async () => {
    const port = await closedPort();
    const started = Date.now();
    const reason = blocked(await hook(`http://127.0.0.1:${port}`).run());
    assert.match(reason, /could not be reached/);
    assert.ok(reason.includes(`127.0.0.1:${port}`));
    assert.ok(Date.now() - started < 3000);
  });

  test("server answering 500 to the request", async () => {
    const server = await fake(() => status("APPROVED", ACTION), () => error(500, "internal", "something broke"));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /HTTP 500 internal: something broke/);
    assert.equal(server.statuses().length, 0);
  });

  test("server answering 500 while waiting", async () => {
    const server = await fake(() => error(500, "internal", "something broke"));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /HTTP 500 internal/);
    assert.ok(reason.includes(BINDING_CODE));
  });

  test("a refused API key", async () => {
    const server = await fake(() => status("APPROVED", ACTION), () => error(401, "unauthorized", "invalid API key"));
    assert.match(blocked(await hook(server.url).run()), /HTTP 401 unauthorized: invalid API key/);
  });

  test("APPROVED without a token", async () => {
    const server = await fake(() => status("APPROVED", ACTION, { token: "" }));
    assert.match(blocked(await hook(server.url).run()), /no approval token/);
  });

  test("a status about another action", async () => {
    const server = await fake(() => status("APPROVED", "exec: ls"));
    assert.match(blocked(await hook(server.url).run()), /another action/);
  });

  test("an unknown status", async () => {
    const server = await fake(() => status("MAYBE", ACTION));
    assert.match(blocked(await hook(server.url).run()), /unknown status "MAYBE"/);
  });

  test("an action too long for clawgate is blocked, never shortened", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const command = `rm -rf ${"x".repeat(4100)}`;
    const reason = blocked(await hook(server.url).run(event({ params: { command } })));
    assert.match(reason, /at most 4000/);
    assert.equal(server.seen.length, 0);
  });

  test("an invalid config blocks every call, harmless ones too", async () => {
    const resolved = resolveSettings({ apiKey: "ag_x", extraPatterns: [{ id: "bad", match: "(" }] });
    const handler = createBeforeToolCallHandler(resolved);
    const reason = blocked((await handler(event({ params: { command: "ls -la" } }), ctx())) ?? undefined);
    assert.match(reason, /config is invalid .*pattern "bad"/);
  });
});

describe("no request for harmless calls; one request per tool call", () => {
  test("a harmless command goes through without asking", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const { run } = hook(server.url);
    assert.equal(await run(event({ params: { command: "ls -la" } })), undefined);
    assert.equal(await run(event({ toolName: "read", params: { path: "README.md" } })), undefined);
    assert.equal(server.seen.length, 0);
  });

  test("a retried hook sends the same Idempotency-Key; another call another key", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const { run } = hook(server.url);
    await run();
    await run();
    await run(event({ toolCallId: "call-2" }), ctx({ toolCallId: "call-2" }));
    const keys = server.creates().map((c) => c.headers["idempotency-key"]);
    assert.equal(keys.length, 3);
    assert.ok(keys[0]);
    assert.equal(keys[0], keys[1], "the same tool call, the same key");
    assert.notEqual(keys[0], keys[2]);
    assert.deepEqual(server.creates()[0]?.body, server.creates()[1]?.body, "and the same body, so clawgate replays");
  });

  test("without a toolCallId there is no key (an identical later call must not reuse an approval)", async () => {
    assert.equal(idempotencyKey("run-1", undefined), undefined);
    const server = await fake(() => status("APPROVED", ACTION));
    const { run } = hook(server.url);
    await run(event({ toolCallId: undefined, runId: undefined }), { toolName: "exec" });
    assert.equal(server.creates()[0]?.headers["idempotency-key"], undefined);
  });
});

describe("registration", () => {
  function fakeApi(pluginConfig: unknown) {
    const logs: Logged[] = [];
    const registered: Array<{ hookName: string; handler: unknown; opts: unknown }> = [];
    const api = {
      id: "clawgate",
      name: "ClawGate",
      pluginConfig,
      logger: logger(logs),
      on: (hookName: string, handler: unknown, opts: unknown) => registered.push({ hookName, handler, opts }),
    } as unknown as OpenClawPluginApi;
    return { api, logs, registered };
  }

  test("registers before_tool_call with a budget above its own wait", () => {
    const { api, registered } = fakeApi({ apiKey: "ag_x", timeoutSeconds: 120 });
    plugin.register?.(api);
    assert.equal(plugin.id, "clawgate");
    assert.equal(registered.length, 1);
    assert.equal(registered[0]?.hookName, "before_tool_call");
    assert.deepEqual(registered[0]?.opts, { priority: HOOK_PRIORITY, timeoutMs: 135_000 });
  });

  test("the budget never exceeds OpenClaw's 600 s cap", () => {
    const { api, registered } = fakeApi({ apiKey: "ag_x", timeoutSeconds: 585, expiresInSeconds: 600 });
    plugin.register?.(api);
    assert.deepEqual(registered[0]?.opts, { priority: HOOK_PRIORITY, timeoutMs: 600_000 });
  });

  test("a missing apiKey is a warning at start; a bad config an error", () => {
    const saved = process.env.CLAWGATE_API_KEY;
    delete process.env.CLAWGATE_API_KEY;
    try {
      const missing = fakeApi({});
      plugin.register?.(missing.api);
      assert.ok(missing.logs.some((l) => l.level === "warn" && l.message.includes("apiKey")));
      const bad = fakeApi({ timeoutSeconds: "soon" });
      plugin.register?.(bad.api);
      assert.ok(bad.logs.some((l) => l.level === "error" && l.message.includes("timeoutSeconds")));
      assert.equal(bad.registered.length, 1, "the hook is still there, to block");
    } finally {
      if (saved !== undefined) process.env.CLAWGATE_API_KEY = saved;
    }
  });
});
