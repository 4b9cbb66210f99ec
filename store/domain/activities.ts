// Activities: who did what, when. The ONE rule of which store transitions log an activity by
// themselves: a rollout recorded, the stack's lock taken, released or broken, and a system config
// value set. Everything else is logged by the operation that knows why (control/, cli/, dashboard/).
import type { ActivityInput, ActivityRecord, ConfigValue, LockHolder, RolloutRecord, SystemConfigKey } from "../types";
import { clean } from "./errors";
import { checkAccountId, checkStackName } from "./validation";

export function activityRecord(a: ActivityInput, now: number): ActivityRecord {
  if (a.stack !== undefined) checkStackName("stack", a.stack);
  if (a.accountId !== undefined) checkAccountId("accountId", a.accountId);
  return clean({ ...a, at: a.at ?? now });
}

export const ACTIVITY_FOR = {
  rolloutCreated(r: Pick<RolloutRecord, "rolloutId" | "stack" | "target" | "strategy" | "initiatedBy">, at: number): ActivityRecord {
    return { at, actor: r.initiatedBy, action: "rollout.created", message: `rollout ${r.rolloutId} of ${r.stack} to ${r.target.openclaw} (${r.strategy})`, stack: r.stack, rolloutId: r.rolloutId };
  },
  lockTaken(stack: string, holder: LockHolder, at: number): ActivityRecord {
    return { at, actor: `${holder.user}@${holder.host}`, action: "lock.acquire", message: `rollout lock of ${stack} taken (pid ${holder.pid})`, stack };
  },
  leaseTakenOver(stack: string, holder: LockHolder, was: LockHolder, at: number): ActivityRecord {
    return { at, actor: `${holder.user}@${holder.host}`, action: "lock.takeover", message: `rollout lease of ${stack} taken over (pid ${holder.pid}, generation ${holder.generation ?? 0}) from expired pid ${was.pid} on ${was.host}`, stack };
  },
  /** A release is done by its holder; a break by whoever found the holder stale (the store cannot tell who). */
  lockRemoved(stack: string, was: LockHolder, mode: "release" | "break", at: number): ActivityRecord {
    return {
      at,
      actor: mode === "release" ? `${was.user}@${was.host}` : "store",
      action: `lock.${mode}`,
      message: `rollout lock of ${stack} ${mode === "break" ? "broken" : "released"} (was pid ${was.pid} on ${was.host})`,
      stack,
    };
  },
  configSet(key: SystemConfigKey, value: ConfigValue, updatedBy: string, at: number): ActivityRecord {
    return { at, actor: updatedBy, action: "config.set", message: `${key} = ${JSON.stringify(value)}` };
  },
};
