// Fleet overview aggregation (seed section 3): percentages, status breakdown, versions grouped
// with below-minimum releases collapsed by release line and flagged, rollout success rates.
// Pure: both store adapters feed it counts (Convex from maintained counters, local from SQL).
import { compareReleases, isReleaseTag, isSupported, releaseLine } from "./versions";
import { RUNTIME_STATUSES, type RuntimeStatus } from "./health";

/** Whole-number percentage of `part` in `total`; 0 when the total is 0. */
export function percent(part: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.round((Math.max(0, part) / total) * 100);
}

export interface StatusRow {
  status: RuntimeStatus;
  count: number;
  percent: number;
}

/** Every status, in display order, with its count and share (zero rows included). */
export function statusBreakdown(counts: Partial<Record<string, number>>): { total: number; rows: StatusRow[] } {
  const total = RUNTIME_STATUSES.reduce((n, s) => n + (counts[s] ?? 0), 0);
  return { total, rows: RUNTIME_STATUSES.map((status) => ({ status, count: counts[status] ?? 0, percent: percent(counts[status] ?? 0, total) })) };
}

export interface VersionRow {
  /** An exact version (`v1.2.5`), a release line (`v1.1.x`) for below-minimum versions, or `unknown`. */
  label: string;
  versions: string[];
  count: number;
  percent: number;
  belowMinimum: boolean;
}

/**
 * By OpenClaw version, newest first. Supported versions are listed one by one; versions below
 * `minSupported` are grouped by release line (`v1.1.x`) and flagged; anything that is not a
 * release tag is grouped as `unknown` and flagged when a minimum is known.
 */
export function versionBreakdown(counts: Record<string, number>, opts: { minSupported?: string } = {}): VersionRow[] {
  const min = opts.minSupported !== undefined && isReleaseTag(opts.minSupported) ? opts.minSupported : undefined;
  const total = Object.values(counts).reduce((n, c) => n + Math.max(0, c), 0);
  const rows = new Map<string, VersionRow>();
  for (const [version, count] of Object.entries(counts)) {
    if (!(count > 0)) continue;
    const valid = isReleaseTag(version);
    const below = min !== undefined && (!valid || !isSupported(version, min));
    const label = !valid ? "unknown" : below ? releaseLine(version) : version;
    const row = rows.get(label) ?? { label, versions: [], count: 0, percent: 0, belowMinimum: below };
    row.versions.push(version);
    row.count += count;
    rows.set(label, row);
  }
  const sortKey = (row: VersionRow) => row.versions.filter(isReleaseTag).sort(compareReleases).at(-1);
  return [...rows.values()]
    .map((r) => ({ ...r, versions: [...r.versions].sort(), percent: percent(r.count, total) }))
    .sort((a, b) => {
      const ka = sortKey(a);
      const kb = sortKey(b);
      if (ka === undefined) return kb === undefined ? a.label.localeCompare(b.label) : 1;
      if (kb === undefined) return -1;
      return compareReleases(kb, ka);
    });
}

export interface RolloutOutcomeCounts {
  total: number;
  succeeded: number;
  failed: number;
  rolledBack: number;
}

export interface RolloutSummaryRow {
  successRate: number;
  failureRate: number;
  /** Completed minus started, or now minus started for a rollout still going; undefined before it starts. */
  durationMs?: number;
}

/**
 * Success rate over the runtimes that finished (succeeded + failed + rolled back); failures
 * include rollbacks. Both are whole percentages summing to 100 when anything finished.
 */
export function rolloutSummary(
  counts: RolloutOutcomeCounts,
  times: { startedAt?: number; completedAt?: number; now: number },
): RolloutSummaryRow {
  const failed = counts.failed + counts.rolledBack;
  const finished = counts.succeeded + failed;
  const successRate = percent(counts.succeeded, finished);
  const row: RolloutSummaryRow = { successRate, failureRate: finished > 0 ? 100 - successRate : 0 };
  if (times.startedAt !== undefined) row.durationMs = Math.max(0, (times.completedAt ?? times.now) - times.startedAt);
  return row;
}

/** Adds count maps (per-stack counters into a fleet-wide one). */
export function mergeCounts(...maps: Partial<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, n] of Object.entries(m)) if (n) out[k] = (out[k] ?? 0) + n;
  return out;
}
