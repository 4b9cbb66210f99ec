// Rollout planning: which runtimes a fleet upgrade selects and in which batches. Pure.
import type { ResolvedRuntime, Strategy } from "./config";
import { median } from "./metrics";
import { formatDuration } from "./units";
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
    estimatedSeconds: estimateSeconds(batches, options, runtimes.length),
  };
}

/** The model's estimate (no history at hand), or `deploySecondsPerBatch` for every batch when given. */
export function estimateSeconds(batches: readonly PlannedBatch[], options: PlanOptions, fleetSize: number): number {
  const per = options.deploySecondsPerBatch;
  if (per === undefined) return estimateRollout(batches, options, { fleetSize }).seconds;
  return Math.round(batches.length * per + waitsAndBake(batches, options));
}

function waitsAndBake(batches: readonly PlannedBatch[], timing: RolloutTiming): number {
  const wait = timing.waitSeconds ?? 60;
  const bake = batches[0]?.kind === "canary" ? (timing.bakeMinutes ?? 30) * 60 : 0;
  return Math.max(0, batches.length - 1) * wait + bake;
}

// The estimate --------------------------------------------------------------------------------

/** The waits a rollout spends on purpose: between batches, and the canary's bake. */
export interface RolloutTiming {
  waitSeconds?: number | undefined;
  bakeMinutes?: number | undefined;
}

/** A past rollout as its record holds it (the store's RolloutRecord fits): enough to time its batches. */
export interface PastRollout {
  rolloutId: string;
  status: string;
  strategy: string;
  startedAt?: number | undefined;
  completedAt?: number | undefined;
  batches: ReadonlyArray<readonly string[]>;
  options: RolloutTiming;
  /** The gate log: each batch's first decision is taken right after its deploy (and bake). */
  gates: ReadonlyArray<{ at: number; batch: number }>;
}

/** One past rollout's measured seconds: each batch's, and what came after the last gate. */
export interface MeasuredRollout {
  rolloutId: string;
  batches: Array<{ size: number; seconds: number }>;
  tailSeconds: number;
}

/**
 * A completed rollout's batches, timed from its record: batch i ran from the previous batch's
 * gate (the rollout's start for the first) to its own, less the wait between them (and the
 * canary's bake); what follows the last gate (its records, the end) is the tail. Undefined when
 * the record cannot say (not completed, or a batch without its gate).
 */
export function measureRollout(r: PastRollout): MeasuredRollout | undefined {
  if (r.status !== "completed" || r.startedAt === undefined || r.completedAt === undefined || r.batches.length === 0) return undefined;
  const gateAt: number[] = [];
  for (const g of r.gates) if (gateAt[g.batch] === undefined) gateAt[g.batch] = g.at;
  const wait = (r.options.waitSeconds ?? 0) * 1000;
  const bake = r.strategy === "canary" ? (r.options.bakeMinutes ?? 0) * 60_000 : 0;
  const batches: MeasuredRollout["batches"] = [];
  let previous = r.startedAt;
  for (let i = 0; i < r.batches.length; i++) {
    const at = gateAt[i];
    if (at === undefined || at < previous) return undefined;
    const spent = at - previous - (i === 0 ? bake : wait);
    batches.push({ size: r.batches[i]!.length, seconds: Math.max(0, spent) / 1000 });
    previous = at;
  }
  return { rolloutId: r.rolloutId, batches, tailSeconds: Math.max(0, r.completedAt - previous) / 1000 };
}

/**
 * The per-batch cost when nothing was measured yet, fitted to the lab (2 cores, the engine of
 * control/engine.ts: the program inline, a targeted `pulumi up` per batch, the orchestrator's
 * probes and records) at batches of 1 and 10 runtimes: a fixed part (the CLI's start, the
 * engine, probes and records) and one per runtime in the batch (its SSH session and script,
 * sharing the machine). A batch registers only itself, so the stack's size adds nothing
 * measurable (bench:scale: a 10-runtime batch costs the same at 100 and 1,000 runtimes).
 */
export const BATCH_COST_MODEL = { fixedSeconds: 1.3, perStackRuntimeSeconds: 0, perBatchRuntimeSeconds: 0.5 } as const;

export function modelBatchSeconds(fleetSize: number, batchSize: number): number {
  const m = BATCH_COST_MODEL;
  return m.fixedSeconds + m.perStackRuntimeSeconds * fleetSize + m.perBatchRuntimeSeconds * batchSize;
}

/** The newest completed rollouts an estimate reads. */
export const ESTIMATE_HISTORY = 5;

export type EstimateBasis =
  | {
      kind: "measured";
      /** The rollouts measured, newest first. */
      rollouts: string[];
      /** How many batches were measured, their median size, and their mean seconds (outliers left out). */
      batches: number;
      medianBatchSize: number;
      meanBatchSeconds: number;
      tailSeconds: number;
    }
  | { kind: "model"; fleetSize: number; model: typeof BATCH_COST_MODEL; why: string };

