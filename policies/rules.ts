// The policy pack's rules as small pure functions: plain data in, violation messages out.
// The pack wiring (pack.ts) feeds them resource properties and the stack's config; unit tests feed
// them passing and violating inputs directly. Versions are judged by fleet/versions only.
import { isAccountId } from "../fleet/ids";
import { isReleaseTag, isNewer, isSupported, releaseTagProblem } from "../fleet/versions";
import type { Strategy } from "../fleet/config";

/** The droplet tag naming its account; the same text components/runtime.ts `accountTag` writes. */
export const ACCOUNT_TAG_PREFIX = "account:";
/** Droplets are named `runtime-<accountId>` by components/runtime.ts. */
export const DROPLET_NAME_PREFIX = "runtime-";

export interface VersionInputs {
  openclaw?: unknown;
  runtimeService?: unknown;
}

export interface MinimumSupported {
  openclaw?: string;
  runtimeService?: string;
}

/**
 * Every version input is a release tag and not below the minimum supported release.
 * `where` names the input (e.g. `lab-02-deploy stdin`) so the message points at it.
 */
export function versionInputProblems(inputs: VersionInputs, min: MinimumSupported, where: string): string[] {
  const problems: string[] = [];
  const check = (field: "openclaw" | "runtimeService", minKey: string) => {
    const value = inputs[field];
    if (value === undefined) {
      problems.push(`${where}: ${field} is missing (expected a release tag vMAJOR.MINOR.PATCH)`);
      return;
    }
    if (!isReleaseTag(value)) {
      problems.push(`${where}: ${field} ${releaseTagProblem(value)}`);
      return;
    }
    const floor = min[field];
    if (floor !== undefined && isReleaseTag(floor) && !isSupported(value, floor)) {
      problems.push(`${where}: ${field} ${value} is below the minimum supported ${floor} (${minKey})`);
    }
  };
  check("openclaw", "minSupportedOpenclaw");
  check("runtimeService", "minSupportedRuntimeService");
  return problems;
}

/** Parses a deploy/verify command's stdin (`{"openclaw":..,"runtimeService":..}`); undefined for other stdin. */
export function versionStdin(stdin: unknown): VersionInputs | undefined {
  if (typeof stdin !== "string") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  if (!("openclaw" in record) && !("runtimeService" in record)) return undefined;
  return { openclaw: record.openclaw, runtimeService: record.runtimeService };
}

export interface ProposedRuntime {
  accountId: string;
  /** The openclaw release the proposed state deploys. */
  openclaw: string;
  canary: boolean;
  /** A pinned runtime stays on its pin deliberately; it is not "ahead" or "behind" anything. */
  pin?: string;
}

/**
 * Canary first: in the proposed state no non-canary runtime runs an openclaw release newer than
 * every canary's, i.e. a release reaches the fleet only after a canary runs it. Stacks whose
 * strategy is `immediate` skip the canary on purpose. With strategy `canary` a canary must exist.
 */
export function canaryFirstProblems(runtimes: readonly ProposedRuntime[], strategy: Strategy | undefined): string[] {
  if (strategy === "immediate") return [];
  const canaries = runtimes.filter((r) => r.canary && isReleaseTag(r.openclaw));
  if (canaries.length === 0) {
    return strategy === "canary" && runtimes.length > 0
      ? ["strategy canary (fleet:policy.strategy) but no runtime is marked `canary: true` in fleet:runtimes"]
      : [];
  }
  const newest = canaries.map((c) => c.openclaw).reduce((a, b) => (isNewer(b, a) ? b : a));
  const onNewest = canaries.filter((c) => c.openclaw === newest).map((c) => c.accountId);
  const problems: string[] = [];
  for (const r of runtimes) {
    if (r.canary || !isReleaseTag(r.openclaw)) continue; // a bad tag is the version policy's finding
    if (r.pin !== undefined && r.pin === r.openclaw) continue;
    if (isNewer(r.openclaw, newest)) {
      problems.push(
        `${r.accountId} would run openclaw ${r.openclaw}, which no canary runs yet ` +
          `(canary ${onNewest.join(", ")} on ${newest}): upgrade the canary first`,
      );
    }
  }
  return problems;
}

