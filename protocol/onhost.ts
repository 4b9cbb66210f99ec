// The on-host upgrade script's two messages: its stdin (the target versions, the only place a
// version is handed to a host) and the one JSON result line it prints. Used by the Pulumi deploy
// command (components/) and the self-upgrade agent alike.
import { z } from "zod";
import { parseReleaseTag } from "../fleet/versions";
import { upgradeResult } from "./records";

export const hostTargets = z.strictObject({ openclaw: z.string(), runtimeService: z.string() });
export type TargetVersions = z.infer<typeof hostTargets>;

/** A snapshot's id on a host: its creation time in ms and the script's pid (the script checks it again). */
export const SNAPSHOT_ID_PATTERN = /^[0-9]{13}-[0-9]{1,10}$/;
/** The stack's snapshot policy as the host applies it (fleet:policy.snapshots). */
export const snapshotPolicy = z.strictObject({
  keep: z.number().int().min(1).max(1000),
  budgetBytes: z.number().int().min(0).max(1e15),
});
export type SnapshotPolicy = z.infer<typeof snapshotPolicy>;

/** The whole stdin the script accepts (it refuses any other field). */
export const upgradeStdin = hostTargets.extend({
  /** Restore this snapshot (it must hold the state of the target versions) before starting. */
  restoreSnapshot: z.string().regex(SNAPSHOT_ID_PATTERN).optional(),
  snapshots: snapshotPolicy.optional(),
});
export type UpgradeStdin = z.infer<typeof upgradeStdin>;

/** The deploy command's stdin: exactly one JSON object of two release tags (and the snapshot policy). */
export function targetsStdin(targets: TargetVersions, extra: { snapshots?: SnapshotPolicy; restoreSnapshot?: string } = {}): string {
  return JSON.stringify(
    upgradeStdin.parse({
      openclaw: parseReleaseTag(targets.openclaw, "openclaw"),
      runtimeService: parseReleaseTag(targets.runtimeService, "runtimeService"),
      ...(extra.restoreSnapshot !== undefined ? { restoreSnapshot: extra.restoreSnapshot } : {}),
      ...(extra.snapshots ? { snapshots: { keep: extra.snapshots.keep, budgetBytes: extra.snapshots.budgetBytes } } : {}),
    }),
  );
}

/** The snapshot an upgrade took: the state of the versions it replaced. */
export interface SnapshotTaken {
  id: string;
  versions: TargetVersions;
  bytes: number;
  checksum: string;
}

/** The snapshot an upgrade or rollback put back, verified against its manifest's checksum. */
export interface SnapshotRestored {
  snapshot: string;
  versions: TargetVersions;
  checksum: string;
  verified: boolean;
}

export const UPGRADE_STATUSES = upgradeResult.options;
export type UpgradeStatus = z.infer<typeof upgradeResult>;

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
  snapshot?: SnapshotTaken;
  restored?: SnapshotRestored;
  /** On success or noop: the versions the runtime itself reports (`/version`) as the script ends; null when it said nothing usable. */
  reported?: Partial<TargetVersions> | null;
}

const versionsSeen = z.object({ openclaw: z.string().optional(), runtimeService: z.string().optional() });
/**
 * The result line, read leniently past its status (older scripts leave fields out): a field of
 * the wrong type reads as absent, never as a wrong value.
 */
const resultLine: z.ZodType<UpgradeResult, unknown> = z
  .object({
    status: upgradeResult,
    from: versionsSeen.nullable().catch(null),
    to: versionsSeen.nullable().catch(null),
    durationMs: z.number().finite().catch(0),
    error: z.string().nullable().catch(null),
    id: z.string().optional().catch(undefined),
    host: z.string().optional().catch(undefined),
    completedAt: z.number().finite().optional().catch(undefined),
    last: z.lazy(() => resultLine).optional().catch(undefined),
    snapshot: z.object({ id: z.string(), versions: hostTargets, bytes: z.number(), checksum: z.string() }).optional().catch(undefined),
    restored: z.object({ snapshot: z.string(), versions: hostTargets, checksum: z.string(), verified: z.boolean() }).optional().catch(undefined),
    reported: versionsSeen.nullable().optional().catch(undefined),
  })
  .transform((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as UpgradeResult);

/** Finds the script's one JSON result line in command output (stdout, or an engine error text). */
export function parseUpgradeResult(text: string | undefined): UpgradeResult | undefined {
  if (!text) return undefined;
  // Engine error texts prefix lines ("...; {json}"), so each line is tried from its first brace.
  const lines = text.split(/\r?\n/).reverse();
  for (const line of lines) {
    const start = line.indexOf("{");
    if (start === -1 || !line.includes('"status"')) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line.slice(start));
    } catch {
      continue; // not the result line; keep looking
    }
    const parsed = resultLine.safeParse(raw);
    if (parsed.success) return parsed.data;
  }
  return undefined;
}
