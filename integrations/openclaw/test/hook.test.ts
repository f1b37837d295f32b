// The hook against a stand-in clawgate: the gate's decisions (a rule's or grant's allow or deny,
// or a person asked), the long-poll wait for the person, what is sent for which tool, the
// fallback to the local patterns when clawgate cannot decide, and every refusal that blocks.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { resolveSettings } from "../src/config.js";
import { createBeforeToolCallHandler, gateCall, idempotencyKey, MIN_POLL_INTERVAL_MS, type Approval } from "../src/hook.js";
import plugin, { HOOK_PRIORITY } from "../src/index.js";
import type { BeforeToolCallContext, BeforeToolCallEvent, BeforeToolCallResult, OpenClawPluginApi } from "../src/openclaw-types.js";
import { allowed, asked, BINDING_CODE, closedPort, DECISION_ID, denied, error, FakeClawgate, offContract, REQUEST_ID, status, TOKEN, type Script } from "./fake-clawgate.js";

const COMMAND = "rm -rf ./old-data";
/** What clawgate shows the person for a shell call: the tool's name and the exact command. */
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

/** A stand-in clawgate whose gate asks a person (unless `onGate` says otherwise). */
async function fake(onStatus: Script, onGate: Script = () => asked()): Promise<FakeClawgate> {
  const server = await new FakeClawgate(onGate, onStatus).start();
  servers.push(server);
  return server;
}

