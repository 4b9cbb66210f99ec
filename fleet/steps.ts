// A rollout's plan as steps: deploy batch N, bake until T, analysis, gate, roll back, wait until
// T, done. Pure: the orchestrator (control/steps.ts) reads the record, asks here which step is
// next and how much of a timed step is left, does it and records it. The plan is derived from
// what the rollout recorded at its start (batch count, strategy, bake, wait, analysis), so it is
// the same plan in every process that resumes the rollout.

export const STEP_KINDS = ["deploy", "bake", "analysis", "gate", "rollback", "wait", "done"] as const;
export type StepKind = (typeof STEP_KINDS)[number];
/** running: started, not ended (a crash or a pause leaves it so); the others are ended. */
export const STEP_STATES = ["running", "done", "skipped", "failed"] as const;
export type StepState = (typeof STEP_STATES)[number];
/** Steps whose length is a time: they record `until`, and a resumed one keeps it. */
export const TIMED_STEPS: readonly StepKind[] = ["bake", "analysis", "wait"];

export interface PlannedStep {
  kind: StepKind;
  batch: number;
  /** Length of a timed step. */
  seconds?: number;
  /** An analysis that runs over its batch's bake (the canary's), at the same time. */
  withBake?: boolean;
}

export interface StepPlanShape {
  batches: number;
  /** The first batch is a canary (strategy canary): it bakes. */
  canary: boolean;
  bakeSeconds: number;
  waitSeconds: number;
  analysis: "off" | "observe" | "enforce";
  analysisWindowSeconds: number;
}

/** The whole plan, in order. Every batch: deploy, [bake], [analysis], gate, rollback, [wait]; then done. */
export function planSteps(shape: StepPlanShape): PlannedStep[] {
  const steps: PlannedStep[] = [];
  const analysing = shape.analysis !== "off";
  for (let b = 0; b < shape.batches; b++) {
    steps.push({ kind: "deploy", batch: b });
    const bakes = b === 0 && shape.canary && shape.bakeSeconds > 0;
    if (bakes) steps.push({ kind: "bake", batch: b, seconds: shape.bakeSeconds });
    if (analysing && bakes) steps.push({ kind: "analysis", batch: b, seconds: shape.bakeSeconds, withBake: true });
    else if (analysing && shape.analysisWindowSeconds > 0) steps.push({ kind: "analysis", batch: b, seconds: shape.analysisWindowSeconds });
    steps.push({ kind: "gate", batch: b });
    steps.push({ kind: "rollback", batch: b });
    if (b < shape.batches - 1) steps.push({ kind: "wait", batch: b, seconds: shape.waitSeconds });
  }
  steps.push({ kind: "done", batch: Math.max(0, shape.batches - 1) });
  return steps;
}

export const stepKey = (s: { kind: StepKind; batch: number }): string => `${s.kind}:${s.batch}`;

/** The plan index of a batch's deploy (where a paused gate sends the rollout back to retry it). */
export function deployIndex(plan: readonly PlannedStep[], batch: number): number {
  return plan.findIndex((s) => s.kind === "deploy" && s.batch === batch);
}

/** The next step: the plan's step at the recorded cursor, with what the record knows of it (a running step resumes). */
export function nextStep<R extends { kind: StepKind; batch: number }>(plan: readonly PlannedStep[], cursor: number, recorded: readonly R[]): { index: number; planned: PlannedStep; recorded?: R } | null {
  const planned = plan[cursor];
  if (planned === undefined) return null;
  const rec = recorded.find((r) => stepKey(r) === stepKey(planned));
  return { index: cursor, planned, ...(rec ? { recorded: rec } : {}) };
}

interface TimedStep {
  kind: StepKind;
  state: StepState;
  startedAt: number;
  until?: number | undefined;
}

/**
 * Milliseconds of a timed step still to run: from its recorded end, measured at the pause (the
 * clock stops while a rollout is paused) or now. Never negative, never more than its length.
 */