export interface RolloutEstimate {
  seconds: number;
  /** The CLI's own start before the first batch (its process, the stack config, the store), as the caller measured it; 0 when not given. */
  startSeconds: number;
  /** Each planned batch's deploy seconds (waits and bake not included). */
  batchSeconds: number[];
  waitSeconds: number;
  bakeSeconds: number;
  basis: EstimateBasis;
}

/**
 * How long a planned rollout takes: per batch, the mean batch of the stack's last completed
 * rollouts (a sum of batches is n times their mean; a batch over 3 times the median, one that
 * held a pause or a long health wait, is left out), scaled by the model from their median batch
 * size to this batch's; else the model;
 * plus the waits, the bake and (measured) the tail.
 */
export function estimateRollout(
  batches: readonly PlannedBatch[],
  timing: RolloutTiming,
  context: { fleetSize: number; history?: readonly PastRollout[]; noHistory?: string; startSeconds?: number },
): RolloutEstimate {
  const start = Math.max(0, context.startSeconds ?? 0);
  const measured = (context.history ?? [])
    .map(measureRollout)
    .filter((m): m is MeasuredRollout => m !== undefined)
    .slice(0, ESTIMATE_HISTORY);
  const fixed = waitsAndBake(batches, timing);
  const bakeSeconds = batches[0]?.kind === "canary" ? (timing.bakeMinutes ?? 30) * 60 : 0;
  const result = (batchSeconds: number[], tail: number, basis: EstimateBasis): RolloutEstimate => ({
    seconds: Math.round(start + batchSeconds.reduce((a, b) => a + b, 0) + tail + fixed),
    startSeconds: Math.round(start * 10) / 10,
    batchSeconds: batchSeconds.map((x) => Math.round(x * 10) / 10),
    waitSeconds: timing.waitSeconds ?? 60,
    bakeSeconds,
    basis,
  });
  if (measured.length === 0) {
    const why = context.noHistory ?? "no completed rollout of this stack recorded yet";
    return result(batches.map((b) => modelBatchSeconds(context.fleetSize, b.accountIds.length)), 0, { kind: "model", fleetSize: context.fleetSize, model: BATCH_COST_MODEL, why });
  }
  const samples = measured.flatMap((m) => m.batches);
  const size = median(samples.map((b) => b.size));
  const typical = median(samples.map((b) => b.seconds));
  const kept = samples.filter((b) => b.seconds <= 3 * typical);
  const seconds = kept.reduce((a, b) => a + b.seconds, 0) / kept.length;
  const tail = median(measured.map((m) => m.tailSeconds));
  const at = (n: number) => (seconds * modelBatchSeconds(context.fleetSize, n)) / modelBatchSeconds(context.fleetSize, size);
  return result(batches.map((b) => at(b.accountIds.length)), tail, {
    kind: "measured",
    rollouts: measured.map((m) => m.rolloutId),
    batches: samples.length,
    medianBatchSize: size,
    meanBatchSeconds: Math.round(seconds * 10) / 10,
    tailSeconds: Math.round(tail * 10) / 10,
  });
}

/** The estimate's basis in one line, for `fleet plan`. */
export function describeEstimate(e: RolloutEstimate): string {
  const b = e.basis;
  const per = e.batchSeconds.length > 0 ? `${formatSeconds(Math.min(...e.batchSeconds))}${Math.max(...e.batchSeconds) !== Math.min(...e.batchSeconds) ? `-${formatSeconds(Math.max(...e.batchSeconds))}` : ""} per batch` : "no batch";
  const extra = [
    e.startSeconds > 0 ? `${formatSeconds(e.startSeconds)} to start (as this command took)` : "",
    e.waitSeconds > 0 && e.batchSeconds.length > 1 ? `${formatSeconds(e.waitSeconds)} between batches` : "",
    e.bakeSeconds > 0 ? `${formatSeconds(e.bakeSeconds)} bake` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const tail = extra ? `; plus ${extra}` : "";
  if (b.kind === "measured") {
    return `  basis: measured: ${per} (mean ${formatSeconds(b.meanBatchSeconds)} of ${b.batches} batches of ~${b.medianBatchSize} runtimes in the last ${b.rollouts.length} completed rollout${b.rollouts.length === 1 ? "" : "s"}: ${b.rollouts.join(", ")})${tail}`;
  }
  const m = b.model;
  const stack = m.perStackRuntimeSeconds > 0 ? ` + ${m.perStackRuntimeSeconds}s x ${b.fleetSize} runtimes in the stack` : "";
  return `  basis: model (${b.why}): ${per} = ${m.fixedSeconds}s${stack} + ${m.perBatchRuntimeSeconds}s per runtime in the batch${tail}`;
}

function formatSeconds(x: number): string {
  return x < 10 ? `${Math.round(x * 10) / 10}s` : formatDuration(x);
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
