// The per-stack rollout lock, compare-and-set: taken when free (or already ours), removed only
// when the caller names its current holder.
import type { ActivityRecord, LockHolder, LockResult } from "../types";
import { ACTIVITY_FOR } from "./activities";
import { clean } from "./errors";

const sameHolder = (a: Pick<LockHolder, "pid" | "host">, b: Pick<LockHolder, "pid" | "host">) => a.pid === b.pid && a.host === b.host;

/** `write`: the holder to store (null = leave the row as it is). */
export function acquireLock(current: LockHolder | null, stack: string, holder: LockHolder, now: number): { result: LockResult; write: LockHolder | null; activity: ActivityRecord | null } {
  if (current === null) {
    const h = clean(holder);
    return { result: { ok: true, holder: h }, write: h, activity: ACTIVITY_FOR.lockTaken(stack, h, now) };
  }
  if (sameHolder(current, holder) && current.rolloutId === holder.rolloutId) return { result: { ok: true, holder: current }, write: null, activity: null };
  return { result: { ok: false, holder: current }, write: null, activity: null };
}

/** `removed`: delete the row. */
export function removeLock(current: LockHolder | null, stack: string, expected: Pick<LockHolder, "pid" | "host">, mode: "release" | "break", now: number): { removed: boolean; activity: ActivityRecord | null } {
  if (current === null || !sameHolder(current, expected)) return { removed: false, activity: null };
  return { removed: true, activity: ACTIVITY_FOR.lockRemoved(stack, current, mode, now) };
}