export function remainingMs(step: TimedStep, now: number, pausedAt?: number): number {
  if (step.until === undefined || step.state !== "running") return 0;
  const at = Math.min(now, pausedAt ?? now);
  return Math.max(0, Math.min(step.until - step.startedAt, step.until - at));
}

/** A timed step's end once a paused rollout resumes: what was left at the pause, from now. A crash (no pause) keeps the recorded end. */
export function resumedUntil(step: TimedStep, now: number, pausedAt?: number): number | undefined {
  if (step.until === undefined) return undefined;
  if (pausedAt === undefined) return step.until;
  return now + remainingMs(step, now, pausedAt);
}

export interface PauseView {
  reason: string;
  since: number;
  remainingSeconds?: number;
}

/** Why a paused rollout waits, since when, and (for a timed step) how long it has left to run. */
export function pauseOf(
  rollout: { status: string; statusReason?: string | undefined; pausedAt?: number | undefined; updatedAt: number; steps?: readonly TimedStep[] | undefined },
): PauseView | null {
  if (rollout.status !== "paused") return null;
  const since = rollout.pausedAt ?? rollout.updatedAt;
  const timed = (rollout.steps ?? []).filter((s) => s.state === "running" && TIMED_STEPS.includes(s.kind) && s.until !== undefined);
  const left = timed.length > 0 ? Math.max(...timed.map((s) => remainingMs(s, since, since))) : undefined;
  return { reason: rollout.statusReason ?? "paused", since, ...(left !== undefined ? { remainingSeconds: Math.ceil(left / 1000) } : {}) };
}

/** The current step of a record: the newest one still running, else the newest ended. */
export function currentStep<R extends { state: StepState }>(steps: readonly R[] | undefined): R | undefined {
  const all = steps ?? [];
  for (let i = all.length - 1; i >= 0; i--) if (all[i]!.state === "running") return all[i];
  return all[all.length - 1];
}

/**
 * A bounded step list: the step replaces the one with its key, or is appended; beyond `max`, the
 * oldest ended steps go (a running one stays). Analysis results are kept on the newest `keepAnalyses`.
 */
export function upsertStep<R extends { kind: StepKind; batch: number; state: StepState; analysis?: unknown }>(steps: readonly R[], step: R, max: number, keepAnalyses: number): R[] {
  const key = stepKey(step);
  const at = steps.findIndex((s) => stepKey(s) === key);
  const out = at >= 0 ? steps.map((s, i) => (i === at ? step : s)) : [...steps, step];
  while (out.length > max) {
    const oldest = out.findIndex((s) => s.state !== "running");
    out.splice(oldest >= 0 ? oldest : 0, 1);
  }
  let analyses = 0;
  for (let i = out.length - 1; i >= 0; i--) {
    const s = out[i]!;
    if (s.analysis === undefined) continue;
    if (++analyses > keepAnalyses) {
      const { analysis: _dropped, ...rest } = s;
      void _dropped;
      out[i] = rest as R;
    }
  }
  return out;
}

/** How a step reads in one line (status text, the dashboard). */
export function describeStep(s: { kind: StepKind; batch: number; state: StepState; until?: number | undefined; outcome?: string | undefined }, batches: number): string {
  const of = `batch ${s.batch + 1}/${batches}`;
  const what = s.kind === "done" ? "done" : s.kind === "wait" ? `wait after ${of}` : `${s.kind} ${of}`;
  return `${what} (${s.state}${s.until !== undefined && s.state === "running" ? ` until ${new Date(s.until).toISOString()}` : ""}${s.outcome ? `: ${s.outcome}` : ""})`;
}

/** The analyses a rollout recorded, oldest first (the newest few keep their numbers: upsertStep). */
export function analysesOf<A extends { at: number }>(steps: readonly { analysis?: A | undefined }[] | undefined): A[] {
  return (steps ?? []).flatMap((s) => (s.analysis ? [s.analysis] : [])).sort((a, b) => a.at - b.at);
}
