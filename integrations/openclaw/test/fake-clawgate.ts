// A tiny stand-in for the clawgate API on a loopback port (node:http): the gate
// (`POST /api/v1/gate`) and the status long-poll (`GET /api/v1/approval/status/:id`); it records
// every request and answers with whatever the test scripts, including held (long-poll) answers.
// Any other route is a 404.

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
// The fake answers as the real server does: its answers are typed by the generated wire types.
import type { ErrorBody, GateAnswer, StatusView } from "../src/wire.js";

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
  at: number;
}

export interface Reply {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
  /** Hold the answer this long (a long-poll that waits). */
  delayMs?: number;
}

export type Script = (req: Seen, index: number) => Reply | Promise<Reply>;

export const REQUEST_ID = "req_0123456789abcdefghij";
export const BINDING_CODE = "482-913";
export const TOKEN = "eyJhbGciOiJFZERTQSJ9.test.token";

export const DECISION_ID = "dec_0123456789abcdefghij";

/** The gate's answer when it asks a person: a pending request. */
export function asked(extra: Partial<GateAnswer> = {}): Reply {
  const json: GateAnswer = {
      decision: "ask",
      requestId: REQUEST_ID,
      status: "PENDING",
      expiresAt: "2030-01-01T00:05:00Z",
      bindingCode: BINDING_CODE,
      reason: "`rm -rf ./old-data` is asked about by rule rm -r/-f",
      ruleVersion: 0,
      explanation: "rm -rf ./old-data: ask (rule rm -r/-f)",
      ...extra,
  };
  return { status: 200, json };
}

/** The gate's answer when a rule (or a grant) allows the call. */
export function allowed(extra: Partial<GateAnswer> = {}): Reply {
  const json: GateAnswer = {
      decision: "allow",
      decidedBy: "rule",
      decisionId: DECISION_ID,
      token: TOKEN,
      tokenExpiresAt: "2030-01-01T00:02:00Z",
      ruleVersion: 0,
      rule: "v0#default",
      explanation: "allowed by default",
      ...extra,
  };
  return { status: 200, json };
}

/** The gate's answer when a rule denies the call. */
export function denied(extra: Partial<GateAnswer> = {}): Reply {
  const json: GateAnswer = {
      decision: "deny",
      decidedBy: "rule",
      decisionId: DECISION_ID,
      reason: "downloads are not allowed here",
      ruleVersion: 3,
      rule: "v3#1",
      explanation: "denied by rule no downloads",
      ...extra,
  };
  return { status: 200, json };
}

/** A status answer for `REQUEST_ID`. */
export function status(state: StatusView["status"] | string, action: string, extra: Partial<StatusView> = {}): Reply {
  // `state` may be one no server sends, to see the plugin refuse it.
  const json: Record<string, unknown> = { requestId: REQUEST_ID, status: state, action, agentId: "bot", expiresAt: "2030-01-01T00:05:00Z", ...extra };
  if (state === "APPROVED") {
    json.token ??= TOKEN;
    json.tokenExpiresAt ??= "2030-01-01T00:02:00Z";
    json.decidedAt ??= "2030-01-01T00:00:10Z";
  }
  if (state === "DENIED") json.decidedAt ??= "2030-01-01T00:00:10Z";
  return { status: 200, json };
}

/** `reply` with `fields` changed to what no server sends, to see the plugin refuse it. */
export function offContract(reply: Reply, fields: Record<string, unknown>): Reply {
  return { ...reply, json: { ...(reply.json as Record<string, unknown>), ...fields } };
}

export function error(statusCode: number, code: string, message: string): Reply {
  const json: ErrorBody = { error: { code, message } };
  return { status: statusCode, json };
}

export class FakeClawgate {
  readonly seen: Seen[] = [];
  private server: Server;
  private statusCount = 0;
  url = "";

  /** `onGate` answers POST /gate; `onStatus` answers GET /approval/status/:id. */
  constructor(
    private onGate: Script,
    private onStatus: Script,
  ) {
    this.server = createServer((req, res) => {
      let raw = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (raw += chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://localhost");
        let body: unknown = undefined;
        try {
          body = raw === "" ? undefined : JSON.parse(raw);
        } catch {
          body = raw;
        }
        const seen: Seen = { method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers, body, at: Date.now() };
        this.seen.push(seen);
        let script: Script;
        let index = 0;
        if (req.method === "POST" && url.pathname === "/api/v1/gate") {
          script = this.onGate;
          index = this.gates().length - 1;
        } else if (req.method === "GET" && url.pathname.startsWith("/api/v1/approval/status/")) {
          script = this.onStatus;
          index = this.statusCount++;
        } else {
          script = () => error(404, "not_found", "no such route");
        }
        void Promise.resolve(script(seen, index)).then((reply) => {
          const send = () => {
            if (res.destroyed) return;
            res.writeHead(reply.status, { "content-type": "application/json", ...(reply.headers ?? {}) });
            res.end(reply.json === undefined ? "" : JSON.stringify(reply.json));
          };
          if (reply.delayMs) {
            const timer = setTimeout(send, reply.delayMs);
            res.on("close", () => clearTimeout(timer));
          } else {
            send();
          }
        });
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The calls brought to the gate. */
  gates(): Seen[] {
    return this.seen.filter((s) => s.method === "POST" && s.path === "/api/v1/gate");
  }

  statuses(): Seen[] {
    return this.seen.filter((s) => s.method === "GET");
  }
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
