// The `before_tool_call` handler: every tool call is brought to clawgate's gate
// (`POST /api/v1/gate`), where the person's rules and standing grants decide at once (`allow` or
// `deny`) or a person is asked (`ask`: the hook waits for the passkey decision and runs the call
// only when it is APPROVED). When clawgate cannot decide (unreachable, 5xx) the local risk patterns
// decide, and they only block. A refusal (4xx; a 429 once its Retry-After no longer fits in
// `timeoutSeconds`), a denial, an expired request, no answer or no decision within
// `timeoutSeconds` (every request, retry and wait together), a cancelled run or a bad config block
// the call.

import { createHash } from "node:crypto";
import type { Resolved, Settings } from "./config.js";
import type { BeforeToolCallContext, BeforeToolCallEvent, BeforeToolCallHandler, BeforeToolCallResult, PluginLogger } from "./openclaw-types.js";
import { findRisks, type RiskMatch } from "./patterns.js";
import { charCount, commandOf, describeAction, MAX_ACTION_CHARS, stableJson } from "./summary.js";
// What clawgate sends and reads, generated from its OpenAPI document (never edited by hand).
import type { GateAnswer, GateRequest, StatusView } from "./wire.js";

/** Never ask for a status more often than this, even when the server answers at once. */
export const MIN_POLL_INTERVAL_MS = 1000;
/** How long one gate request may take (never beyond `timeoutSeconds`); then the call is blocked. */
const CREATE_TIMEOUT_MS = 15_000;
/** Gate requests for one call when clawgate answers 429 with a Retry-After that fits in time. */
const GATE_ATTEMPTS = 3;
/** Extra time a status request may take beyond its `wait`, for the network. */
const RESPONSE_GRACE_MS = 5_000;
/** clawgate refuses a context over 32 KiB; above this the params are left out of it. */
const MAX_CONTEXT_BYTES = 30 * 1024;
/** Longest pause asked for by `Retry-After` that is honoured (the plugin's deadline still rules). */
const MAX_RETRY_AFTER_MS = 30_000;

/** What the plugin knows after an allow that carries a token (a passkey approval, a rule, a grant). */
export interface Approval {
  /** The request the person approved, or for a rule's or grant's allow the decision (`dec_…`). */
  requestId: string;
  /** What allowed it: `passkey`, `rule` or `grant`. */
  decidedBy?: string;
  /** A rule's or grant's decision. */
  decisionId?: string;
  /** Only when a person was asked. */
  bindingCode?: string;
  action: string;
  toolName: string;
  toolCallId?: string;
  /** An approval token for `passkey`; for `rule` or `grant` a gate token, which verifiers refuse unless they accept that decider. */
  token: string;
  tokenExpiresAt?: string;
  decidedAt?: string;
}

export interface HookDeps {
  logger?: PluginLogger;
  /** Called with the token of an allowed call before it is let through (it is never logged). */
  onApproved?: (approval: Approval) => void;
}

/** What clawgate says of a request Stop all agents denied. */
export const STOPPED = "stopped by the person (Stop all agents)";

class Cancelled extends Error {}
class TimedOut extends Error {}

interface HttpAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One HTTP exchange, bounded by `timeoutMs` and the hook's abort signal. */
async function exchange(url: string, init: RequestInit, signal: AbortSignal | undefined, timeoutMs: number): Promise<HttpAnswer> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, Math.max(0, timeoutMs));
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (signal?.aborted) throw new Cancelled("cancelled");
    const response = await fetch(url, { ...init, signal: controller.signal });
    const text = await response.text();
    let body: unknown = undefined;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, headers: response.headers, body };
  } catch (e) {
    if (signal?.aborted) throw new Cancelled("cancelled");
    if (timedOut) throw new TimedOut("timed out");
    throw e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Waits `ms`, or less when the signal aborts (then throws `Cancelled`). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Cancelled("cancelled"));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Cancelled("cancelled"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `{"error": {"code", "message"}}` in words, or what there is. */
function serverError(answer: HttpAnswer): string {
  const err = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (err && typeof err === "object") {
    const code = typeof err.code === "string" ? err.code : "error";
    const message = typeof err.message === "string" ? err.message : "";
    return `HTTP ${answer.status} ${code}${message ? `: ${message}` : ""}`;
  }
  const text = typeof answer.body === "string" ? answer.body.slice(0, 200) : "";
  return `HTTP ${answer.status}${text ? `: ${text}` : ""}`;
}

function networkError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err?.cause?.code ?? err?.cause?.message;
  return `${err?.message ?? String(e)}${cause ? ` (${cause})` : ""}`;
}

