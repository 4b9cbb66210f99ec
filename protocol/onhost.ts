// The on-host upgrade script's two messages: its stdin (the target versions, the only place a
// version is handed to a host) and the one JSON result line it prints. Used by the Pulumi deploy
// command (components/) and the self-upgrade agent alike.
import { z } from "zod";
import { parseReleaseTag } from "../fleet/versions";
import { upgradeResult } from "./records";

export const hostTargets = z.strictObject({ openclaw: z.string(), runtimeService: z.string() });
export type TargetVersions = z.infer<typeof hostTargets>;

/** The deploy command's stdin: exactly one JSON object of two release tags. */
export function targetsStdin(targets: TargetVersions): string {
  return JSON.stringify(
    hostTargets.parse({
      openclaw: parseReleaseTag(targets.openclaw, "openclaw"),
      runtimeService: parseReleaseTag(targets.runtimeService, "runtimeService"),
    }),
  );
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
