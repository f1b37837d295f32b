// Generated from clawgate's OpenAPI document (`/api/v1/openapi.json`) by the test
// crates/clawgate/tests/api/contract/typescript.rs; do not edit by hand.
// CLAWGATE_UPDATE_SNAPSHOTS=1 cargo test --test api -- typescript writes it anew.

/**
 * The claims of an approval or gate token.
 */
export interface ApprovalClaims {
  /**
   * The action exactly as the agent sent it.
   */
  action: string;
  /**
   * SHA-256 (hex) of the canonical `{action, agentId, context, requestId}`.
   */
  actionHash: string;
  agentId?: string | null;
  /**
   * `clawgate:approval` (a person approved) or `clawgate:gate` (a rule or grant allowed it).
   */
  aud: string;
  /**
   * The WebAuthn challenge the person's passkey signed (base64url), derived from the approved
   * content: the assertion in the approval's receipt is over exactly this. Only on approval
   * tokens (absent on those of a ceremony an older build started).
   */
  challenge?: string | null;
  /**
   * The passkey credential (base64url) that approved: only when `decidedBy` is `passkey`.
   */
  credentialId?: string | null;
  /**
   * What approved: `passkey` (the person, just now: an approval token), `rule` (one of their
   * rules) or `grant` (a standing grant they made with a passkey): a gate token. Required: a
   * token without it is malformed.
   */
  decidedBy: DecidedBy;
  exp: number;
  iat: number;
  /**
   * The server that issued it (its public origin).
   */
  iss: string;
  /**
   * Unique token id; `consume` uses it to allow one verification ever.
   */
  jti: string;
  /**
   * The hash (hex) of the approval's receipt in the person's chain
   * (`clawgate verify --receipt`). Only with `challenge`.
   */
  receipt?: string | null;
  requestId: string;
  /**
   * The person who approved, or whose rule or grant allowed it (user id).
   */
  sub: string;
  /**
   * `approval` or `gate`, as the audience.
   */
  typ: string;
  /**
   * The authenticator verified the person (PIN or biometrics): true for every passkey
   * approval, false when a rule or grant decided.
   */
  userVerified: boolean;
}

/**
 * The answer to a new request.
 */
export interface ApprovalCreated {
  /**
   * Show this too: the request's page in the web app, where the person compares the binding
   * code and decides (the server's public origin + `/approve/{requestId}`). Always sent by
   * this server; absent from servers older than it.
   */
  approveUrl?: string | null;
  /**
   * Show this to your user: the approval page shows the same code.
   */
  bindingCode: string;
  expiresAt: string;
  requestId: string;
  status: Status;
}

/**
 * What decided a token's action.
 */
export type DecidedBy = "passkey" | "rule" | "grant";

/**
 * What decided a request or a call.
 */
export type Decider = "passkey" | "person" | "rule" | "grant" | "stop";

export interface ErrorBody {
  error: ErrorDetail;
}

export interface ErrorDetail {
  /**
   * Stable, machine-readable: `invalid_request`, `unauthorized`, `not_found`, `rate_limited`, …
   */
  code: string;
  /**
   * What went wrong, in words.
   */
  message: string;
}

/**
 * The gate's decision.
 */
