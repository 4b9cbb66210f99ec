// Rollout planning: which runtimes a fleet upgrade selects and in which batches. Pure.
import type { ResolvedRuntime, Strategy } from "./config";
import { isDowngrade, isReleaseTag, isSupported, releaseTagProblem, type ReleaseTag } from "./versions";

/** A batch size step: an absolute count (`1`) or a share of the selected runtimes (`25%`). */
export type SizeStep = { count: number } | { percent: number };

export interface PlanOptions {
  strategy: Strategy;
  /** Without runtimeService, each runtime keeps its own. */
  target: { openclaw: string; runtimeService?: string };
  /** Ramped batch sizes, the last repeating (`--ramp 1,5%,25%,100%`); default: `batchPercent`. */
  ramp?: SizeStep[];
  batchPercent: number;
  /** Overrides the runtimes marked `canary: true`. */
  canary?: string;
  /** Leave out runtimes already on the target. */
  skipUpgraded?: boolean;
  allowDowngrade?: boolean;
  minSupportedOpenclaw: string;
  /** Restrict the rollout to these runtimes (e.g. one runtime's upgrade from the dashboard). */
  only?: string[];
  /** For the estimate. */
  waitSeconds?: number;
  bakeMinutes?: number;
  deploySecondsPerBatch?: number;
}

export interface PlannedBatch {
  index: number;
  kind: "canary" | "batch";
  accountIds: string[];
}

export interface SkippedRuntime {
  accountId: string;
  reason: "pinned" | "already-on-target";
  detail: string;
}

export interface RolloutPlan {
  strategy: Strategy;
  target: { openclaw: ReleaseTag; runtimeService: ReleaseTag | undefined };
  batches: PlannedBatch[];
  skipped: SkippedRuntime[];
  /** Every planned runtime's current and target versions, keyed by account id. */
  moves: Record<string, { from: { openclaw: string; runtimeService: string }; to: { openclaw: string; runtimeService: string } }>;
  estimatedSeconds: number;
}

export class PlanError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "PlanError";
  }
}

export const DEFAULT_DEPLOY_SECONDS_PER_BATCH = 120;

/** Parses `1,5%,25%,100%` (counts and percentages, comma separated). */
export function parseRamp(text: string, field = "--ramp"): SizeStep[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === "")) {
    throw new PlanError(field, `${JSON.stringify(text)} is not a ramp (expected sizes like 1,5%,25%,100%)`);
  }
  return parts.map((p) => parseSizeStep(p, field));
}

export function parseSizeStep(text: string, field: string): SizeStep {
  const pct = /^(\d{1,3}(?:\.\d+)?)%$/.exec(text);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 0 && percent <= 100) return { percent };
  } else if (/^[1-9]\d{0,5}$/.test(text)) {
    return { count: Number(text) };
  }
  throw new PlanError(field, `${JSON.stringify(text)} is not a batch size (expected a count like 5 or a percentage like 25%)`);
}

export function stepSize(step: SizeStep, total: number): number {
  const raw = "count" in step ? step.count : Math.ceil((total * step.percent) / 100);
  return Math.max(1, raw);
}

/** Splits `ids` into consecutive batches following the steps, the last step repeating. */
export function chunkBySteps(ids: readonly string[], steps: readonly SizeStep[], total = ids.length): string[][] {
  const batches: string[][] = [];
  let at = 0;
  let stepIndex = 0;
  while (at < ids.length) {
    const step = steps[Math.min(stepIndex, steps.length - 1)] ?? { percent: 100 };
    const size = stepSize(step, total);
    batches.push(ids.slice(at, at + size));
    at += size;
    stepIndex += 1;
  }
  return batches;
}

function canaryIds(runtimes: readonly ResolvedRuntime[], options: PlanOptions): string[] {
  if (options.canary !== undefined) {
    const chosen = runtimes.find((r) => r.accountId === options.canary);
    if (!chosen) throw new PlanError("--canary", `${JSON.stringify(options.canary)} is not a runtime of this stack`);
    return [chosen.accountId];
  }
  return runtimes.filter((r) => r.canary).map((r) => r.accountId);
}

