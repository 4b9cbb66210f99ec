// The rollout record: created with one pending row per batched runtime, patched through the
// lifecycle state machine (lifecycle.ts), its per-runtime states and counts kept in step.
import { isRolloutId } from "../../fleet/ids";
import { upsertStep } from "../../fleet/steps";
import {
  MAX_GATE_DECISIONS,
  MAX_RECORDED_ANALYSES,
  MAX_RECORDED_STEPS,
  type ActivityRecord,
  type Release,
  type RolloutCounts,
  type RolloutInput,
  type RolloutPatch,
  type RolloutRecord,
  type RolloutRuntimeState,
  type RuntimeRolloutState,
  type UpgradeResult,
} from "../types";
import { ACTIVITY_FOR } from "./activities";
import { clean, invalid, notFound } from "./errors";
import { fenceRollout, type LeaseRow } from "./lease";
import { isTerminal, nextStatus } from "./lifecycle";
import { batchAccounts, checkAccountId, checkStackName, checkTag } from "./validation";

export { MAX_GATE_DECISIONS };

/** A runtime's rollout state after an upgrade result. */
export const ROLLOUT_STATE_FOR_RESULT: Record<UpgradeResult, RuntimeRolloutState> = {
  success: "succeeded",
  noop: "succeeded",
  failed: "failed",
  rolled_back: "rolled_back",
};

export const COUNT_FIELD: Record<RuntimeRolloutState, Exclude<keyof RolloutCounts, "total">> = {
  pending: "pending",
  upgrading: "upgrading",
  succeeded: "succeeded",
  failed: "failed",
  rolled_back: "rolledBack",
  skipped: "skipped",
};

export type RuntimeStateChange = { accountId: string; state: RuntimeRolloutState; error?: string };

/** RolloutInput.previous (shaped like its batches) by account id. */
export function previousByAccount(input: Pick<RolloutInput, "batches" | "previous">): Map<string, Release> {
  const out = new Map<string, Release>();
  input.batches.forEach((ids, b) =>
    ids.forEach((id, i) => {
      const p = input.previous?.[b]?.[i];
      if (p) out.set(id, p);
    }),
  );
  return out;
}

/** Checks a new rollout (before the caller looks for an existing one with its id). */
export function checkRolloutInput(input: RolloutInput): string[] {
  if (!isRolloutId(input.rolloutId)) invalid(`${JSON.stringify(input.rolloutId)} is not a rollout id (ro_ + 6..40 of a-z0-9)`);
  checkStackName("stack", input.stack);
  checkTag("target.openclaw", input.target.openclaw);
  checkTag("target.runtimeService", input.target.runtimeService);
  const { accounts, problem } = batchAccounts(input.batches);
  if (problem !== null) invalid(problem);
  return accounts;
}

/** A new rollout: its record, one pending row per batched runtime, and its activity. Idempotent by id: the caller returns an existing record unchanged. */
export function createRollout(input: RolloutInput, now: number): { rollout: RolloutRecord; runtimes: RolloutRuntimeState[]; activity: ActivityRecord } {
  const accounts = checkRolloutInput(input);
  const at = input.createdAt ?? now;
  const status = input.status ?? "planned";
  const rollout: RolloutRecord = clean({
    rolloutId: input.rolloutId,
    stack: input.stack,
    target: input.target,
    strategy: input.strategy,
    options: clean(input.options),
    initiatedBy: input.initiatedBy,
    reason: input.reason,
    batches: input.batches,
    status,
    currentBatch: 0,
    gates: [],
    counts: { total: accounts.length, pending: accounts.length, upgrading: 0, succeeded: 0, failed: 0, rolledBack: 0, skipped: 0 },
    createdAt: at,
    updatedAt: at,
    startedAt: status === "running" ? at : undefined,
    completedAt: isTerminal(status) ? at : undefined,
    lastProgressAt: at,
    generation: input.generation,
  });
  const from = previousByAccount(input);
  const runtimes = accounts.map((accountId): RolloutRuntimeState => clean({ accountId, state: "pending" as const, updatedAt: at, from: from.get(accountId) }));
  return { rollout, runtimes, activity: ACTIVITY_FOR.rolloutCreated(rollout, now) };
}

/**
 * Per-runtime states set inside a rollout, counts kept in step. `current` holds the rows of the
 * accounts named in `changes` (absent: a runtime not batched, added). Returns the rows to write.
 */
export function setRuntimeStates(
  rollout: RolloutRecord | null,
  rolloutId: string,
  current: ReadonlyMap<string, RolloutRuntimeState>,
  changes: readonly RuntimeStateChange[],
  at: number,
): { rollout: RolloutRecord; runtimes: RolloutRuntimeState[] } {
  if (rollout === null) notFound(`no rollout ${rolloutId}`);
  for (const s of changes) checkAccountId("runtimeStates.accountId", s.accountId);
  const counts = { ...rollout.counts };
  const rows = new Map(current);
  for (const s of changes) {
    const prev = rows.get(s.accountId);
    if (prev) counts[COUNT_FIELD[prev.state]] -= 1;
    else counts.total += 1;
    counts[COUNT_FIELD[s.state]] += 1;
    rows.set(s.accountId, clean({ accountId: s.accountId, state: s.state, error: s.error || undefined, updatedAt: at, from: prev?.from }));
  }
  const written = [...new Set(changes.map((c) => c.accountId))].map((a) => rows.get(a)!);
  return { rollout: { ...rollout, counts, updatedAt: Math.max(rollout.updatedAt, at), lastProgressAt: Math.max(rollout.lastProgressAt, at) }, runtimes: written };
}

