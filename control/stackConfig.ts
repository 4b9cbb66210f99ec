// The stack config file (`Pulumi.<stack>.yaml`) as desired state: read it, validate it through
// fleet/, and write runtimes' versions back without disturbing anything else in the file.
import { type Stats, closeSync, fstatSync, fsyncSync, openSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isMap, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from "yaml";
import { parseFleetConfig, type ParseResult } from "../fleet/config";
import { isStackName } from "../fleet/ids";
import { parseReleaseTag } from "../fleet/versions";
import { OperationError, UsageError } from "./errors";

export function stackConfigPath(projectDir: string, stack: string): string {
  if (!isStackName(stack)) {
    throw new UsageError(`--stack: ${JSON.stringify(stack)} is not a stack name (letters, digits, '.', '_' or '-')`);
  }
  return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

export interface LoadedStackConfig {
  file: string;
  text: string;
  document: Document;
  /** The `config:` map, keys like `fleet:runtimes`. */
  config: Record<string, unknown>;
}

/** A stack config is a few KB; anything near this is a mistake or an attack, not a fleet. */
export const MAX_STACK_CONFIG_BYTES = 4 * 1024 * 1024;
/** YAML aliases expanded while reading: enough for anchors people write, far below a "billion laughs". */
const MAX_ALIAS_COUNT = 100;

/**
 * Reads at most MAX_STACK_CONFIG_BYTES of a regular file: a FIFO, a device (`/dev/zero`) or a
 * directory is refused before anything is read, so reading never hangs or fills memory.
 */
function readConfigText(file: string): string {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`stack config ${file} does not exist`);
    throw new UsageError(`stack config ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!stat.isFile()) throw new UsageError(`stack config ${file}: not a regular file (${fileKind(stat)})`);
  const fd = openSync(file, "r");
  try {
    // Checked again on the open file: the path may have changed between stat and open.
    if (!fstatSync(fd).isFile()) throw new UsageError(`stack config ${file}: not a regular file`);
    const buffer = Buffer.alloc(MAX_STACK_CONFIG_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_STACK_CONFIG_BYTES) {
        throw new UsageError(`stack config ${file}: larger than the limit of ${MAX_STACK_CONFIG_BYTES} bytes (4 MiB)`);
      }
    }
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isFIFO()) return "a named pipe";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  if (stat.isSocket()) return "a socket";
  return "not a file";
}

export function readStackConfig(file: string): LoadedStackConfig {
  const text = readConfigText(file);
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new UsageError(`${file}: not valid YAML: ${document.errors.map((e) => e.message).join("; ")}`);
  }
  let root: { config?: unknown };
  try {
    root = (document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {}) as { config?: unknown };
  } catch (err) {
    // yaml refuses an alias bomb here ("Excessive alias count ...").
    throw new UsageError(`${file}: not usable YAML: ${err instanceof Error ? err.message : String(err)} (at most ${MAX_ALIAS_COUNT} alias expansions)`);
  }
  const config = root.config;
  if (config !== undefined && (typeof config !== "object" || config === null || Array.isArray(config))) {
    throw new UsageError(`${file}: config: expected a map of keys like fleet:runtimes`);
  }
  return { file, text, document, config: (config ?? {}) as Record<string, unknown> };
}

export function validateStackConfig(loaded: LoadedStackConfig): ParseResult {
  return parseFleetConfig(loaded.config);
}

type Versions = { openclaw: string; runtimeService: string };

/** What a writer expects a runtime's entry to hold now: anything else was changed by hand. */
export interface VersionExpectation {
  /** Index in `fleet:runtimes`. */
  index: number;
  accountId: string;
  /** The versions the writer itself recorded or wrote for the runtime (any one of them). */
  expected: readonly Versions[];
}

export interface VersionUpdate {
  /** Index in `fleet:runtimes`. */
  index: number;
  accountId: string;
  openclaw: string;
  runtimeService: string;
  /** Without it the entry is overwritten whatever it holds. */
  expected?: readonly Versions[];
}

/** A runtime's versions in the file are not what the writer expects: a person changed them. */
export class StackConfigConflict extends OperationError {
  constructor(message: string) {
    super(message);
    this.name = "StackConfigConflict";
  }
}

const shown = (v: Versions) => `${v.openclaw}/${v.runtimeService}`;

/** The entry of `fleet:runtimes` at `index`, refused when another runtime sits there now. */
function entryOf(file: string, runtimes: YAMLSeq, index: number, accountId: string): YAMLMap {
  const entry = runtimes.items[index];
  if (!isMap(entry) || entry.get("accountId") !== accountId) {
    throw new Error(`${file}: fleet:runtimes[${index}] is not ${accountId} any more (the file changed underneath)`);
  }
  return entry;
}

function runtimesOf(loaded: LoadedStackConfig): YAMLSeq {
  const runtimes = loaded.document.getIn(["config", "fleet:runtimes"]);
  if (!isSeq(runtimes)) throw new Error(`${loaded.file}: config.fleet:runtimes is not a list`);
  return runtimes;
}

/** Refuses (StackConfigConflict, one line naming the field) the first entry that holds none of its expected versions. */
function refuseHandEdits(loaded: LoadedStackConfig, runtimes: YAMLSeq, expectations: readonly VersionExpectation[], since: string): void {
  for (const x of expectations) {
    const edit = handEditOf(loaded, runtimes, x, since);
    if (edit !== undefined) throw new StackConfigConflict(`${edit}; nothing overwritten`);
  }
}

/** How an entry was changed by hand (one line naming the field), or undefined when it holds one of its expected versions (or expects none). */
function handEditOf(loaded: LoadedStackConfig, runtimes: YAMLSeq, x: VersionExpectation, since: string): string | undefined {
  if (x.expected.length === 0) return undefined;
  const entry = entryOf(loaded.file, runtimes, x.index, x.accountId);
  const found = { openclaw: String(entry.get("openclaw") ?? "?"), runtimeService: String(entry.get("runtimeService") ?? "?") };
  if (x.expected.some((v) => shown(v) === shown(found))) return undefined;
  const expected = [...new Set(x.expected.map(shown))].join(" or ");
  return `fleet:runtimes[${x.index}] (${x.accountId}) changed by hand since ${since} (expected ${expected}, found ${shown(found)})`;
}

/** Refuses (StackConfigConflict) when a runtime's versions in the file are none of those expected. */
export function checkRuntimeVersions(file: string, expectations: readonly VersionExpectation[], since: string): void {
  const loaded = readStackConfig(file);
  refuseHandEdits(loaded, runtimesOf(loaded), expectations, since);
}

/** Each entry changed by hand (none of its expected versions), with its one line, by account id. */
export function handEditedRuntimes(file: string, expectations: readonly VersionExpectation[], since: string): Map<string, string> {
  const loaded = readStackConfig(file);
  const runtimes = runtimesOf(loaded);
  const out = new Map<string, string>();
  for (const x of expectations) {
    const edit = handEditOf(loaded, runtimes, x, since);
    if (edit !== undefined) out.set(x.accountId, edit);
  }
  return out;
}

/**
 * Writes runtimes' versions into the file, keeping comments and layout, atomically (temp file,
 * fsync, rename): a crash leaves either the old or the new file, never half of one. An update
 * with `expected` versions is refused (StackConfigConflict) when its entry holds none of them,
 * and then nothing is written: the file stays as the person left it.
 */
export function writeRuntimeVersions(file: string, updates: readonly VersionUpdate[], since = "it was read"): void {
  const loaded = readStackConfig(file);
  const runtimes = runtimesOf(loaded);
  refuseHandEdits(loaded, runtimes, updates.map((u) => ({ index: u.index, accountId: u.accountId, expected: u.expected ?? [] })), since);
  for (const u of updates) {
    const openclaw = parseReleaseTag(u.openclaw, `fleet:runtimes[${u.index}].openclaw`);
    const runtimeService = parseReleaseTag(u.runtimeService, `fleet:runtimes[${u.index}].runtimeService`);
    const entry = entryOf(file, runtimes, u.index, u.accountId);
    entry.set("openclaw", openclaw);
    entry.set("runtimeService", runtimeService);
  }
  atomicWrite(file, render(loaded.document));
}

/** The file as YAML again, flow lists (`[a, b]`) written the way people write them. */
function render(document: Document): string {
  // lineWidth 0: long scalars (hostKey lines) stay on one line instead of being folded.
  return document.toString({ flowCollectionPadding: false, lineWidth: 0 });
}

/** Sets `fleet:release` (the fleet's target release), keeping the rest of the file as it is. */
export function writeRelease(file: string, release: { openclaw: string; runtimeService: string }): void {
  const loaded = readStackConfig(file);
  const openclaw = parseReleaseTag(release.openclaw, "fleet:release.openclaw");
  const runtimeService = parseReleaseTag(release.runtimeService, "fleet:release.runtimeService");
  loaded.document.setIn(["config", "fleet:release", "openclaw"], openclaw);
  loaded.document.setIn(["config", "fleet:release", "runtimeService"], runtimeService);
  atomicWrite(file, render(loaded.document));
}

/**
 * Replaces the file's content atomically. A symlinked config is written through to its target
 * (the temp file sits beside the target, so the rename stays on one filesystem) and the link
 * stays a link.
 */
export function atomicWrite(file: string, text: string): void {
  const target = resolveTarget(file);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: statMode(target) });
    const fd = openSync(tmp, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never written
    }
    throw err;
  }
}

function resolveTarget(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file; // a new file: written where it is named
  }
}

function statMode(file: string): number {
  try {
    return statSync(file).mode & 0o777;
  } catch {
    return 0o644;
  }
}
