// Releases and promotion: which openclaw / runtime service releases exist (git tags of the
// configured release source), and whether a stack's release may be promoted to another stack.
// Versions are judged by fleet/versions only; git runs through execFile (never a shell).
import { execFile } from "node:child_process";
import { isMap, type Document } from "yaml";
import { latestRelease, releaseTagProblem, sortReleases, isReleaseTag, type ReleaseTag } from "../fleet/versions";
import type { Release } from "../fleet/config";
import type { ProbeResult } from "./probe";
import { OperationError, UsageError } from "./errors";

/**
 * Runtime service releases, when they share the openclaw remote, are tagged
 * `runtime-service/vX.Y.Z` (a separate `fleet:releaseSource.runtimeService` remote may use plain
 * `vX.Y.Z` tags, or the same prefixed form).
 */
export const RUNTIME_SERVICE_TAG_PREFIX = "runtime-service/";

/** Tag names from `git ls-remote --tags` output (peeled `^{}` lines folded into their tag). */
export function parseLsRemoteTags(stdout: string): string[] {
  const names = new Set<string>();
  for (const line of stdout.split(/\r?\n/)) {
    const ref = line.split("\t")[1];
    if (!ref?.startsWith("refs/tags/")) continue;
    names.add(ref.slice("refs/tags/".length).replace(/\^\{\}$/, ""));
  }
  return [...names];
}

/** Plain release tags: the openclaw releases. */
export function openclawReleases(tags: Iterable<string>): ReleaseTag[] {
  return sortReleases(tags);
}

/** `runtime-service/vX.Y.Z` tags (and, from a dedicated remote, plain `vX.Y.Z` tags). */
export function runtimeServiceReleases(tags: Iterable<string>, dedicatedRemote: boolean): ReleaseTag[] {
  const out: string[] = [];
  for (const t of tags) {
    if (t.startsWith(RUNTIME_SERVICE_TAG_PREFIX)) out.push(t.slice(RUNTIME_SERVICE_TAG_PREFIX.length));
    else if (dedicatedRemote) out.push(t);
  }
  return sortReleases(out);
}

/** A remote for display: user info (tokens in https URLs) removed. */
export function redactRemote(remote: string): string {
  return remote.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1***@");
}

export interface GitOptions {
  timeoutMs?: number;
  git?: string;
}

/** `git ls-remote --tags --refs <remote>`: the remote's tag names. */
export function lsRemoteTags(remote: string, field: string, options: GitOptions = {}): Promise<string[]> {
  // A remote starting with '-' would be read as an option by git.
  if (remote.startsWith("-") || remote.trim() === "" || /[\0\n]/.test(remote)) {
    throw new UsageError(`${field}: ${JSON.stringify(redactRemote(remote))} is not a git remote (expected a URL or path)`);
  }
  return new Promise((resolve, reject) => {
    execFile(
      options.git ?? "git",
      ["ls-remote", "--tags", "--refs", remote],
      {
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 16 * 1024 * 1024,
        // Never wait for a password prompt in CI or a terminal.
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true" },
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = String(stderr).trim().split("\n").at(-1) || err.message;
          reject(new OperationError(`git ls-remote ${redactRemote(remote)} (${field}) failed: ${redactRemote(why)}`));
          return;
        }
        resolve(parseLsRemoteTags(String(stdout)));
      },
    );
  });
}

export interface ReleaseList {
  source: string;
  releases: ReleaseTag[];
  latest?: ReleaseTag;
}

export function releaseList(source: string, releases: ReleaseTag[]): ReleaseList {
  const latest = latestRelease(releases);
  return { source: redactRemote(source), releases, ...(latest ? { latest } : {}) };
}

// ---- promotion ----

/** What is known of one runtime of the source stack. */
export interface RuntimeEvidence {
  accountId: string;
  /** Its versions in the stack config. */
  configured: { openclaw: string; runtimeService: string };
  pin?: string;
  /** What the store last observed (undefined: no record). */
  observed?: { openclaw?: string; runtimeService?: string; status?: string };
  /** A probe of /health and /version just now (undefined: no address to probe). */
  probe?: Pick<ProbeResult, "reachable" | "healthy" | "version" | "error">;
}

/**
 * Why `release` may not be promoted from a stack whose runtimes look like `evidence`: every
 * runtime must run it by the stack config, by the store's record (when there is one) and by its own
 * /version, and be healthy now. Empty = promotable.
 */
export function promotionProblems(stack: string, release: { openclaw: string; runtimeService: string }, evidence: readonly RuntimeEvidence[]): string[] {
  const problems: string[] = [];
  if (evidence.length === 0) problems.push(`${stack} has no runtimes: nothing shows that ${release.openclaw} works`);
  const want = `${release.openclaw}/${release.runtimeService}`;
  for (const e of evidence) {
    const at = `${stack}/${e.accountId}`;
    const configured = `${e.configured.openclaw}/${e.configured.runtimeService}`;
    if (configured !== want) {
      const pinned = e.pin !== undefined ? ` (pinned at ${e.pin})` : "";
      problems.push(`${at}: stack config has ${configured}${pinned}, not the release ${want} (finish the rollout first)`);
    }
    if (e.observed !== undefined) {
      const seen = `${e.observed.openclaw ?? "?"}/${e.observed.runtimeService ?? "?"}`;
      if (seen !== want) problems.push(`${at}: the store last observed ${seen}, not ${want} (run \`fleet health --stack ${stack}\` after the deploy)`);
      if (e.observed.status === "error" || e.observed.status === "offline") problems.push(`${at}: the store's status is ${e.observed.status}`);
    }
    if (e.probe === undefined) {
      problems.push(`${at}: no address to probe (its /version and /health cannot be checked)`);
      continue;
    }
    if (!e.probe.reachable) {
      problems.push(`${at}: unreachable (${e.probe.error ?? "no answer"})`);
      continue;
    }
    if (!e.probe.healthy) problems.push(`${at}: not healthy (${e.probe.error ?? "/health failed"})`);
    const served = `${e.probe.version?.openclaw ?? "?"}/${e.probe.version?.runtimeService ?? "?"}`;
    if (served !== want) problems.push(`${at}: /version reports ${served}, not ${want}`);
  }
  return problems;
}

/**
 * Sets `config.fleet:release` in a stack config document, keeping comments and layout. Returns the
 * previous release. The caller validates the result and writes it atomically.
 */
export function setStackRelease(document: Document, release: Release, file: string): { openclaw: string; runtimeService: string } | undefined {
  for (const [field, value] of Object.entries(release)) {
    if (!isReleaseTag(value)) throw new UsageError(`fleet:release.${field}: ${releaseTagProblem(value)}`);
  }
  const node = document.getIn(["config", "fleet:release"], true);
  if (node !== undefined && !isMap(node)) throw new UsageError(`${file}: config.fleet:release is not a map`);
  const previous = isMap(node)
    ? { openclaw: String(node.get("openclaw")), runtimeService: String(node.get("runtimeService")) }
    : undefined;
  document.setIn(["config", "fleet:release", "openclaw"], release.openclaw);
  document.setIn(["config", "fleet:release", "runtimeService"], release.runtimeService);
  return previous;
}

/** The document as text, flow lists written as people write them (`[a, b]`, not `[ a, b ]`). */
export function stackConfigText(document: Document): string {
  return document.toString({ flowCollectionPadding: false });
}
