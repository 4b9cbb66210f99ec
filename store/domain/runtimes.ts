// A runtime's row: what an observation, an upgrade start, a pending upgrade and an upgrade result
// do to it, and which maintained counters (per stack: total, by status, by openclaw version) move.
import type { PendingUpgrade, RuntimeObservation, RuntimeRecord, UpgradeEvent, UpgradeResult, UpgradeStart } from "../types";
import { clean, invalid, notFound } from "./errors";
import { checkRuntimeRef, checkTag, upgradeVersionProblem } from "./validation";

/** Largest batch of observations one write takes (Convex: ~4 index reads each inside 4,096). */
export const MAX_OBSERVATIONS_PER_WRITE = 500;

export interface CounterDelta {
  stack: string;
  dimension: "total" | "status" | "openclaw";
  key: string;
  delta: number;
}

type Counted = Pick<RuntimeRecord, "stack" | "status" | "openclawVersion">;

/** The counter moves from `before` to `after` (null = the runtime does not exist on that side). */
export function counterDeltas(before: Counted | null, after: Counted | null): CounterDelta[] {
  const out: CounterDelta[] = [];
  if (before && after && before.stack === after.stack) {
    if (before.status !== after.status) out.push({ stack: before.stack, dimension: "status", key: before.status, delta: -1 }, { stack: after.stack, dimension: "status", key: after.status, delta: 1 });
    if (before.openclawVersion !== after.openclawVersion) out.push({ stack: before.stack, dimension: "openclaw", key: before.openclawVersion, delta: -1 }, { stack: after.stack, dimension: "openclaw", key: after.openclawVersion, delta: 1 });
    return out;
  }
  if (before) out.push({ stack: before.stack, dimension: "total", key: "all", delta: -1 }, { stack: before.stack, dimension: "status", key: before.status, delta: -1 }, { stack: before.stack, dimension: "openclaw", key: before.openclawVersion, delta: -1 });
  if (after) out.push({ stack: after.stack, dimension: "total", key: "all", delta: 1 }, { stack: after.stack, dimension: "status", key: after.status, delta: 1 }, { stack: after.stack, dimension: "openclaw", key: after.openclawVersion, delta: 1 });
  return out;
}

function checkObservation(obs: RuntimeObservation) {
  checkRuntimeRef(obs);
  checkTag("openclawVersion", obs.openclawVersion);
  checkTag("runtimeServiceVersion", obs.runtimeServiceVersion);
  checkTag("pin", obs.pin);
  if (obs.healthScore !== undefined && !(obs.healthScore >= 0 && obs.healthScore <= 100)) invalid(`healthScore ${obs.healthScore} is not within 0..100`);
}

/**
 * One observation applied to the runtime's row (null: seen for the first time). Fields left out
 * keep their value; `pin: null` clears the pin. An observation older than the newest one applied
 * (`lastObservedAt`) changes nothing (returns null): a replayed or late report never overwrites
 * newer state.
 */
export function observeRuntime(existing: RuntimeRecord | null, obs: RuntimeObservation, now: number): RuntimeRecord | null {
  checkObservation(obs);
  const at = obs.observedAt ?? now;
  const { pin, observedAt: _observedAt, stack: _stack, accountId: _accountId, ...rest } = obs;
  const fields = clean(rest);
  if (existing === null) {
    if (obs.openclawVersion === undefined || obs.runtimeServiceVersion === undefined) {
      invalid(`${obs.stack}/${obs.accountId}: a runtime seen for the first time needs openclawVersion and runtimeServiceVersion`);
    }
    return clean({
      stack: obs.stack,
      accountId: obs.accountId,
      provider: "existing" as const,
      providerId: "",
      ipAddress: "",
      region: "",
      dockerImageTag: obs.openclawVersion,
      status: "provisioning" as const,
      isCanary: false,
      ...fields,
      openclawVersion: obs.openclawVersion,
      runtimeServiceVersion: obs.runtimeServiceVersion,
      pin: pin ?? undefined,
      lastObservedAt: at,
      createdAt: at,
      updatedAt: at,
    });
  }
  if (existing.lastObservedAt !== undefined && at < existing.lastObservedAt) return null;
  const next: RuntimeRecord = { ...existing, ...fields, lastObservedAt: at, updatedAt: Math.max(existing.updatedAt, at) };
  if (pin === null) delete next.pin;
  else if (pin !== undefined) next.pin = pin;
  return next;
}

