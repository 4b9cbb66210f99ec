// The on-host side as the components see it: the script's text, where it lives on a host, and
// the exact command lines run over SSH. Command text never carries a version: targets travel
// on stdin as JSON, already validated by fleet/ (and validated again by the script on the host).
import { readFileSync } from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { parseReleaseTag } from "../fleet/versions";

export const SCRIPT_PATH = path.join(__dirname, "scripts", "fleet-upgrade.sh");

let cachedScript: string | undefined;
/** The on-host upgrade script, read once per process. */
export function upgradeScript(): string {
  cachedScript ??= readFileSync(SCRIPT_PATH, "utf8");
  return cachedScript;
}

export function scriptDigest(script: string = upgradeScript()): string {
  return createHash("sha256").update(script).digest("hex").slice(0, 16);
}

/** Host roots reach shell text, so they are held to the config schema's pattern again here. */
const HOST_ROOT = /^\/[A-Za-z0-9._/-]{0,255}$/;
export function checkHostRoot(root: string): string {
  if (!HOST_ROOT.test(root) || root.split("/").includes("..")) {
    throw new Error(`hostRoot: ${JSON.stringify(root)} is not an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  return root;
}

export function scriptOnHost(root: string): string {
  return `${checkHostRoot(root)}/bin/fleet-upgrade`;
}

/** Installs (or refreshes) the script from stdin atomically: a half-written script never runs. */
export function installCommand(root: string): string {
  const r = checkHostRoot(root);
  return [
    "set -eu",
    `install -d -m 0755 '${r}/bin' '${r}/etc' '${r}/state'`,
    `tmp=$(mktemp '${r}/bin/.fleet-upgrade.XXXXXX')`,
    `cat > "$tmp"`,
    `chmod 0755 "$tmp"`,
    `mv -f "$tmp" '${r}/bin/fleet-upgrade'`,
    `echo '{"installed":true}'`,
  ].join(" && ");
}

export function upgradeCommand(root: string): string {
  return `'${scriptOnHost(root)}' upgrade --stdin`;
}

export function statusCommand(root: string): string {
  return `'${scriptOnHost(root)}' status`;
}

export interface TargetVersions {
  openclaw: string;
  runtimeService: string;
}

/** The deploy command's stdin: the only place a version is handed to the host. */
export function targetsStdin(targets: TargetVersions): string {
  return JSON.stringify({
    openclaw: parseReleaseTag(targets.openclaw, "openclaw"),
    runtimeService: parseReleaseTag(targets.runtimeService, "runtimeService"),
  });
}

export const UPGRADE_STATUSES = ["success", "failed", "rolled_back", "noop"] as const;
export type UpgradeStatus = (typeof UPGRADE_STATUSES)[number];

export interface UpgradeResult {
  /** Unique per attempt on the host: the record's event id, so a re-delivered result counts once. */
  id?: string;
  status: UpgradeStatus;
  from: Partial<TargetVersions> | null;
  to: Partial<TargetVersions> | null;
  durationMs: number;
  error: string | null;
  host?: string;
  completedAt?: number;
  /** On a noop: the host's last real attempt at these versions (e.g. one whose caller died). */
  last?: UpgradeResult;
}

function toResult(raw: unknown): UpgradeResult | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const parsed = raw as Partial<Record<keyof UpgradeResult, unknown>>;
  if (typeof parsed.status !== "string" || !(UPGRADE_STATUSES as readonly string[]).includes(parsed.status)) return undefined;
  const last = toResult(parsed.last);
  return {
    status: parsed.status as UpgradeStatus,
    from: (parsed.from as Partial<TargetVersions> | null | undefined) ?? null,
    to: (parsed.to as Partial<TargetVersions> | null | undefined) ?? null,
    durationMs: typeof parsed.durationMs === "number" ? parsed.durationMs : 0,
    error: typeof parsed.error === "string" ? parsed.error : null,
    ...(typeof parsed.id === "string" ? { id: parsed.id } : {}),
    ...(typeof parsed.host === "string" ? { host: parsed.host } : {}),
    ...(typeof parsed.completedAt === "number" ? { completedAt: parsed.completedAt } : {}),
    ...(last ? { last } : {}),
  };
}

/** Finds the script's one JSON result line in command output (stdout, or an engine error text). */
export function parseUpgradeResult(text: string | undefined): UpgradeResult | undefined {
  if (!text) return undefined;
  // Engine error texts prefix lines ("...; {json}"), so each line is tried from its first brace.
  const lines = text.split(/\r?\n/).reverse();
  for (const line of lines) {
    const start = line.indexOf("{");
    if (start === -1 || !line.includes('"status"')) continue;
    try {
      const parsed = toResult(JSON.parse(line.slice(start)));
      if (parsed) return parsed;
    } catch {
      // not the result line; keep looking
    }
  }
  return undefined;
}
