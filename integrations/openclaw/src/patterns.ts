// Which tool calls are risky: patterns matched against the tool's name and the strings in its
// params. A pattern is plain data (it comes from the plugin config as JSON), compiled once.

/** A risk pattern as written in the plugin config. */
export interface PatternSpec {
  /** Stable name, shown to the approver and usable in `disabledPatterns`. */
  id: string;
  /** What it catches, in words. */
  description?: string;
  /**
   * JavaScript regular expression tested against each string value in the params (see
   * `params`). Without it, every call of one of `tools` is risky.
   */
  match?: string;
  /** Regular expression flags among `i`, `m`, `s`, `u`; default `i`. */
  flags?: string;
  /** Tool names this pattern applies to (case-insensitive; `*` is a wildcard). Default: every tool. */
  tools?: string[];
  /**
   * Param keys whose string values are tested, at any depth (case-insensitive); arrays of
   * strings under them are also tested joined with spaces (argv form). Default: every string.
   */
  params?: string[];
}

export interface CompiledPattern {
  id: string;
  description: string;
  regex?: RegExp;
  tools?: RegExp[];
  params?: Set<string>;
}

/** A pattern that matched, and the text it matched in. */
export interface RiskMatch {
  id: string;
  description: string;
  /** The param value the pattern matched (`undefined` for tool-name-only patterns). */
  subject?: string;
}

/** Param keys that hold a command line in shell-like tools (OpenClaw `exec` uses `command`). */
export const COMMAND_PARAMS = ["command", "cmd", "commands", "script", "commandLine", "command_line", "args", "argv"];
const SQL_PARAMS = [...COMMAND_PARAMS, "sql", "query", "queries", "statement", "statements"];

// A command word is recognised only where a shell would run it: at the start, after a command
// separator (; & | && || ( { ` $( newline), after `-exec` (find), or inside `sh -c "…"` and the
// like; then after wrappers (sudo, env, xargs, nohup, timeout …) and VAR=value assignments, with
// an optional directory (/bin/rm) and .exe. So `echo rm` and `git commit -m "rm it"` are harmless.
const SEP = String.raw`(?:^|[;&|({\n\r\x60]|\$\(|\s-(?:exec|execdir|ok)\s|(?<![^\s;&|({\x60])(?:[^\s;&|"'\x60]*[/\\])?(?:sh|bash|zsh|dash|ksh|fish|pwsh|powershell|cmd)(?:\.exe)?(?:\s+[-/][^\s;&|]*)*\s+["']?)`;
const WRAPPERS = String.raw`(?:(?:(?:sudo|doas|env|command|builtin|exec|nohup|xargs|time|nice|ionice|timeout|stdbuf|then|do|else|!)(?:\s+(?:-[^\s;&|]*|\d[^\s;&|]*))*|\w+=[^\s;&|]*)\s+)*`;
const END = String.raw`(?=$|[\s;&|)<>"'\x60])`;
/** Further words of the same command (no separator crossed). */
const ARGS = String.raw`(?:\s+[^\s;&|]+)*?`;

/** A regex source matching the command `names` (an alternation) where a shell would run it. */
function cmd(names: string): string {
  return `${SEP}\\s*${WRAPPERS}(?:[^\\s;&|"'\`]*[/\\\\])?(?:${names})(?:\\.exe|\\.com)?${END}`;
}

function command(id: string, description: string, match: string): PatternSpec {
  return { id, description, match, params: COMMAND_PARAMS };
}

