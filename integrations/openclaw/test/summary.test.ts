// The action a person approves: one line, the exact command, never cut short.

import assert from "node:assert/strict";
import { test } from "node:test";
import { charCount, describeAction, MAX_ACTION_CHARS, oneLine, stableJson } from "../src/summary.js";

test("a command tool shows its command as is", () => {
  assert.equal(describeAction("exec", { command: "rm -rf ./old-data" }), "exec: rm -rf ./old-data");
});

test("the other params follow, sorted, as JSON", () => {
  assert.equal(
    describeAction("exec", { command: "rm -rf ./old-data", workdir: "/srv/app", background: false }),
    'exec: rm -rf ./old-data (with background=false, workdir="/srv/app")',
  );
});

test("a long command is never shortened", () => {
  const tail = " && rm -rf / # the destructive tail";
  const command = `echo ${"a".repeat(3900)}${tail}`;
  const action = describeAction("exec", { command });
  assert.equal(action, `exec: ${command}`);
  assert.ok(action.endsWith(tail));
  assert.ok(!action.includes("…") && !action.includes("..."));
});

test("a multi-line command stays on one line, every character kept (as a JSON string)", () => {
  const command = "cd /srv\nrm -rf data\t# really";
  const action = describeAction("exec", { command });
  assert.ok(!action.includes("\n"));
  assert.equal(action, `exec: ${JSON.stringify(command)}`);
  assert.equal(JSON.parse(action.slice("exec: ".length)), command, "the exact command can be read back");
});

test("argv lists are joined, quoting arguments with spaces", () => {
  assert.equal(describeAction("shell", { command: ["bash", "-lc", "rm -rf build"] }), 'shell: bash -lc "rm -rf build"');
});

test("tools without a command show every param", () => {
  assert.equal(describeAction("delete_file", { path: "/tmp/x", recursive: true }), 'delete_file {"path":"/tmp/x","recursive":true}');
  assert.equal(describeAction("delete_file", { b: { z: 1, a: [2, "x"] }, a: 1 }), 'delete_file {"a":1,"b":{"a":[2,"x"],"z":1}}');
  assert.equal(describeAction("reboot", {}), "reboot (no params)");
});

test("helpers", () => {
  assert.equal(oneLine("plain text"), "plain text");
  assert.equal(oneLine("a\u2028b"), '"a\u2028b"');
  assert.equal(stableJson({ b: 1, a: { d: 2, c: 3 } }), '{"a":{"c":3,"d":2},"b":1}');
  assert.equal(charCount("a😀b"), 3, "code points, as clawgate counts");
  assert.equal(MAX_ACTION_CHARS, 4000);
});
