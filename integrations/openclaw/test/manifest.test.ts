// openclaw.plugin.json, package.json and the README agree with the code; and the OpenClaw types
// the hook is checked against are real types, not `any`.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { Compile } from "typebox/schema";
import { CONFIG_KEYS, DEFAULT_EXPIRES_IN_SECONDS, DEFAULT_SERVER_URL, DEFAULT_WAIT_SECONDS, MAX_TIMEOUT_SECONDS, resolveSettings } from "../src/config.js";
import plugin from "../src/index.js";
import type { BeforeToolCallContext, BeforeToolCallEvent, BeforeToolCallHandler, BeforeToolCallResult } from "../src/openclaw-types.js";
import { DEFAULT_PATTERNS } from "../src/patterns.js";

// Compile-time checks: if the SDK import stopped resolving, these types would be `any`.
type IsAny<T> = 0 extends 1 & T ? true : false;
const typesAreReal: [IsAny<BeforeToolCallEvent>, IsAny<BeforeToolCallContext>, IsAny<BeforeToolCallResult>, IsAny<BeforeToolCallHandler>] = [false, false, false, false];

// The package root (the tests run from dist-test/test/).
const root = new URL("../../", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, root), "utf8");

interface JsonSchema {
  properties: Record<string, { default?: unknown; maximum?: number; items?: unknown }>;
  additionalProperties: boolean;
}
const manifest = JSON.parse(read("openclaw.plugin.json")) as { id: string; configSchema: JsonSchema; activation: { onStartup: boolean }; uiHints: Record<string, unknown> };
const validator = Compile(manifest.configSchema as never);

test("the types are the SDK's", () => {
  assert.deepEqual(typesAreReal, [false, false, false, false]);
});

test("the manifest names the plugin and describes every setting", () => {
  assert.equal(manifest.id, plugin.id);
  assert.equal(manifest.activation.onStartup, true, "hooks must be registered when the Gateway starts");
  assert.equal(manifest.configSchema.additionalProperties, false);
  assert.deepEqual(Object.keys(manifest.configSchema.properties).sort(), [...CONFIG_KEYS].sort());
  assert.deepEqual(Object.keys(manifest.uiHints).sort(), [...CONFIG_KEYS].sort());
  const p = manifest.configSchema.properties;
  assert.equal(p.serverUrl?.default, DEFAULT_SERVER_URL);
  assert.equal(p.expiresInSeconds?.default, DEFAULT_EXPIRES_IN_SECONDS);
  assert.equal(p.waitSeconds?.default, DEFAULT_WAIT_SECONDS);
  assert.equal(p.timeoutSeconds?.maximum, MAX_TIMEOUT_SECONDS);
  assert.equal(p.timeoutSeconds?.default, undefined, "no schema default: it follows expiresInSeconds");
});

test("the schema accepts what the plugin accepts, and refuses what it refuses", () => {
  const good = [{}, { apiKey: "ag_x", serverUrl: "https://gate.example", timeoutSeconds: 585, waitSeconds: 60 }, { patterns: [{ id: "a", tools: ["x"] }], disabledPatterns: ["rm"] }];
  for (const config of good) {
    assert.equal(validator.Check(config), true, JSON.stringify(config));
    assert.equal(resolveSettings(config).ok, true, JSON.stringify(config));
  }
  const bad = [{ apikey: "ag_x" }, { timeoutSeconds: 0 }, { timeoutSeconds: 586 }, { waitSeconds: 61 }, { expiresInSeconds: 29 }, { patterns: [{ match: "rm" }] }, { extraPatterns: [{ id: "x", match: "a", flags: "g" }] }];
  for (const config of bad) {
    assert.equal(validator.Check(config), false, `schema refuses ${JSON.stringify(config)}`);
    assert.equal(resolveSettings(config).ok, false, `plugin refuses ${JSON.stringify(config)}`);
  }
});

test("package.json points OpenClaw at the built entry", () => {
  const pkg = JSON.parse(read("package.json")) as { type: string; openclaw: { extensions: string[]; runtimeExtensions: string[] }; dependencies?: object };
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.openclaw.runtimeExtensions, ["./dist/index.js"]);
  assert.equal(pkg.openclaw.extensions.length, pkg.openclaw.runtimeExtensions.length);
  assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
});

test("the README's config example is valid, and it lists every built-in pattern", () => {
  const readme = read("README.md");
  const block = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b?.includes('"plugins"'));
  assert.ok(block, "a JSON config example");
  const entry = (JSON.parse(block) as { plugins: { entries: { clawgate: { config: unknown; hooks: { timeouts: { before_tool_call: number } } } } } }).plugins.entries.clawgate;
  assert.equal(validator.Check(entry.config), true);
  const resolved = resolveSettings(entry.config);
  assert.ok(resolved.ok, resolved.ok ? "" : resolved.error);
  assert.ok(entry.hooks.timeouts.before_tool_call >= (resolved.settings.timeoutSeconds + 15) * 1000, "the example's hook budget is enough");
  assert.ok(entry.hooks.timeouts.before_tool_call <= 600_000);
  assert.match(readme, /plugins\.entries\.clawgate\.hooks\.timeouts\.before_tool_call/);
  for (const p of DEFAULT_PATTERNS) assert.ok(readme.includes(`| \`${p.id}\` |`), `README lists ${p.id}`);
});

test("npm pack holds the built entry and the manifest, under the name the README installs", () => {
  const pkg = JSON.parse(read("package.json")) as { openclaw: { runtimeExtensions: string[] }; scripts: Record<string, string> };
  assert.match(pkg.scripts.prepack ?? "", /npm run build/, "npm pack builds dist/ first");
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: fileURLToPath(root), encoding: "utf8" }),
  ) as { filename: string; files: { path: string }[] }[];
  const [tarball] = packed;
  assert.ok(tarball);
  const files = tarball.files.map((f) => f.path);
  for (const entry of pkg.openclaw.runtimeExtensions) assert.ok(files.includes(entry.replace(/^\.\//, "")), `the tarball holds ${entry}`);
  for (const needed of ["openclaw.plugin.json", "package.json", "README.md"]) assert.ok(files.includes(needed), needed);
  const readme = read("README.md");
  assert.ok(readme.includes(`npm-pack:/tmp/${tarball.filename}`), `the README installs ${tarball.filename}`);
  // A bare name installs from npm, where "clawgate" is not this plugin.
  for (const line of readme.split("\n").filter((l) => /^\s*openclaw plugins install /.test(l))) {
    assert.match(line, /install (--link \.\/integrations\/openclaw|npm-pack:)/, `installs from this repository: ${line}`);
  }
});
