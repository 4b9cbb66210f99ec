import { PlanError } from "../fleet/plan";
import { UnitError } from "../fleet/units";
import { InvalidVersionError } from "../fleet/versions";

// Exit codes of the `fleet` CLI: 0 success, 1 the operation failed or was halted, 2 bad input.
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad input: reported with exit 2, and nothing was changed. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The operation ran and failed (or was halted, or refused for a reason other than bad input). */
export class OperationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OperationError";
  }
}

/** Bad input from any room (the CLI's and dashboard's own checks, fleet/'s planning, durations, versions): exit 2, HTTP 400. */
export function isBadInput(err: unknown): boolean {
  return err instanceof UsageError || err instanceof PlanError || err instanceof UnitError || err instanceof InvalidVersionError;
}
