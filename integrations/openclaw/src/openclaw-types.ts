// The OpenClaw plugin SDK types this plugin is written against, taken from the real `openclaw`
// package (a devDependency; only types are imported, nothing of it is loaded at run time).
import type { OpenClawPluginApi } from "openclaw/plugin-sdk/plugin-entry";

export type { OpenClawPluginApi, OpenClawPluginDefinition, PluginLogger } from "openclaw/plugin-sdk/plugin-entry";

// The SDK exports `api.on` but not the per-hook event and result types by name: read them off
// the `before_tool_call` instantiation of `api.on`, so they follow the installed version exactly.
declare const api: OpenClawPluginApi;
type OnBeforeToolCall = typeof api.on<"before_tool_call">;

/** `(event, ctx) => result` as `api.on("before_tool_call", …)` accepts it. */
export type BeforeToolCallHandler = Parameters<OnBeforeToolCall>[1];
export type BeforeToolCallEvent = Parameters<BeforeToolCallHandler>[0];
export type BeforeToolCallContext = Parameters<BeforeToolCallHandler>[1];
export type BeforeToolCallResult = Exclude<Awaited<ReturnType<BeforeToolCallHandler>>, void | undefined>;
export type BeforeToolCallOptions = NonNullable<Parameters<OnBeforeToolCall>[2]>;
