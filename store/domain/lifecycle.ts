// The rollout lifecycle as a state machine: which action moves a rollout from which status to
// which. The ONE home of "may this rollout be paused / resumed / aborted": both store adapters
// (through the store domain), the operations (control/operations.ts), the CLI and the dashboard
// ask here. A finished rollout is final; an illegal transition is an error that names the
// rollout, its status and the refused action. Pure: bundled into Convex as well as run by Node.
import type { RolloutStatus } from "../types";

export type RolloutAction = "start" | "resume" | "pause" | "halt" | "complete" | "fail" | "abort";

/** Statuses after which the run is over (completedAt is set); nothing moves them again. */
export const TERMINAL_ROLLOUT_STATUSES = ["completed", "halted", "aborted", "failed"] as const satisfies readonly RolloutStatus[];
/** Statuses in which a rollout still holds (or may resume into) its stack. */
export const ACTIVE_ROLLOUT_STATUSES = ["planned", "running", "paused"] as const satisfies readonly RolloutStatus[];

const ACTIONS: Record<RolloutStatus, Partial<Record<RolloutAction, RolloutStatus>>> = {
  planned: { start: "running", resume: "running", abort: "aborted", fail: "failed" },
  // `resume` of a running rollout is the takeover after a crash: the record still says running.
  running: { resume: "running", pause: "paused", halt: "halted", complete: "completed", fail: "failed", abort: "aborted" },
  // A pause is a request to stop after the current step: when that step ends the rollout (all
  // batches done, or a gate halts it), its outcome stands rather than the request.
  paused: { resume: "running", pause: "paused", halt: "halted", complete: "completed", abort: "aborted", fail: "failed" },
  halted: {},
  completed: {},
  aborted: {},
  failed: {},
};

/** The action that sets a status (how a status patch is read). */
export const ACTION_FOR_STATUS: Record<RolloutStatus, RolloutAction | null> = {
  planned: null,
  running: "resume",
  paused: "pause",
  halted: "halt",
  completed: "complete",
  aborted: "abort",
  failed: "fail",
};

export function isTerminal(status: RolloutStatus): boolean {
  return (TERMINAL_ROLLOUT_STATUSES as readonly RolloutStatus[]).includes(status);
}

export function isActive(status: RolloutStatus): boolean {
  return (ACTIVE_ROLLOUT_STATUSES as readonly RolloutStatus[]).includes(status);
}

export class RolloutTransitionError extends Error {
  constructor(
    readonly rolloutId: string,
    readonly status: RolloutStatus,
    readonly action: RolloutAction | "set planned",
  ) {
    super(
      isTerminal(status)
        ? `rollout ${rolloutId} already ended (${status}): cannot ${action} it`
        : `rollout ${rolloutId} is ${status}: cannot ${action} it`,
    );
    this.name = "RolloutTransitionError";
  }
}

/** The status `action` moves the rollout to; throws RolloutTransitionError when it may not. */
export function applyAction(rollout: { rolloutId: string; status: RolloutStatus }, action: RolloutAction): RolloutStatus {
  const next = ACTIONS[rollout.status][action];
  if (next === undefined) throw new RolloutTransitionError(rollout.rolloutId, rollout.status, action);
  return next;
}

/**
 * A status patch as the store receives it: the same status again is no change (idempotent, so a
 * retried write is harmless); any other status must be reachable by its action.
 */
export function nextStatus(rollout: { rolloutId: string; status: RolloutStatus }, to: RolloutStatus): RolloutStatus {
  if (to === rollout.status) return to;
  const action = ACTION_FOR_STATUS[to];
  if (action === null) throw new RolloutTransitionError(rollout.rolloutId, rollout.status, "set planned");
  return applyAction(rollout, action);
}