/** `Retry-After` (seconds or a date) in ms, or undefined when absent or unreadable. */
function givenRetryAfterMs(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at - Date.now();
}

/** `Retry-After` in ms, held to 1–30 s; 2 s when absent. */
function retryAfterMs(headers: Headers): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, givenRetryAfterMs(headers) ?? 2000));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseStatus(body: unknown): StatusView | undefined {
  if (!isRecord(body) || typeof body.requestId !== "string" || typeof body.status !== "string") return undefined;
  return body as unknown as StatusView;
}

/** The `Idempotency-Key` for one tool call: the same run and call id always give the same key. */
export function idempotencyKey(runId: string | undefined, toolCallId: string | undefined, sessionKey?: string): string | undefined {
  if (!toolCallId) return undefined;
  const digest = createHash("sha256")
    .update(JSON.stringify(["openclaw-before-tool-call", runId ?? "", toolCallId, sessionKey ?? ""]))
    .digest("hex");
  return `openclaw-${digest}`;
}

/**
 * What a shell call is sent to clawgate's gate as; other tools go as they are: OpenClaw's tool
 * name, `shell: true` when the call runs `input.command` in a shell (clawgate decides it as
 * `Bash`), `{command}` for a shell call else the tool's params, and a shell call's absolute
 * `workdir` (or `cwd`) when it has one.
 */
export type GateCall = Pick<GateRequest, "tool" | "shell" | "input" | "cwd">;

const MAX_CWD_CHARS = 4096;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The call as clawgate's gate reads it. The server maps tool names the Claude Code way, so a
 * call with a command line (OpenClaw's `exec`, or any tool whose params carry `command`, `cmd`,
 * `commandLine`, `command_line` or `script`, as a string or an argv list) is sent as
 * `{command}` with `shell: true`: clawgate decides it as a `Bash` call, so the person's
 * shell-aware rules apply to it, and shows it by its own name. Other tools are sent as they are.
 */
export function gateCall(toolName: string, params: Record<string, unknown>): GateCall {
  const found = commandOf(params);
  if (!found) return { tool: toolName, input: params };
  const call: GateCall = { tool: toolName, shell: true, input: { command: found.text } };
  for (const key of ["workdir", "cwd"]) {
    const dir = params[key];
    if (typeof dir === "string" && dir.startsWith("/") && charCount(dir) <= MAX_CWD_CHARS && !CONTROL_CHARS.test(dir)) {
      call.cwd = dir;
      break;
    }
  }
  return call;
}

/**
 * The `context` sent to the gate: OpenClaw's tool name (`openclawTool`; the server sets `tool`
 * itself), its params (when they fit), the local patterns the call matched, and the call's ids.
 */