/** The patterns used unless the config replaces them (`patterns`). */
export const DEFAULT_PATTERNS: readonly PatternSpec[] = Object.freeze([
  // File deletion.
  command("rm", "deletes files (rm, including rm -rf)", cmd("rm")),
  command("rmdir", "deletes directories (rmdir, rd)", cmd("rmdir|rd")),
  command("del", "deletes files on Windows (del, erase)", cmd("del|erase")),
  command("remove-item", "deletes files with PowerShell (Remove-Item)", cmd("Remove-Item")),
  command("unlink", "deletes a file (unlink)", cmd("unlink")),
  command("shred", "destroys file contents (shred)", cmd("shred")),
  command("find-delete", "deletes the files find matches (find -delete)", `${cmd("find")}[^;&|\\n]*\\s-delete${END}`),
  {
    id: "delete-tool",
    description: "a tool that deletes files",
    tools: ["rm", "delete", "remove", "unlink", "*delete_file*", "*delete_dir*", "*delete_path*", "*remove_file*", "*remove_dir*", "*rmdir*", "*trash*"],
  },
  {
    id: "apply-patch-delete",
    description: "a patch that deletes a file",
    tools: ["apply_patch"],
    params: ["input", "patch"],
    match: String.raw`(?:^|\n)\*\*\* Delete File:`,
  },
  // Disks and partitions.
  command("dd", "raw disk copy (dd)", cmd("dd")),
  command("mkfs", "creates a file system, erasing the device (mkfs, mke2fs, mkswap)", cmd(String.raw`mkfs(?:\.\w+)?|mke2fs|mkswap`)),
  command("fdisk", "edits partition tables (fdisk, sfdisk, cfdisk, gdisk, sgdisk)", cmd("fdisk|sfdisk|cfdisk|gdisk|sgdisk")),
  command("parted", "edits partitions (parted)", cmd("parted")),
  command("wipefs", "erases file system signatures (wipefs)", cmd("wipefs")),
  command("diskpart", "edits disks on Windows (diskpart)", cmd("diskpart")),
  command("format", "formats a disk (format, Format-Volume, Clear-Disk)", cmd("format|Format-Volume|Clear-Disk|Initialize-Disk")),
  command("diskutil-erase", "erases or repartitions a disk on macOS (diskutil)", `${cmd("diskutil")}${ARGS}\\s+(?:erase\\w*|partitionDisk|zeroDisk|randomDisk|secureErase)${END}`),
  command("disk-device-write", "writes straight to a disk device", String.raw`>\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk)\w*`),
  // Publishing.
  command("npm-publish", "publishes a package (npm, pnpm, yarn, bun publish or unpublish)", `${cmd("npm|pnpm|yarn|bun")}${ARGS}\\s+(?:un)?publish${END}`),
  command("cargo-publish", "publishes a crate (cargo publish)", `${cmd("cargo")}${ARGS}\\s+publish${END}`),
  command(
    "package-publish",
    "publishes a package (twine upload, poetry/uv publish, gem push, dotnet nuget push)",
    `${cmd("twine")}${ARGS}\\s+upload${END}|${cmd("poetry|uv")}${ARGS}\\s+publish${END}|${cmd("gem")}${ARGS}\\s+push${END}|${cmd("dotnet")}${ARGS}\\s+nuget\\s+push${END}`,
  ),
  // Git history rewrites and losses.
  command(
    "git-force-push",
    "overwrites remote history (git push --force, -f, --force-with-lease, +refspec)",
    `${cmd("git")}${ARGS}\\s+push${ARGS}\\s+(?:--force(?:-with-lease|-if-includes)?(?:=[^\\s;&|]*)?|-[a-z]*f[a-z]*|\\+[^\\s;&|]+)${END}`,
  ),
  command("git-push-delete", "deletes a remote branch or tag (git push --delete, :ref)", `${cmd("git")}${ARGS}\\s+push${ARGS}\\s+(?:--delete|-d|:[^\\s;&|]+)${END}`),
  command("git-reset-hard", "discards uncommitted work (git reset --hard)", `${cmd("git")}${ARGS}\\s+reset${ARGS}\\s+--hard${END}`),
  command("git-clean", "deletes untracked files (git clean -f)", `${cmd("git")}${ARGS}\\s+clean${ARGS}\\s+(?:-[a-z]*f[a-z]*|--force)${END}`),
  // SQL.
  {
    id: "sql-drop",
    description: "drops a database object (SQL DROP)",
    match: String.raw`\bDROP\s+(?:TABLE|DATABASE|SCHEMA|VIEW|MATERIALIZED\s+VIEW|INDEX|USER|ROLE|COLUMN|COLLECTION|KEYSPACE|PROCEDURE|FUNCTION|TRIGGER|SEQUENCE|TYPE|EXTENSION)\b`,
    params: SQL_PARAMS,
  },
  { id: "sql-truncate", description: "empties a table (SQL TRUNCATE)", match: String.raw`\bTRUNCATE\s+(?:TABLE\s+)?[\w."\x60\[]`, params: SQL_PARAMS },
  {
    id: "sql-delete-all",
    description: "deletes every row of a table (SQL DELETE FROM without WHERE)",
    match: String.raw`\bDELETE\s+FROM\s+[\w."\x60\[\]]+\s*(?:;|$|["')])`,
    params: SQL_PARAMS,
  },
  // Other destructive or trust-widening commands.
  command(
    "chmod-777-recursive",
    "makes a tree writable by everyone (chmod -R 777)",
    `${cmd("chmod")}(?=[^;&|\\n]*\\s(?:-[a-z]*R[a-z]*|--recursive)(?=\\s))[^;&|\\n]*\\s(?:0?777|[augo]*\\+rwx)(?=\\s|$)`,
  ),
  command(
    "curl-pipe-shell",
    "runs a script straight from the network (curl … | sh)",
    String.raw`\b(?:curl|wget|iwr|irm|Invoke-WebRequest|Invoke-RestMethod)\b[^;&|\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:(?:ba|z|da|k|fi)?sh|python[\d.]*|perl|ruby|node|iex|Invoke-Expression)\b` +
      String.raw`|\b(?:ba|z|da|k)?sh\s+(?:-\w+\s+)*["']?(?:\$\(|<\()\s*(?:curl|wget)\b`,
  ),
  command("kubectl-delete", "deletes Kubernetes resources (kubectl delete)", `${cmd("kubectl|oc")}${ARGS}\\s+delete${END}`),
  command("helm-uninstall", "removes a Helm release (helm uninstall)", `${cmd("helm")}${ARGS}\\s+(?:uninstall|delete|del)${END}`),
  command(
    "terraform-destroy",
    "destroys infrastructure (terraform/tofu/pulumi/cdk destroy, apply -destroy)",
    `${cmd("terraform|tofu|terragrunt|pulumi|cdk")}${ARGS}\\s+(?:destroy${END}|apply[^;&|\\n]*\\s-destroy${END})`,
  ),
  command(
    "cloud-delete",
    "deletes cloud resources (aws/gcloud/az … delete, aws s3 rm/rb, terminate-instances)",
    `${cmd("aws|gcloud|az|doctl")}${ARGS}\\s+(?:delete(?:-[\\w-]+)?|rm|rb|terminate-instances)${END}`,
  ),
  command("power", "shuts down or restarts the machine", `${cmd("shutdown|reboot|halt|poweroff")}|${cmd("systemctl")}\\s+(?:poweroff|reboot|halt)${END}`),
]);