/**
 * A patch of the record (its runtime states go through setRuntimeStates first): the status moves
 * only as the lifecycle allows (a finished rollout is final: RolloutTransitionError), the batch
 * stays within its bounds, the gate log keeps the newest MAX_GATE_DECISIONS, the step list the
 * newest MAX_RECORDED_STEPS. A pause records since when; running again clears it.
 */
export function patchRollout(rollout: RolloutRecord | null, rolloutId: string, patch: Omit<RolloutPatch, "runtimeStates">, now: number): RolloutRecord {
  if (rollout === null) notFound(`no rollout ${rolloutId}`);
  const at = patch.at ?? now;
  const next: RolloutRecord = { ...rollout, updatedAt: Math.max(rollout.updatedAt, at) };
  if (patch.generation !== undefined) next.generation = Math.max(rollout.generation ?? 0, patch.generation);
  if (patch.status !== undefined && patch.status !== rollout.status) {
    next.status = nextStatus(rollout, patch.status);
    next.lastProgressAt = Math.max(rollout.lastProgressAt, at);
    if (next.status === "running" && rollout.startedAt === undefined) next.startedAt = at;
    if (isTerminal(next.status)) next.completedAt = at;
    if (next.status === "paused") next.pausedAt = at;
    else delete next.pausedAt;
  }
  if (patch.step !== undefined) next.steps = upsertStep(rollout.steps ?? [], clean(patch.step), MAX_RECORDED_STEPS, MAX_RECORDED_ANALYSES);
  if (patch.stepIndex !== undefined) next.stepIndex = patch.stepIndex;
  if (patch.currentBatch !== undefined && patch.currentBatch !== rollout.currentBatch) {
    if (!(Number.isInteger(patch.currentBatch) && patch.currentBatch >= 0 && patch.currentBatch <= rollout.batches.length)) {
      invalid(`currentBatch ${patch.currentBatch} is outside 0..${rollout.batches.length}`);
    }
    next.currentBatch = patch.currentBatch;
    next.lastProgressAt = Math.max(rollout.lastProgressAt, at);
  }
  if (patch.gate !== undefined) next.gates = [...rollout.gates, clean(patch.gate)].slice(-MAX_GATE_DECISIONS);
  if (patch.statusReason !== undefined) next.statusReason = patch.statusReason;
  return next;
}

/**
 * A patch as one transition: its runtime states (setRuntimeStates) then the rest (patchRollout).
 * `current` holds the rows of the accounts its runtime states name. Returns the record and the
 * rows to write, so each adapter reads once and writes once.
 */
export function updateRollout(
  rollout: RolloutRecord | null,
  rolloutId: string,
  current: ReadonlyMap<string, RolloutRuntimeState>,
  patch: RolloutPatch,
  now: number,
  /** The lease of the rollout's stack (the fence reads its generation). */
  lease: LeaseRow | null = null,
): { rollout: RolloutRecord; runtimes: RolloutRuntimeState[] } {
  if (rollout === null) notFound(`no rollout ${rolloutId}`);
  fenceRollout(rollout, lease, patch.generation);
  const { runtimeStates, ...rest } = patch;
  let record = rollout;
  let runtimes: RolloutRuntimeState[] = [];
  if (runtimeStates && runtimeStates.length > 0) ({ rollout: record, runtimes } = setRuntimeStates(record, rolloutId, current, runtimeStates, rest.at ?? now));
  return { rollout: patchRollout(record, rolloutId, rest, now), runtimes };
}

/**
 * What an upgrade's start or result does to its rollout's per-runtime state: nothing outside a
 * rollout; the adapters skip a rollout they do not hold (a late report about a removed run).
 */
export interface RolloutStateWrite {
  rolloutId: string;
  changes: RuntimeStateChange[];
  at: number;
}

export function rolloutStateOnStart(start: { rolloutId?: string | undefined; accountId: string }, at: number): RolloutStateWrite | null {
  return start.rolloutId === undefined ? null : { rolloutId: start.rolloutId, changes: [{ accountId: start.accountId, state: "upgrading" }], at };
}

export function rolloutStateOnResult(ev: { rolloutId?: string | undefined; accountId: string; status: UpgradeResult; error?: string | undefined; completedAt?: number | undefined }, now: number): RolloutStateWrite | null {
  if (ev.rolloutId === undefined) return null;
  return {
    rolloutId: ev.rolloutId,
    changes: [{ accountId: ev.accountId, state: ROLLOUT_STATE_FOR_RESULT[ev.status], ...(ev.error ? { error: ev.error } : {}) }],
    at: ev.completedAt ?? now,
  };
}
