// The leaves every boundary shape is built from: ids with the one pattern each (fleet/ids.ts),
// release tags (fleet/versions.ts), bounded text and numbers. A refusal names the value.
import { z } from "zod";
import { ACCOUNT_ID_EXPECTED, isAccountId, isRolloutId, isStackName } from "../fleet/ids";
import { isReleaseTag, releaseTagProblem } from "../fleet/versions";

/** Longest free text kept in a record: names and labels, one-line reasons, messages, error texts. */
export const MAX_NAME = 200;
export const MAX_REASON = 500;
export const MAX_MESSAGE = 2_000;
export const MAX_ERROR = 8_192;

const shown = (value: unknown) => JSON.stringify(value)?.slice(0, 80) ?? String(value);

export const stackName = z
  .string()
  .refine(isStackName, { error: (iss) => `${shown(iss.input)} is not a stack name (letters, digits, '_', '.', '-', starting with a letter or digit, at most 100 characters)` });
export const accountId = z.string().refine(isAccountId, { error: (iss) => `${shown(iss.input)} is not an account id (${ACCOUNT_ID_EXPECTED})` });
export const rolloutId = z.string().refine(isRolloutId, { error: (iss) => `${shown(iss.input)} is not a rollout id (ro_ + 6..40 of a-z0-9)` });
// Typed as a plain string: records hold tags as the stores return them, not the branded ReleaseTag.
export const releaseTag = z.string().refine((v): boolean => isReleaseTag(v), { error: (iss) => releaseTagProblem(iss.input) });
/** Event and upgrade ids: opaque, chosen by the writer. */
export const eventId = z.string().min(1).max(MAX_NAME);

export const text = (max: number) => z.string().max(max);
export const name = text(MAX_NAME);
/** Epoch milliseconds, counts, measures: finite numbers (JSON has no others anyway). */
export const num = z.number().finite();
export const nonNegative = num.min(0);
export const percent = num.min(0).max(100);
