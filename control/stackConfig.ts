// The stack config file (`Pulumi.<stack>.yaml`) as desired state: read it, validate it through
// fleet/, and write runtimes' versions back without disturbing anything else in the file.
import { existsSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import path from "node:path";
import { isMap, isSeq, parseDocument, type Document } from "yaml";
import { parseFleetConfig, type ParseResult } from "../fleet/config";
import { isStackName } from "../fleet/ids";
import { parseReleaseTag } from "../fleet/versions";
import { UsageError } from "./errors";

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

export function readStackConfig(file: string): LoadedStackConfig {
  if (!existsSync(file)) throw new UsageError(`stack config ${file} does not exist`);
  const text = readFileSync(file, "utf8");
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new UsageError(`${file}: not valid YAML: ${document.errors.map((e) => e.message).join("; ")}`);
  }
  const root = (document.toJS() ?? {}) as { config?: unknown };
  const config = root.config;
  if (config !== undefined && (typeof config !== "object" || config === null || Array.isArray(config))) {
    throw new UsageError(`${file}: config: expected a map of keys like fleet:runtimes`);
  }
  return { file, text, document, config: (config ?? {}) as Record<string, unknown> };
}

export function validateStackConfig(loaded: LoadedStackConfig): ParseResult {
  return parseFleetConfig(loaded.config);
}

export interface VersionUpdate {
  /** Index in `fleet:runtimes`. */
  index: number;
  accountId: string;
  openclaw: string;
  runtimeService: string;
}

/**
 * Writes runtimes' versions into the file, keeping comments and layout, atomically (temp file,
 * fsync, rename): a crash leaves either the old or the new file, never half of one.
 */
export function writeRuntimeVersions(file: string, updates: readonly VersionUpdate[]): void {
  const loaded = readStackConfig(file);
  const runtimes = loaded.document.getIn(["config", "fleet:runtimes"]);
  if (!isSeq(runtimes)) throw new Error(`${file}: config.fleet:runtimes is not a list`);
  for (const u of updates) {
    const openclaw = parseReleaseTag(u.openclaw, `fleet:runtimes[${u.index}].openclaw`);
    const runtimeService = parseReleaseTag(u.runtimeService, `fleet:runtimes[${u.index}].runtimeService`);
    const entry = runtimes.items[u.index];
    if (!isMap(entry) || entry.get("accountId") !== u.accountId) {
      throw new Error(`${file}: fleet:runtimes[${u.index}] is not ${u.accountId} any more (the file changed underneath)`);
    }
    entry.set("openclaw", openclaw);
    entry.set("runtimeService", runtimeService);
  }
  atomicWrite(file, render(loaded.document));
}

/** The file as YAML again, flow lists (`[a, b]`) written the way people write them. */
function render(document: Document): string {
  return document.toString({ flowCollectionPadding: false });
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

export function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