const ALLOWED_FLAGS = /^[imsu]*$/;

/** A config error in words; thrown by `compilePatterns`. */
export class PatternError extends Error {}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "i");
}

/** Checks and compiles patterns; throws `PatternError` naming the bad one. */
export function compilePatterns(specs: readonly unknown[]): CompiledPattern[] {
  const seen = new Set<string>();
  return specs.map((raw, index) => {
    const where = `pattern #${index + 1}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new PatternError(`${where} must be an object with an "id"`);
    }
    const spec = raw as Record<string, unknown>;
    const id = spec.id;
    if (typeof id !== "string" || id.trim() === "") throw new PatternError(`${where} needs a non-empty "id"`);
    const name = `pattern "${id}"`;
    if (seen.has(id)) throw new PatternError(`${name} is defined twice`);
    seen.add(id);
    for (const key of Object.keys(spec)) {
      if (!["id", "description", "match", "flags", "tools", "params"].includes(key)) {
        throw new PatternError(`${name} has an unknown field "${key}"`);
      }
    }
    const { match, flags, tools, params, description } = spec;
    if (description !== undefined && typeof description !== "string") throw new PatternError(`${name}: "description" must be a string`);
    if (match !== undefined && (typeof match !== "string" || match === "")) throw new PatternError(`${name}: "match" must be a non-empty string`);
    if (flags !== undefined && (typeof flags !== "string" || !ALLOWED_FLAGS.test(flags))) {
      throw new PatternError(`${name}: "flags" may only contain i, m, s and u`);
    }
    const list = (value: unknown, field: string): string[] | undefined => {
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v !== "")) {
        throw new PatternError(`${name}: "${field}" must be a non-empty list of non-empty strings`);
      }
      return value as string[];
    };
    const toolList = list(tools, "tools");
    const paramList = list(params, "params");
    if (match === undefined && toolList === undefined) {
      throw new PatternError(`${name} needs "match" or "tools" (otherwise it would match every call)`);
    }
    let regex: RegExp | undefined;
    if (typeof match === "string") {
      try {
        regex = new RegExp(match, typeof flags === "string" ? flags : "i");
      } catch (e) {
        throw new PatternError(`${name}: "match" is not a valid regular expression: ${(e as Error).message}`);
      }
    }
    const compiled: CompiledPattern = { id, description: typeof description === "string" ? description : id };
    if (regex) compiled.regex = regex;
    if (toolList) compiled.tools = toolList.map(globToRegExp);
    if (paramList) compiled.params = new Set(paramList.map((p) => p.toLowerCase()));
    return compiled;
  });
}

/** Limits that keep matching cheap on huge params. */
const MAX_DEPTH = 12;
const MAX_STRINGS = 2000;

interface Subject {
  /** Lower-cased keys from the root to this value. */
  keys: string[];
  text: string;
}

/** Every string in the params with the keys above it; arrays of strings also joined (argv). */
function subjects(params: unknown): Subject[] {
  const out: Subject[] = [];
  const walk = (value: unknown, keys: string[], depth: number): void => {
    if (out.length >= MAX_STRINGS || depth > MAX_DEPTH) return;
    if (typeof value === "string") {
      out.push({ keys, text: value });
    } else if (Array.isArray(value)) {
      if (value.length > 0 && value.every((v) => typeof v === "string")) out.push({ keys, text: value.join(" ") });
      for (const v of value) walk(v, keys, depth + 1);
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) walk(v, [...keys, k.toLowerCase()], depth + 1);
    }
  };
  walk(params, [], 0);
  return out;
}

/** The patterns this tool call matches (empty: not risky). */
export function findRisks(toolName: string, params: unknown, patterns: readonly CompiledPattern[]): RiskMatch[] {
  const found: RiskMatch[] = [];
  let all: Subject[] | undefined;
  for (const p of patterns) {
    if (p.tools && !p.tools.some((t) => t.test(toolName))) continue;
    if (!p.regex) {
      found.push({ id: p.id, description: p.description });
      continue;
    }
    all ??= subjects(params);
    const keys = p.params;
    const hit = all.find((s) => (!keys || s.keys.some((k) => keys.has(k))) && p.regex!.test(s.text));
    if (hit) found.push({ id: p.id, description: p.description, subject: hit.text });
  }
  return found;
}