/** A stand-in clawgate whose gate answers `onGate`; a status request fails the test. */
async function deciding(onGate: Script): Promise<FakeClawgate> {
  return fake(() => error(500, "test", "the gate decided: no status request expected"), onGate);
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

const HARMLESS = event({ params: { command: "ls -la" } });

describe("the person is asked", () => {
  test("waits on a long-poll and lets the call through with the token", async () => {
    const server = await fake(() => ({ ...status("APPROVED", ACTION), delayMs: 300 }));
    const { run, approvals, logs } = hook(server.url);
    const result = await run();
    assert.equal(result, undefined, "an approved call is let through (no decision returned)");

    const [call] = server.gates();
    assert.ok(call);
    assert.equal(call.query.get("wait"), null, "the gate answers at once; the wait is on the status");
    assert.equal(call.headers.authorization, "Bearer ag_test");
    assert.match(String(call.headers["content-type"]), /application\/json/);
    assert.equal(call.headers["idempotency-key"], idempotencyKey("run-1", "call-1", "agent:main:main"));
    assert.match(String(call.headers["idempotency-key"]), /^openclaw-[0-9a-f]{64}$/);
    assert.deepEqual(call.body, {
      tool: "exec",
      shell: true,
      input: { command: COMMAND },
      agentId: "bot",
      expiresInSeconds: 300,
      context: {
        source: "openclaw",
        openclawTool: "exec",
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
    assert.equal(approvals[0]?.bindingCode, BINDING_CODE);
    assert.equal(approvals[0]?.decidedBy, "passkey");
    assert.equal(approvals[0]?.action, `exec: ${COMMAND}`);
    assert.equal(approvals[0]?.toolCallId, "call-1");
    const info = logs.map((l) => l.message).join("\n");
    assert.match(info, new RegExp(`binding code ${BINDING_CODE}`));
    assert.match(info, /asked because .*rm -r\/-f/);
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
    assert.equal((server.gates()[0]?.body as { agentId?: string }).agentId, "ops-agent");
  });

  test("a 503 with Retry-After while waiting is waited out, then the decision counts", async () => {
    const server = await fake((_req, i) => (i === 0 ? { ...error(503, "unavailable", "database down"), headers: { "retry-after": "1" } } : status("APPROVED", ACTION)));
    const { run } = hook(server.url);
    assert.equal(await run(), undefined);
    const [first, second] = server.statuses();
    assert.ok(first && second);
    // Measured where the server sees the requests, so a little network time is allowed for.
    assert.ok(second.at - first.at >= 800, `Retry-After honoured: ${second.at - first.at} ms`);
  });

  test("DENIED with the person's reason", async () => {
    const server = await fake(() => status("DENIED", ACTION, { denyReason: "not on a Friday" }));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /denied/);
    assert.match(reason, /not on a Friday/);
    assert.ok(reason.includes(BINDING_CODE) && reason.includes(REQUEST_ID));
    assert.ok(reason.includes(COMMAND));
  });

  test("DENIED by Stop all agents says it was a stop", async () => {
    const server = await fake(() => status("DENIED", ACTION, { decidedBy: "stop", denyReason: "stopped by the person (Stop all agents)" }));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /was not run: stopped by the person \(Stop all agents\)/);
    assert.ok(reason.includes(BINDING_CODE) && reason.includes(REQUEST_ID));
    assert.ok(!reason.includes("a person denied"), reason);
  });

  test("the approve page the server names is logged while waiting", async () => {
    const page = `https://gate.example.com/approve/${REQUEST_ID}`;
    const server = await fake(() => status("APPROVED", ACTION), () => asked({ approveUrl: page }));
    const { run, logs } = hook(server.url);
    assert.equal(await run(), undefined);
    const waiting = logs.find((l) => l.message.includes("waiting up to"));
    assert.ok(waiting?.message.includes(`approve at ${page}`), waiting?.message);
    assert.ok(waiting?.message.includes(BINDING_CODE), waiting?.message);
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

  test("an already aborted call is not even brought to the gate", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const controller = new AbortController();
    controller.abort();
    blocked(await hook(server.url).run(event(), ctx({ abortSignal: controller.signal })));
    assert.equal(server.seen.length, 0);
  });

  test("server answering 500 while waiting blocks (the person was asked: no fallback)", async () => {
    const server = await fake(() => error(500, "internal", "something broke"));
    const reason = blocked(await hook(server.url).run());
    assert.match(reason, /HTTP 500 internal/);
    assert.ok(reason.includes(BINDING_CODE));
  });

  test("APPROVED without a token", async () => {
    const server = await fake(() => status("APPROVED", ACTION, { token: "" }));
    assert.match(blocked(await hook(server.url).run()), /no approval token/);
  });

  test("a status about another action", async () => {
    const server = await fake(() => status("APPROVED", "ls"));
    assert.match(blocked(await hook(server.url).run()), /another action/);
  });

  test("an unknown status", async () => {
    const server = await fake(() => status("MAYBE", ACTION));
    assert.match(blocked(await hook(server.url).run()), /unknown status "MAYBE"/);
  });

  test("an ask without a request id or binding code", async () => {
    const server = await deciding(() => asked({ requestId: undefined, bindingCode: undefined }));
    assert.match(blocked(await hook(server.url).run()), /without a request id/);
    assert.equal(server.statuses().length, 0);
  });
});

describe("the server's rules and grants decide at once", () => {
  test("a rule's allow runs the call: no request, no wait; the token goes to onApproved", async () => {
    const server = await deciding(() => allowed());
    const { run, approvals, logs } = hook(server.url);
    assert.equal(await run(HARMLESS), undefined);
    assert.equal(server.gates().length, 1, "harmless calls are brought to the gate too: the person's rules decide");
    assert.deepEqual((server.gates()[0]?.body as { input?: unknown }).input, { command: "ls -la" });
    assert.equal((server.gates()[0]?.body as { context?: { matched?: unknown } }).context?.matched, undefined, "no local pattern matched");
    assert.equal(server.statuses().length, 0);
    assert.equal(approvals.length, 1);
    assert.equal(approvals[0]?.decidedBy, "rule");
    assert.equal(approvals[0]?.decisionId, DECISION_ID);
    assert.equal(approvals[0]?.requestId, DECISION_ID, "the token's requestId names the decision");
    assert.equal(approvals[0]?.bindingCode, undefined);
    assert.equal(approvals[0]?.token, TOKEN);
    assert.ok(!logs.some((l) => l.message.includes(TOKEN)), "the token is never logged");
  });

  test("a rule's allow runs a call the local patterns find risky (the person's rules decide)", async () => {
    const server = await deciding(() => allowed({ rule: "v2#1", ruleVersion: 2 }));
    assert.equal(await hook(server.url).run(), undefined);
    assert.equal(server.statuses().length, 0);
  });

  test("a standing grant's allow runs the call, and says which grant", async () => {
    const server = await deciding(() => allowed({ decidedBy: "grant", grantId: "grt_abc", rule: undefined }));
    const { run, approvals, logs } = hook(server.url);
    assert.equal(await run(), undefined);
    assert.equal(approvals[0]?.decidedBy, "grant");
    assert.ok(logs.some((l) => l.level === "info" && l.message.includes("standing grant grt_abc")), JSON.stringify(logs));
  });

  test("a passkey allow handed back at once (a retried call already approved) runs without waiting", async () => {
    const server = await deciding(() => allowed({ decidedBy: "passkey", requestId: REQUEST_ID, decisionId: undefined, rule: undefined, status: "APPROVED" }));
    const { run, approvals } = hook(server.url);
    assert.equal(await run(), undefined);
    assert.equal(approvals[0]?.requestId, REQUEST_ID);
    assert.equal(server.statuses().length, 0);
  });

  test("a rule's deny blocks with the rule's reason and which rule, even a call the local patterns find harmless", async () => {
    const server = await deciding(() => denied());
    const reason = blocked(await hook(server.url).run(event({ params: { command: "curl -fsSL https://x.example/i.sh" } })));
    assert.match(reason, /"downloads are not allowed here"/);
    assert.match(reason, /rule v3#1/);
    assert.match(reason, /decided by rule/);
    assert.ok(reason.includes("curl -fsSL https://x.example/i.sh"));
    assert.equal(server.statuses().length, 0);
  });

  test("a deny by the person (a retried call already denied) or by the kill switch", async () => {
    const person = await deciding(() => denied({ decidedBy: "person", requestId: REQUEST_ID, decisionId: undefined, rule: undefined, reason: "no" }));
    const byPerson = blocked(await hook(person.url).run());
    assert.match(byPerson, /a person denied .*req_0123456789abcdefghij.*"no"/);
    const stop = await deciding(() => denied({ decidedBy: "stop", requestId: REQUEST_ID, decisionId: undefined, rule: undefined, reason: "stopped by ada" }));
    assert.match(blocked(await hook(stop.url).run()), /kill switch .*"stopped by ada"/);
  });

  test("an unknown decision blocks", async () => {
    const server = await deciding(() => offContract(allowed(), { decision: "maybe" }));
    assert.match(blocked(await hook(server.url).run(HARMLESS)), /unknown decision "maybe"/);
  });

  test("an unreadable answer blocks", async () => {
    const server = await deciding(() => ({ status: 200, json: { ok: true } }));
    assert.match(blocked(await hook(server.url).run(HARMLESS)), /unreadable decision/);
  });
});

describe("what the gate is sent", () => {
  test("exec is a shell call {command}, with an absolute workdir as cwd; the person sees every param in the context", async () => {
    const server = await deciding(() => allowed());
    const params = { command: "cargo test", workdir: "/srv/app", background: false };
    await hook(server.url).run(event({ params }));
    const body = server.gates()[0]?.body as Record<string, unknown>;
    assert.equal(body.tool, "exec");
    assert.equal(body.shell, true);
    assert.deepEqual(body.input, { command: "cargo test" });
    assert.equal(body.cwd, "/srv/app");
    assert.deepEqual((body.context as Record<string, unknown>).params, params);
    assert.equal((body.context as Record<string, unknown>).openclawTool, "exec");
  });

  test("a relative workdir is not sent as cwd (clawgate takes absolute paths only)", () => {
    assert.deepEqual(gateCall("exec", { command: "ls", workdir: "sub" }), { tool: "exec", shell: true, input: { command: "ls" } });
  });

  test("any tool with a command line is a shell call; argv lists are joined", () => {
    assert.deepEqual(gateCall("run_shell", { cmd: ["rm", "-rf", "old data"] }), { tool: "run_shell", shell: true, input: { command: 'rm -rf "old data"' } });
    assert.deepEqual(gateCall("exec", { command: "echo 1\necho 2" }).input, { command: "echo 1\necho 2" }, "the command as it will run");
  });

  test("other tools go as they are, with OpenClaw's name and params", async () => {
    const server = await deciding(() => allowed());
    const params = { path: "/tmp/x", recursive: true };
    await hook(server.url).run(event({ toolName: "delete_file", params }));
    const body = server.gates()[0]?.body as Record<string, unknown>;
    assert.equal(body.tool, "delete_file");
    assert.deepEqual(body.input, params);
    assert.equal(body.cwd, undefined);
    assert.equal((body.context as { matched?: Array<{ id: string }> }).matched?.[0]?.id, "delete-tool");
  });

  test("a long command is sent whole: clawgate decides, nothing is shortened", async () => {
    const server = await deciding(() => allowed());
    const command = `rm -rf ${"x".repeat(4100)}`;
    assert.equal(await hook(server.url).run(event({ params: { command } })), undefined);
    assert.equal((server.gates()[0]?.body as { input: { command: string } }).input.command, command);
  });

  test("params too large for the context are left out of it, with their hash; the input stays whole", async () => {
    const server = await deciding(() => allowed());
    const content = "y".repeat(40 * 1024);
    await hook(server.url).run(event({ toolName: "write", params: { path: "/tmp/big", content } }));
    const body = server.gates()[0]?.body as { input: { content: string }; context: Record<string, unknown> };
    assert.equal(body.input.content, content);
    assert.equal(body.context.params, undefined);
    assert.match(String(body.context.paramsSha256), /^[0-9a-f]{64}$/);
  });
});

describe("when clawgate cannot decide, the local patterns do, and they only block", () => {
  test("server unreachable, failing open: a risky call is blocked quickly, saying clawgate could not decide; a harmless one runs", async () => {
    const port = await closedPort();
    const started = Date.now();
    // Issue 17: a harmless call runs only when the person opted into failing open.
    const { run, logs } = hook(`http://127.0.0.1:${port}`, { failOpenWhenUnreachable: true });
    const reason = blocked(await run());
    assert.match(reason, /could not be reached/);
    assert.match(reason, /clawgate could not decide/);
    assert.match(reason, /local risk patterns \(rm\)/);
    assert.ok(reason.includes(`127.0.0.1:${port}`));
    assert.ok(Date.now() - started < 3000);
    assert.equal(await run(HARMLESS), undefined);
    assert.ok(logs.some((l) => l.level === "warn" && l.message.includes("could not decide")), JSON.stringify(logs));
  });

  test("server unreachable: by default every call is blocked, a harmless one too, saying why", async () => {
    const port = await closedPort();
    const { run } = hook(`http://127.0.0.1:${port}`);
    const reason = blocked(await run(HARMLESS));
    assert.match(reason, /could not be reached/);
    assert.match(reason, /every call is blocked/);
    assert.match(reason, /failOpenWhenUnreachable/);
  });

  test("a 5xx from the gate", async () => {
    const server = await deciding(() => error(500, "internal", "something broke"));
    // Issue 17: the harmless call below runs only when the person opted into failing open.
    const { run } = hook(server.url, { failOpenWhenUnreachable: true });
    const reason = blocked(await run());
    assert.match(reason, /HTTP 500 internal: something broke/);
    assert.match(reason, /could not decide/);
    assert.equal(await run(HARMLESS), undefined);
    const unavailable = await deciding(() => ({ ...error(503, "unavailable", "database down"), headers: { "retry-after": "1" } }));
    assert.match(blocked(await hook(unavailable.url).run()), /HTTP 503 unavailable/);
    assert.equal(server.statuses().length, 0);
  });

  test("no answer within timeoutSeconds is not \"cannot decide\": every call is blocked, harmless ones too", async () => {
    const server = await deciding(() => ({ ...allowed(), delayMs: 5000 }));
    const { run } = hook(server.url, { timeoutSeconds: 1 });
    for (const e of [event(), HARMLESS]) {
      const started = Date.now();
      const reason = blocked(await run(e));
      assert.match(reason, /did not answer in time \(timed out\)/);
      assert.ok(!reason.includes("could not decide"), reason);
      assert.ok(Date.now() - started < 1500, `${Date.now() - started} ms`);
    }
  });

  test("no apiKey: nothing is sent; a risky call is blocked, a harmless one runs (failing open)", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const logs: Logged[] = [];
    const saved = process.env.CLAWGATE_API_KEY;
    delete process.env.CLAWGATE_API_KEY;
    try {
      // Issue 17: the harmless call runs only when the person opted into failing open.
      const settings = resolveSettings({ serverUrl: server.url, failOpenWhenUnreachable: true });
      const handler = createBeforeToolCallHandler(settings, { logger: logger(logs) });
      const reason = blocked((await handler(event(), ctx())) ?? undefined);
      assert.match(reason, /no apiKey/);
      assert.equal((await handler(HARMLESS, ctx())) ?? undefined, undefined);
      assert.equal(server.seen.length, 0);
      const closed = createBeforeToolCallHandler(resolveSettings({ serverUrl: server.url }), { logger: logger(logs) });
      assert.match(blocked((await closed(HARMLESS, ctx())) ?? undefined), /no apiKey/);
    } finally {
      if (saved !== undefined) process.env.CLAWGATE_API_KEY = saved;
    }
  });
});

describe("a refusal (4xx) blocks every call, with the server's words", () => {
  for (const [code, name, message] of [
    [401, "unauthorized", "invalid API key"],
    [403, "api_key_suspended", "this API key is suspended"],
    [400, "invalid_request", "`cwd` must be an absolute path"],
    [429, "too_many_pending", "too many requests are waiting"],
  ] as const) {
    test(`${code} ${name}`, async () => {
      const server = await deciding(() => error(code, name, message));
      const { run } = hook(server.url);
      for (const e of [event(), HARMLESS]) {
        const reason = blocked(await run(e));
        assert.ok(reason.includes(`HTTP ${code} ${name}: ${message}`), reason);
        assert.ok(!reason.includes("could not decide"), reason);
      }
      assert.equal(server.statuses().length, 0);
    });
  }

  test("a 429 is waited out for its Retry-After and asked again while that fits in timeoutSeconds; else it blocks at once", async () => {
    const limited = () => ({ ...error(429, "gate_rate_limited", "too many gate calls"), headers: { "retry-after": "1" } });
    const server = await deciding((_req, index) => (index === 0 ? limited() : allowed()));
    const { run } = hook(server.url);
    assert.equal(await run(HARMLESS), undefined, "allowed on the second try");
    const [first, second] = server.gates();
    assert.ok(first && second && second.at - first.at >= 900, "the Retry-After was waited out");

    const full = await deciding(() => ({ ...error(429, "too_many_pending", "too many requests are waiting"), headers: { "retry-after": "300" } }));
    const started = Date.now();
    const reason = blocked(await hook(full.url, { timeoutSeconds: 10 }).run(HARMLESS));
    assert.ok(reason.includes("HTTP 429 too_many_pending"), reason);
    assert.ok(Date.now() - started < 1000, `blocked at once, not after the Retry-After: ${Date.now() - started} ms`);
    assert.equal(full.gates().length, 1);
  });

  test("an invalid config blocks every call, harmless ones too", async () => {
    const resolved = resolveSettings({ apiKey: "ag_x", extraPatterns: [{ id: "bad", match: "(" }] });
    const handler = createBeforeToolCallHandler(resolved);
    const reason = blocked((await handler(event({ params: { command: "ls -la" } }), ctx())) ?? undefined);
    assert.match(reason, /config is invalid .*pattern "bad"/);
  });
});

describe("one request per tool call", () => {
  test("a retried hook sends the same Idempotency-Key; another call another key", async () => {
    const server = await fake(() => status("APPROVED", ACTION));
    const { run } = hook(server.url);
    await run();
    await run();
    await run(event({ toolCallId: "call-2" }), ctx({ toolCallId: "call-2" }));
    const keys = server.gates().map((c) => c.headers["idempotency-key"]);
    assert.equal(keys.length, 3);
    assert.ok(keys[0]);
    assert.equal(keys[0], keys[1], "the same tool call, the same key");
    assert.notEqual(keys[0], keys[2]);
    assert.deepEqual(server.gates()[0]?.body, server.gates()[1]?.body, "and the same body, so clawgate replays");
  });

  test("without a toolCallId there is no key (an identical later call must not reuse an approval)", async () => {
    assert.equal(idempotencyKey("run-1", undefined), undefined);
    const server = await fake(() => status("APPROVED", ACTION));
    const { run } = hook(server.url);
    await run(event({ toolCallId: undefined, runId: undefined }), { toolName: "exec" });
    assert.equal(server.gates()[0]?.headers["idempotency-key"], undefined);
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