/** Checks a batch of observations as one write takes them (both adapters, before any is applied). */
export function checkObservationBatch(observations: readonly RuntimeObservation[]) {
  if (observations.length > MAX_OBSERVATIONS_PER_WRITE) invalid(`runtimes: at most ${MAX_OBSERVATIONS_PER_WRITE} runtimes per upsert (got ${observations.length})`);
  for (const obs of observations) checkObservation(obs);
}

function requireRuntime(existing: RuntimeRecord | null, stack: string, accountId: string): RuntimeRecord {
  if (existing === null) notFound(`no runtime ${stack}/${accountId}`);
  return existing;
}

/** Sets (or with null clears) the upgrade an agent-executed runtime should apply. */
export function withPendingUpgrade(existing: RuntimeRecord | null, stack: string, accountId: string, pending: PendingUpgrade | null, now: number): RuntimeRecord {
  checkRuntimeRef({ stack, accountId });
  if (pending) {
    checkTag("targetOpenclawVersion", pending.targetOpenclawVersion);
    checkTag("targetRuntimeVersion", pending.targetRuntimeVersion);
  }
  const r = requireRuntime(existing, stack, accountId);
  const next: RuntimeRecord = { ...r, updatedAt: now };
  if (pending) next.pendingUpgrade = clean(pending);
  else delete next.pendingUpgrade;
  return next;
}

/** An upgrade begins: the runtime turns `upgrading` with the upgrade pending (its rollout state: see rollouts.ts). */
export function startUpgrade(existing: RuntimeRecord | null, start: UpgradeStart, now: number): { runtime: RuntimeRecord; at: number } {
  checkRuntimeRef(start);
  checkTag("targetOpenclawVersion", start.targetOpenclawVersion);
  checkTag("targetRuntimeVersion", start.targetRuntimeVersion);
  const r = requireRuntime(existing, start.stack, start.accountId);
  const at = start.at ?? now;
  const pendingUpgrade: PendingUpgrade = clean({
    targetOpenclawVersion: start.targetOpenclawVersion,
    targetRuntimeVersion: start.targetRuntimeVersion,
    initiatedAt: at,
    initiatedBy: start.initiatedBy,
    strategy: start.strategy,
    rolloutId: start.rolloutId,
  });
  return { runtime: { ...r, status: "upgrading", pendingUpgrade, updatedAt: Math.max(r.updatedAt, at) }, at };
}

/**
 * What an upgrade result does to the runtime: success/noop land it on the target versions
 * (online), rolled_back puts it back on the source versions (online), failed keeps its versions
 * and marks it error. Always clears the pending upgrade.
 */
export function runtimeAfterUpgrade(ev: { status: UpgradeResult; fromOpenclaw: string; toOpenclaw: string; fromRuntimeService: string; toRuntimeService: string }): Pick<RuntimeRecord, "status"> & Partial<Pick<RuntimeRecord, "openclawVersion" | "runtimeServiceVersion" | "dockerImageTag">> {
  if (ev.status === "success" || ev.status === "noop") return { openclawVersion: ev.toOpenclaw, runtimeServiceVersion: ev.toRuntimeService, dockerImageTag: ev.toOpenclaw, status: "online" };
  if (ev.status === "rolled_back") return { openclawVersion: ev.fromOpenclaw, runtimeServiceVersion: ev.fromRuntimeService, dockerImageTag: ev.fromOpenclaw, status: "online" };
  return { status: "error" };
}

/** The history record of an upgrade result (checked); the caller skips it when its eventId was seen. */
export function upgradeRecord(ev: UpgradeEvent): UpgradeEvent {
  checkRuntimeRef(ev);
  const problem = upgradeVersionProblem(ev);
  if (problem !== null) invalid(problem);
  return clean(ev);
}

/** The runtime after an upgrade result (null: the runtime is not known, only history is kept). */
export function runtimeUpgraded(existing: RuntimeRecord | null, ev: UpgradeEvent, now: number): RuntimeRecord | null {
  if (existing === null) return null;
  const next: RuntimeRecord = { ...existing, ...runtimeAfterUpgrade(ev), updatedAt: Math.max(existing.updatedAt, now) };
  delete next.pendingUpgrade;
  return next;
}