export function buildContext(
  event: BeforeToolCallEvent,
  ctx: BeforeToolCallContext,
  risks: RiskMatch[],
): Record<string, unknown> {
  const context: Record<string, unknown> = {
    source: "openclaw",
    openclawTool: event.toolName,
    params: event.params,
  };
  if (risks.length > 0) context.matched = risks.map((r) => ({ id: r.id, description: r.description }));
  const runId = event.runId ?? ctx.runId;
  const toolCallId = event.toolCallId ?? ctx.toolCallId;
  if (runId) context.runId = runId;
  if (toolCallId) context.toolCallId = toolCallId;
  if (ctx.sessionKey) context.sessionKey = ctx.sessionKey;
  if (event.derivedPaths && event.derivedPaths.length > 0) context.derivedPaths = [...event.derivedPaths];
  const size = Buffer.byteLength(stableJson(context));
  if (size > MAX_CONTEXT_BYTES) {
    const paramsJson = stableJson(event.params);
    delete context.params;
    context.paramsOmitted = `the params are ${Buffer.byteLength(paramsJson)} bytes, too large for clawgate's 32 KiB context`;
    context.paramsSha256 = createHash("sha256").update(paramsJson).digest("hex");
  }
  return context;
}

function block(reason: string): BeforeToolCallResult {
  return { block: true, blockReason: `clawgate: ${reason}` };
}

/** An action as shown in a log line or a block reason (what the person approves is never cut). */
function shown(action: string): string {
  return charCount(action) <= MAX_ACTION_CHARS ? action : `${[...action].slice(0, MAX_ACTION_CHARS).join("")}… (${charCount(action)} characters in all)`;
}

/** Builds the handler for `api.on("before_tool_call", …)`. */
export function createBeforeToolCallHandler(resolved: Resolved, deps: HookDeps = {}): BeforeToolCallHandler {
  const log = deps.logger;
  return async (event, ctx) => {
    if (!resolved.ok) {
      return block(`the plugin config is invalid (${resolved.error}), so no tool call can be checked; every call is blocked until the config is fixed`);
    }
    const settings = resolved.settings;
    const params: Record<string, unknown> = isRecord(event.params) ? event.params : {};
    const risks = findRisks(event.toolName, params, settings.patterns);
    return await gate(settings, event, ctx, params, risks, deps, log);
  };
}

/** The fields of the gate's answer the plugin copies when they are text. */
const GATE_ANSWER_TEXT: (keyof GateAnswer)[] = ["decidedBy", "decisionId", "requestId", "status", "token", "tokenExpiresAt", "reason", "rule", "grantId", "bindingCode", "approveUrl", "expiresAt", "explanation"];

function parseGateAnswer(body: unknown): GateAnswer | undefined {
  if (!isRecord(body) || typeof body.decision !== "string") return undefined;
  const out: Record<string, unknown> = { decision: body.decision };
  for (const key of GATE_ANSWER_TEXT) {
    if (typeof body[key] === "string") out[key] = body[key];
  }
  if (typeof body.ruleVersion === "number") out.ruleVersion = body.ruleVersion;
  return out as unknown as GateAnswer;
}

/** What decided, in words: `rule v3#2`, `standing grant grt_…`, `the person` … */
function decider(a: GateAnswer): string {
  switch (a.decidedBy) {
    case "rule":
      return `your rule ${a.rule ?? "(unnamed)"}${a.ruleVersion !== undefined ? ` of rule set version ${a.ruleVersion}` : ""}`;
    case "grant":
      return `standing grant ${a.grantId ?? "(unnamed)"}`;
    case "passkey":
      return `the person's passkey approval${a.requestId ? ` of ${a.requestId}` : ""}`;
    case "person":
      return `the person${a.requestId ? ` (request ${a.requestId})` : ""}`;
    case "stop":
      return `the kill switch (Stop all agents)${a.requestId ? ` (request ${a.requestId})` : ""}`;
    case undefined:
      return a.requestId ? `no one (request ${a.requestId})` : "clawgate";
    default:
      return `${a.decidedBy}${a.rule ? ` (rule ${a.rule})` : ""}`;
  }
}