export function planRollout(runtimes: readonly ResolvedRuntime[], options: PlanOptions): RolloutPlan {
  const { target } = options;
  if (!isReleaseTag(target.openclaw)) throw new PlanError("--to", releaseTagProblem(target.openclaw));
  if (target.runtimeService !== undefined && !isReleaseTag(target.runtimeService)) {
    throw new PlanError("--runtime-service", releaseTagProblem(target.runtimeService));
  }
  if (!isSupported(target.openclaw, options.minSupportedOpenclaw)) {
    throw new PlanError(
      "--to",
      `${target.openclaw} is below the minimum supported ${options.minSupportedOpenclaw} (fleet:policy.minSupportedOpenclaw)`,
    );
  }
  const only = options.only ? new Set(options.only) : undefined;
  if (only) {
    for (const id of only) {
      const r = runtimes.find((x) => x.accountId === id);
      if (!r) throw new PlanError("--runtime", `${JSON.stringify(id)} is not a runtime of this stack`);
      if (r.pin !== undefined && r.pin !== target.openclaw) {
        throw new PlanError("--runtime", `${id} is pinned at ${r.pin} (fleet:runtimes[${r.index}].pin); unpin it first`);
      }
    }
  }
  const candidates = runtimes.filter((r) => !only || only.has(r.accountId));
  const skipped: SkippedRuntime[] = [];
  const selected: ResolvedRuntime[] = [];
  for (const r of candidates) {
    const to = { openclaw: target.openclaw, runtimeService: target.runtimeService ?? r.runtimeService };
    if (r.pin !== undefined) {
      skipped.push({ accountId: r.accountId, reason: "pinned", detail: `pinned at ${r.pin}` });
    } else if (options.skipUpgraded && r.openclaw === to.openclaw && r.runtimeService === to.runtimeService) {
      skipped.push({ accountId: r.accountId, reason: "already-on-target", detail: `already on ${to.openclaw}` });
    } else {
      selected.push(r);
    }
  }
  if (!options.allowDowngrade) {
    const down = selected.filter(
      (r) =>
        isDowngrade(r.openclaw, target.openclaw) ||
        (target.runtimeService !== undefined && isDowngrade(r.runtimeService, target.runtimeService)),
    );
    if (down.length > 0) {
      const list = down.map((r) => `${r.accountId} (${r.openclaw}/${r.runtimeService})`).join(", ");
      throw new PlanError("--to", `${target.openclaw} would downgrade ${list}; pass --allow-downgrade to consent`);
    }
  }
  if (selected.length === 0) {
    throw new PlanError("--to", `no runtime to upgrade to ${target.openclaw} (${skipped.length} skipped: pinned or already on target)`);
  }

  const steps = options.ramp ?? [{ percent: options.batchPercent }];
  const batches: PlannedBatch[] = [];
  let rest = selected.map((r) => r.accountId);
  if (options.strategy === "canary") {
    const canaries = canaryIds(runtimes, options);
    if (canaries.length === 0) {
      throw new PlanError("--strategy", "no canary configured: mark a runtime `canary: true` in fleet:runtimes or pass --canary ACCOUNT");
    }
    const selectedCanaries = canaries.filter((id) => rest.includes(id));
    if (selectedCanaries.length === 0) {
      const why = canaries.map((id) => skipped.find((s) => s.accountId === id)?.detail ?? "not selected").join(", ");
      throw new PlanError("--canary", `the canary ${canaries.join(", ")} cannot go first (${why})`);
    }
    batches.push({ index: 0, kind: "canary", accountIds: selectedCanaries });
    rest = rest.filter((id) => !selectedCanaries.includes(id));
  }
  const chunks = options.strategy === "immediate" ? (rest.length > 0 ? [rest] : []) : chunkBySteps(rest, steps, rest.length);
  for (const ids of chunks) batches.push({ index: batches.length, kind: "batch", accountIds: ids });

  const moves: RolloutPlan["moves"] = {};
  for (const r of selected) {
    moves[r.accountId] = {
      from: { openclaw: r.openclaw, runtimeService: r.runtimeService },
      to: { openclaw: target.openclaw, runtimeService: target.runtimeService ?? r.runtimeService },
    };
  }
  return {
    strategy: options.strategy,
    target: { openclaw: target.openclaw, runtimeService: target.runtimeService as ReleaseTag | undefined },
    batches,
    skipped,
    moves,
    estimatedSeconds: estimateSeconds(batches, options),
  };
}

/** Deploys run in parallel within a batch, so time grows with batches, plus the waits and the bake. */
export function estimateSeconds(batches: readonly PlannedBatch[], options: PlanOptions): number {
  const deploy = options.deploySecondsPerBatch ?? DEFAULT_DEPLOY_SECONDS_PER_BATCH;
  const wait = options.waitSeconds ?? 60;
  const bake = batches[0]?.kind === "canary" ? (options.bakeMinutes ?? 30) * 60 : 0;
  return Math.round(batches.length * deploy + Math.max(0, batches.length - 1) * wait + bake);
}

export interface MigratingCrossing {
  release: ReleaseTag;
  /** "forward": the release rewrites the state; "back": going back needs the snapshot from before it. */
  direction: "forward" | "back";
  accountIds: string[];
}

/**
 * The migrating releases (fleet:policy.migratingReleases) a rollout crosses: any release above the
 * lower and up to the higher of a runtime's current and target openclaw versions.
 */
export function migratingCrossings(moves: RolloutPlan["moves"], migratingReleases: readonly string[]): MigratingCrossing[] {
  const found = new Map<string, MigratingCrossing>();
  for (const [accountId, m] of Object.entries(moves)) {
    const back = isDowngrade(m.from.openclaw, m.to.openclaw);
    const [low, high] = back ? [m.to.openclaw, m.from.openclaw] : [m.from.openclaw, m.to.openclaw];
    for (const release of migratingReleases) {
      // low < release <= high (isDowngrade(a, b) is b < a)
      if (!isReleaseTag(release) || !isDowngrade(release, low) || isDowngrade(release, high)) continue;
      const key = `${release} ${back ? "back" : "forward"}`;
      const c = found.get(key) ?? { release: release as ReleaseTag, direction: back ? "back" : "forward", accountIds: [] };
      c.accountIds.push(accountId);
      found.set(key, c);
    }
  }
  return [...found.values()];
}