export interface GateAnswer {
  /**
   * While asking: the request's page in the web app, where the person compares the binding code
   * and decides (the server's public origin + `/approve/{requestId}`).
   */
  approveUrl?: string | null;
  /**
   * While asking: the code the approval page shows, to show your user.
   */
  bindingCode?: string | null;
  decidedBy?: Decider | null;
  /**
   * What to do now: `allow` (run the call), `deny` (do not), or `ask` (a person is asked:
   * wait on `/api/v1/approval/status/{requestId}?wait=60`).
   */
  decision: Outcome;
  /**
   * A decision made by a rule or grant alone (`dec_…`; the token's `requestId` names it).
   */
  decisionId?: string | null;
  /**
   * While asking: when the request lapses.
   */
  expiresAt?: string | null;
  /**
   * What the rules made of the call, in words.
   */
  explanation: string;
  /**
   * When a standing grant allowed it.
   */
  grantId?: string | null;
  /**
   * Why it was denied, or why it asks. A person's reason for a denial comes as the status
   * API's `denyReason` does (marked, at most 1000 characters); a stop says `stopped by the
   * person (Stop all agents)`.
   */
  reason?: string | null;
  /**
   * When a person was asked: the request (read it at `/api/v1/approval/status/{requestId}`).
   */
  requestId?: string | null;
  /**
   * When a rule decided: which (`v3#2` is rule 2 of version 3; `v3#default` the default).
   */
  rule?: string | null;
  /**
   * The version of the rule set that decided (0: the built-in defaults).
   */
  ruleVersion: number;
  status?: Status | null;
  /**
   * When allowed: a signed token for the call. A person's approval (`decidedBy: passkey`) gives
   * an approval token; a rule or grant gives a gate token (audience `clawgate:gate`), which
   * verifiers refuse unless they accept `rule` or `grant`.
   */
  token?: string | null;
  tokenExpiresAt?: string | null;
}

/**
 * A tool call, as the agent is about to make it. Unknown fields are ignored.
 */
export interface GateRequest {
  /**
   * Which agent makes the call (at most 128 characters).
   */
  agentId?: string | null;
  /**
   * Anything else worth showing the person if the call asks, as a JSON object (at most 32 KiB).
   */
  context?: Record<string, unknown> | null;
  /**
   * The absolute working directory the call runs in.
   */
  cwd?: string | null;
  /**
   * If the call asks: how long the request may wait for the person (default 300, 30–600 s).
   */
  expiresInSeconds?: number | null;
  /**
   * The tool's input exactly as it will run, e.g. `{"command": "cargo test"}` (at most 256 KiB).
   */
  input: Record<string, unknown>;
  /**
   * The tool runs `input.command` in a shell (OpenClaw's `exec`, say): it is decided as a
   * `Bash` call, so rules for Bash apply, and shown by its own name. `Bash` always is.
   */
  shell?: boolean;
  /**
   * The tool's name, e.g. `Bash`, `Write`, `WebFetch` (at most 128 characters).
   */
  tool: string;
}

/**
 * Why a token did not verify; the names are part of the API.
 */
export type InvalidReason = "malformed" | "wrong_type" | "unknown_key" | "bad_signature" | "expired" | "already_used" | "action_mismatch" | "not_person_approved";

/**
 * What happens to a call, ordered by severity: `Allow < Ask < Deny`.
 */
export type Outcome = "allow" | "ask" | "deny";

export type Status = "PENDING" | "APPROVED" | "DENIED" | "EXPIRED";

/**
 * A request as the agent that made it sees it; `token` once approved.
 */
export interface StatusView {
  action: string;
  agentId?: string | null;
  /**
   * While PENDING: the approval page of this request in the web app, where the person compares
   * the binding code and decides (the server's public origin + `/approve/{requestId}`).
   */
  approveUrl?: string | null;
  /**
   * While PENDING: the code the approval page shows, to show your user.
   */
  bindingCode?: string | null;
  decidedAt?: string | null;
  decidedBy?: Decider | null;
  /**
   * When DENIED: what the person said. Their reason, with invisible and control characters
   * shown as `[U+XXXX]` and at most 1000 characters (longer ends in `…`); or, when `decidedBy`
   * is `stop`, `stopped by the person (Stop all agents)`. Absent when they gave no reason.
   */
  denyReason?: string | null;
  expiresAt: string;
  requestId: string;
  status: Status;
  /**
   * The approval token, only when APPROVED.
   */
  token?: string | null;
  tokenExpiresAt?: string | null;
}

/**
 * The answer of `verify-token`: `valid` says whether it holds, `reason` why not.
 */
export interface Verification {
  claims?: ApprovalClaims | null;
  reason?: InvalidReason | null;
  valid: boolean;
}