async function gate(
  settings: Settings,
  event: BeforeToolCallEvent,
  ctx: BeforeToolCallContext,
  params: Record<string, unknown>,
  risks: RiskMatch[],
  deps: HookDeps,
  log: PluginLogger | undefined,
): Promise<BeforeToolCallResult | undefined> {
  const tool = event.toolName;
  const why = risks.map((r) => r.id).join(", ");
  const call = `this ${tool} call`;
  const action = describeAction(tool, params);

  // clawgate cannot decide: the local patterns block what they match; the rest blocks too,
  // unless the person opted into failing open (the plugin keeps no rules of theirs to decide by).
  const fallback = (problem: string): BeforeToolCallResult | undefined => {
    if (risks.length > 0) {
      return block(`${problem}, so clawgate could not decide on ${call}; it matches the local risk patterns (${why}), so it was blocked`);
    }
    if (settings.failOpenWhenUnreachable) {
      log?.warn(`clawgate: ${problem}, so clawgate could not decide on ${call}; it matches no local risk pattern and failOpenWhenUnreachable is set, so it runs`);
      return undefined;
    }
    return block(
      `${problem}, so clawgate could not decide on ${call}; while it cannot be reached every call is blocked ` +
        `(set failOpenWhenUnreachable to let calls no risk pattern matches run)`,
    );
  };

  if (!settings.apiKey) {
    return fallback(`the plugin has no apiKey configured (plugins.entries.clawgate.config.apiKey or CLAWGATE_API_KEY)`);
  }

  const signal = ctx.abortSignal;
  const deadline = Date.now() + settings.timeoutSeconds * 1000;
  const runId = event.runId ?? ctx.runId;
  const toolCallId = event.toolCallId ?? ctx.toolCallId;
  const agentId = settings.agentId ?? ctx.agentId;
  const headers: Record<string, string> = {
    authorization: `Bearer ${settings.apiKey}`,
    accept: "application/json",
  };
  const key = idempotencyKey(runId, toolCallId, ctx.sessionKey);
  const sent = gateCall(tool, params);
  const body: Record<string, unknown> = {
    tool: sent.tool,
    input: sent.input,
    context: buildContext(event, ctx, risks),
    expiresInSeconds: settings.expiresInSeconds,
  };
  if (sent.shell) body.shell = true;
  if (sent.cwd) body.cwd = sent.cwd;
  if (agentId) body.agentId = agentId;

  // 1. Ask the gate: the person's rules, then their standing grants, else a pending request. A 429
  // is waited out and asked again while its Retry-After fits before the deadline.
  let answer: HttpAnswer;
  for (let attempt = 1; ; attempt++) {
    try {
      answer = await exchange(
        `${settings.serverUrl}/api/v1/gate`,
        {
          method: "POST",
          headers: { ...headers, "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
          body: JSON.stringify(body),
        },
        signal,
        Math.min(CREATE_TIMEOUT_MS, Math.max(0, deadline - Date.now())),
      );
    } catch (e) {
      if (e instanceof Cancelled) return block(`${call} was cancelled before clawgate decided on it`);
      if (e instanceof TimedOut) {
        return block(`clawgate at ${settings.serverUrl} did not answer in time (timed out), so ${call} was blocked`);
      }
      return fallback(`clawgate at ${settings.serverUrl} could not be reached (${networkError(e)})`);
    }
    const pause = answer.status === 429 ? givenRetryAfterMs(answer.headers) : undefined;
    if (pause === undefined || attempt >= GATE_ATTEMPTS || Date.now() + pause >= deadline) break;
    log?.warn(`clawgate: ${serverError(answer)}; asking again in ${Math.ceil(pause / 1000)} s`);
    try {
      await sleep(pause, signal);
    } catch {
      return block(`${call} was cancelled before clawgate decided on it`);
    }
  }
  if (answer.status >= 500) return fallback(`clawgate at ${settings.serverUrl} answered ${serverError(answer)}`);
  if (answer.status !== 200) {
    return block(`clawgate at ${settings.serverUrl} refused to decide on ${call} (${serverError(answer)}), so it was blocked`);
  }
  const decided = parseGateAnswer(answer.body);
  if (!decided) return block(`clawgate at ${settings.serverUrl} sent an unreadable decision on ${call}, so it was blocked`);

  switch (decided.decision) {
    case "allow": {
      const by = decider(decided);
      const message = `clawgate: ${by} allows "${shown(action)}"${decided.tokenExpiresAt ? ` (token valid until ${decided.tokenExpiresAt})` : ""}`;
      if (decided.decidedBy === "rule") log?.debug?.(message);
      else log?.info(message);
      if (decided.token) {
        const approval: Approval = {
          requestId: decided.requestId ?? decided.decisionId ?? "",
          action,
          toolName: tool,
          token: decided.token,
        };
        if (decided.decidedBy) approval.decidedBy = decided.decidedBy;
        if (decided.decisionId) approval.decisionId = decided.decisionId;
        if (decided.bindingCode) approval.bindingCode = decided.bindingCode;
        if (toolCallId) approval.toolCallId = toolCallId;
        if (decided.tokenExpiresAt) approval.tokenExpiresAt = decided.tokenExpiresAt;
        deps.onApproved?.(approval);
      }
      return undefined;
    }
    case "deny": {
      const reason = decided.reason?.trim();
      const said = reason ? `: ${JSON.stringify(reason)}` : ", giving no reason";
      if (decided.decidedBy === "person") {
        return block(`a person denied "${shown(action)}" on clawgate (request ${decided.requestId ?? "?"})${reason ? ` with the reason${said}` : said}; the ${tool} call was not run`);
      }
      return block(`${decider(decided)} denied "${shown(action)}"${said} (decided by ${decided.decidedBy ?? "no one"}); the ${tool} call was not run`);
    }
    case "ask":
      break;
    default:
      return block(`clawgate at ${settings.serverUrl} answered an unknown decision "${decided.decision}" on ${call}, so it was blocked`);
  }

  if (typeof decided.requestId !== "string" || typeof decided.bindingCode !== "string") {
    return block(`clawgate asks a person about ${call}, but answered without a request id or binding code, so it was blocked`);
  }
  const requestId = decided.requestId;
  const bindingCode = decided.bindingCode;
  // What the person is shown as the action: the exact command for a shell call.
  const serverAction = sent.shell ? `${sent.tool}: ${sent.input.command as string}` : undefined;
  const ref = `request ${requestId}, binding code ${bindingCode}`;
  // The page the server names (its public origin), else the web app's route on the server we reach.
  const approveUrl = decided.approveUrl ?? `${settings.serverUrl}/approve/${encodeURIComponent(requestId)}`;
  log?.info(
    `clawgate: waiting up to ${settings.timeoutSeconds} s for a person to approve "${shown(action)}"${decided.reason ? ` (asked because ${decided.reason})` : ""} (${ref}; approve at ${approveUrl})`,
  );

  // 2. Wait for the decision: long-polls of up to `waitSeconds`, at most one a second.
  const statusUrl = `${settings.serverUrl}/api/v1/approval/status/${encodeURIComponent(requestId)}`;
  const timedOut = () =>
    block(`no decision on "${shown(action)}" within ${settings.timeoutSeconds} s (${ref}), so the ${tool} call was blocked; the request stays pending on clawgate until it expires, and approving it later will not run this call`);
  for (;;) {
    const remaining = deadline - Date.now();
    const wait = Math.max(0, Math.min(settings.waitSeconds, Math.floor(remaining / 1000)));
    const started = Date.now();
    let answer: HttpAnswer;
    try {
      // The long-poll and its network grace, never beyond the deadline.
      const limit = Math.max(0, Math.min(remaining, wait * 1000 + RESPONSE_GRACE_MS));
      answer = await exchange(`${statusUrl}?wait=${wait}`, { method: "GET", headers }, signal, limit);
    } catch (e) {
      if (e instanceof Cancelled) return block(`the ${tool} call was cancelled while waiting for approval (${ref})`);
      if (e instanceof TimedOut) {
        if (Date.now() >= deadline) return timedOut();
        return block(`clawgate at ${settings.serverUrl} did not answer a status request within ${Math.round((Date.now() - started) / 1000)} s (${ref}), so the ${tool} call was blocked`);
      }
      return block(`lost contact with clawgate at ${settings.serverUrl} while waiting for approval (${ref}: ${networkError(e)}), so the ${tool} call was blocked`);
    }

    if (answer.status === 429 || answer.status === 503) {
      const pause = retryAfterMs(answer.headers);
      if (Date.now() + pause >= deadline) return timedOut();
      log?.warn(`clawgate: ${serverError(answer)} while waiting (${ref}); asking again in ${Math.round(pause / 1000)} s`);
      try {
        await sleep(pause, signal);
      } catch {
        return block(`the ${tool} call was cancelled while waiting for approval (${ref})`);
      }
      continue;
    }
    if (answer.status !== 200) {
      return block(`clawgate at ${settings.serverUrl} answered ${serverError(answer)} while waiting for approval (${ref}), so the ${tool} call was blocked`);
    }
    const status = parseStatus(answer.body);
    if (!status || status.requestId !== requestId) {
      return block(`clawgate at ${settings.serverUrl} sent an unreadable status for ${ref}, so the ${tool} call was blocked`);
    }
    if (serverAction !== undefined && status.action !== undefined && status.action !== serverAction) {
      return block(`clawgate's status for ${ref} is about another action, so the ${tool} call was blocked`);
    }

    switch (status.status) {
      case "APPROVED": {
        if (typeof status.token !== "string" || status.token === "") {
          return block(`clawgate said ${requestId} is APPROVED but sent no approval token, so the ${tool} call was blocked`);
        }
        log?.info(
          `clawgate: ${requestId} approved${status.decidedAt ? ` at ${status.decidedAt}` : ""}; running "${shown(action)}"${status.tokenExpiresAt ? ` (approval token valid until ${status.tokenExpiresAt})` : ""}`,
        );
        const approval: Approval = { requestId, bindingCode, action, toolName: tool, token: status.token, decidedBy: "passkey" };
        if (toolCallId) approval.toolCallId = toolCallId;
        if (status.tokenExpiresAt) approval.tokenExpiresAt = status.tokenExpiresAt;
        if (status.decidedAt) approval.decidedAt = status.decidedAt;
        deps.onApproved?.(approval);
        return undefined;
      }
      case "DENIED": {
        if (status.decidedBy === "stop") {
          return block(`"${shown(action)}" was not run: ${STOPPED} (${ref}); every agent of theirs is stopped until they resume its key`);
        }
        const reason = typeof status.denyReason === "string" && status.denyReason.trim() !== "" ? status.denyReason : undefined;
        return block(
          `a person denied "${shown(action)}" on clawgate (${ref}${status.decidedAt ? `, at ${status.decidedAt}` : ""})${reason ? ` with the reason: ${JSON.stringify(reason)}` : ", giving no reason"}; the ${tool} call was not run`,
        );
      }
      case "EXPIRED":
        return block(`nobody decided on "${shown(action)}" before the request expired${status.expiresAt ? ` at ${status.expiresAt}` : ""} (${ref}); the ${tool} call was not run`);
      case "PENDING":
        break;
      default:
        return block(`clawgate sent an unknown status "${status.status}" for ${ref}, so the ${tool} call was blocked`);
    }

    if (Date.now() >= deadline) return timedOut();
    // A server that ignores `wait` answers at once: keep to one request a second.
    const pause = Math.min(MIN_POLL_INTERVAL_MS - (Date.now() - started), deadline - Date.now());
    if (pause > 0) {
      try {
        await sleep(pause, signal);
      } catch {
        return block(`the ${tool} call was cancelled while waiting for approval (${ref})`);
      }
    }
  }
}