export interface DropletInputs {
  name?: unknown;
  tags?: unknown;
  monitoring?: unknown;
  backups?: unknown;
  sshKeys?: unknown;
  region?: unknown;
  size?: unknown;
}

/** The droplet carries `account:<id>`; when it is named `runtime-<id>`, the tag names that account. */
export function accountTagProblems(d: DropletInputs): string[] {
  const tags = Array.isArray(d.tags) ? d.tags.filter((t): t is string => typeof t === "string") : [];
  const accountTags = tags.filter((t) => t.startsWith(ACCOUNT_TAG_PREFIX));
  const expected =
    typeof d.name === "string" && d.name.startsWith(DROPLET_NAME_PREFIX) ? d.name.slice(DROPLET_NAME_PREFIX.length) : undefined;
  if (accountTags.length === 0) {
    return [`droplet has no account tag (expected "${ACCOUNT_TAG_PREFIX}${expected ?? "<accountId>"}" in tags, got ${JSON.stringify(tags)})`];
  }
  const problems: string[] = [];
  for (const t of accountTags) {
    const id = t.slice(ACCOUNT_TAG_PREFIX.length);
    if (!isAccountId(id)) problems.push(`droplet tag ${JSON.stringify(t)} does not name an account id`);
  }
  if (expected !== undefined && !accountTags.includes(`${ACCOUNT_TAG_PREFIX}${expected}`)) {
    problems.push(`droplet ${JSON.stringify(d.name)} is tagged ${JSON.stringify(accountTags)}, expected "${ACCOUNT_TAG_PREFIX}${expected}"`);
  }
  return problems;
}

export function monitoringProblems(d: DropletInputs): string[] {
  return d.monitoring === true ? [] : [`droplet monitoring is ${JSON.stringify(d.monitoring ?? false)} (expected true: the metrics agent feeds alerts)`];
}

export function backupProblems(d: DropletInputs, production: boolean): string[] {
  if (!production) return [];
  return d.backups === true ? [] : [`droplet backups are ${JSON.stringify(d.backups ?? false)} in a production stack (expected true; fleet:policy.production)`];
}

/** SSH keys only: a droplet without keys gets a root password mailed out by DigitalOcean. */
export function sshKeyProblems(d: DropletInputs): string[] {
  const keys = Array.isArray(d.sshKeys) ? d.sshKeys.filter((k) => (typeof k === "string" && k.length > 0) || typeof k === "number") : [];
  return keys.length > 0 ? [] : ["droplet has no SSH keys (sshKeys is empty): log-in must be by SSH key, never a root password (fleet:defaults.sshKeys)"];
}

/** `allowed` undefined = no list configured, nothing to check. */
export function allowedProblems(what: "region" | "size", value: unknown, allowed: readonly string[] | undefined, source: string): string[] {
  if (allowed === undefined) return [];
  if (typeof value === "string" && allowed.includes(value)) return [];
  return [`droplet ${what} ${JSON.stringify(value)} is not allowed (allowed: ${allowed.join(", ") || "none"}; ${source})`];
}

export interface ConnectionInputs {
  host?: unknown;
  hostKey?: unknown;
}

/** `ssh-ed25519 AAAA... comment` -> `ssh-ed25519 AAAA...`: comments never decide a match. */
export function normalizeHostKey(key: string): string {
  return key.trim().split(/\s+/).slice(0, 2).join(" ");
}

/**
 * Remote commands pin the host key wherever one is known: a host with a known key must be dialled
 * with `connection.hostKey` set to exactly that key (without it any key is accepted).
 */
export function hostKeyProblems(conn: ConnectionInputs, known: Readonly<Record<string, string>>, where: string): string[] {
  if (typeof conn.host !== "string") return [];
  const expected = known[conn.host];
  if (expected === undefined) return [];
  if (typeof conn.hostKey !== "string" || conn.hostKey.trim() === "") {
    return [`${where}: connection to ${conn.host} does not pin its host key (expected connection.hostKey ${normalizeHostKey(expected)})`];
  }
  if (normalizeHostKey(conn.hostKey) !== normalizeHostKey(expected)) {
    return [`${where}: connection.hostKey for ${conn.host} is ${normalizeHostKey(conn.hostKey)}, but the known host key is ${normalizeHostKey(expected)}`];
  }
  return [];
}
