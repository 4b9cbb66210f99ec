// The per-stack lease, compare-and-set and fenced: taken when free or expired, with the next
// generation (one more for each new holder, kept after the lease is released); renewed by its
// holder's heartbeat; removed only when the caller names its current holder. A rollout write
// carrying an older generation than the record's or the lease's is refused (fenceRollout).
import type { ActivityRecord, LockHolder, LockResult } from "../types";
import { ACTIVITY_FOR } from "./activities";
import { clean, conflict } from "./errors";

/** What a store keeps per stack: the holder (none once released) and the newest generation given out. */
export interface LeaseRow {
  holder: LockHolder | null;
  generation: number;
}

const sameHolder = (a: Pick<LockHolder, "pid" | "host">, b: Pick<LockHolder, "pid" | "host">) => a.pid === b.pid && a.host === b.host;

/** A lease past its expiry (a holder without one, from an older version, never expires). */
export function leaseExpired(h: LockHolder, now: number): boolean {
  return h.expiresAt !== undefined && h.expiresAt <= now;
}

/** `write`: the row to store (null = leave it as it is). */
export function acquireLock(row: LeaseRow, stack: string, holder: LockHolder, now: number): { result: LockResult; write: LeaseRow | null; activity: ActivityRecord | null } {
  const current = row.holder;
  const ours = current !== null && sameHolder(current, holder) && current.rolloutId === holder.rolloutId;
  // A heartbeat (generation given) extends the lease only while that generation holds it.
  if (holder.generation !== undefined && (!ours || current.generation !== holder.generation)) return { result: { ok: false, holder: current }, write: null, activity: null };
  if (ours) {
    const leaseSeconds = holder.leaseSeconds ?? current.leaseSeconds;
    const renewed = clean({ ...current, leaseSeconds, expiresAt: leaseSeconds !== undefined ? now + leaseSeconds * 1000 : undefined });
    return { result: { ok: true, holder: renewed }, write: { holder: renewed, generation: row.generation }, activity: null };
  }
  if (current === null || leaseExpired(current, now)) {
    const generation = row.generation + 1;
    const h = clean({ ...holder, generation, expiresAt: holder.leaseSeconds !== undefined ? now + holder.leaseSeconds * 1000 : undefined });
    const activity = current === null ? ACTIVITY_FOR.lockTaken(stack, h, now) : ACTIVITY_FOR.leaseTakenOver(stack, h, current, now);
    return { result: { ok: true, holder: h }, write: { holder: h, generation }, activity };
  }
  return { result: { ok: false, holder: current }, write: null, activity: null };
}

/** `write`: the row once the holder is gone (its generation stays). */
export function removeLock(row: LeaseRow, stack: string, expected: Pick<LockHolder, "pid" | "host">, mode: "release" | "break", now: number): { removed: boolean; write: LeaseRow | null; activity: ActivityRecord | null } {
  const current = row.holder;
  if (current === null || !sameHolder(current, expected)) return { removed: false, write: null, activity: null };
  return { removed: true, write: { holder: null, generation: row.generation }, activity: ACTIVITY_FOR.lockRemoved(stack, current, mode, now) };
}

/** A stored holder row as a lease row: an older lock carries no generation (0). */
export function leaseRowOf(holder: LockHolder | null | undefined, generation: number | undefined): LeaseRow {
  return { holder: holder ?? null, generation: Math.max(generation ?? 0, holder?.generation ?? 0) };
}

/**
 * The fence: a write from an orchestrator whose generation is older than the record's (its
 * successor wrote) or the stack lease's (its successor took over) is refused, so a stale
 * orchestrator cannot overwrite the one that replaced it. Writes without a generation (a pause
 * asked for by a person, a host's result) are not an orchestrator's and pass.
 */
export function fenceRollout(rollout: { rolloutId: string; generation?: number | undefined }, lease: LeaseRow | null, generation: number | undefined): void {
  if (generation === undefined) return;
  const newest = Math.max(rollout.generation ?? 0, lease?.generation ?? 0);
  if (generation < newest) {
    const who = lease?.holder && lease.holder.generation === newest ? ` (held by ${lease.holder.user}@${lease.holder.host}, pid ${lease.holder.pid})` : "";
    conflict(`stale write to rollout ${rollout.rolloutId}: generation ${generation} was taken over by generation ${newest}${who}`);
  }
}
