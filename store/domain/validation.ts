// Input checks every transition shares: release tags, upgrade versions, rollout batches, config.
import { ACCOUNT_ID_EXPECTED, isAccountId, isStackName } from "../../fleet/ids";
import { isReleaseTag, releaseTagProblem } from "../../fleet/versions";
import type { ConfigValue, SystemConfigKey } from "../types";
import { invalid } from "./errors";

export function checkTag(field: string, value: string | undefined | null) {
  if (value !== undefined && value !== null && !isReleaseTag(value)) invalid(`${field}: ${releaseTagProblem(value)}`);
}

const STACK_NAME_EXPECTED = "letters, digits, '_', '.', '-', starting with a letter or digit, at most 100 characters";

// The ids' patterns (fleet/ids.ts), checked here because Convex's validators (zodToConvex) drop
// the protocol's refinements and the local store takes its input unparsed: both refuse alike.
export function checkStackName(field: string, value: string) {
  if (!isStackName(value)) invalid(`${field}: ${JSON.stringify(value)} is not a stack name (${STACK_NAME_EXPECTED})`);
}

export function checkAccountId(field: string, value: string) {
  if (!isAccountId(value)) invalid(`${field}: ${JSON.stringify(value)} is not an account id (${ACCOUNT_ID_EXPECTED})`);
}

/** A runtime's two ids (its stack and account id). */
export function checkRuntimeRef(ref: { stack: string; accountId: string }) {
  checkStackName("stack", ref.stack);
  checkAccountId("accountId", ref.accountId);
}

/** Versions in an upgrade event that are not release tags. */
export function upgradeVersionProblem(ev: { fromOpenclaw: string; toOpenclaw: string; fromRuntimeService: string; toRuntimeService: string }): string | null {
  for (const [field, value] of Object.entries({ fromOpenclaw: ev.fromOpenclaw, toOpenclaw: ev.toOpenclaw, fromRuntimeService: ev.fromRuntimeService, toRuntimeService: ev.toRuntimeService })) {
    if (!isReleaseTag(value)) return `${field}: ${releaseTagProblem(value)}`;
  }
  return null;
}

/** Checks a rollout's batches: no account twice, no batch over Convex's array limit. Returns the accounts. */
export function batchAccounts(batches: string[][]): { accounts: string[]; problem: string | null } {
  const seen = new Set<string>();
  for (const batch of batches) {
    if (batch.length > 8192) return { accounts: [], problem: "a batch holds at most 8192 runtimes" };
    for (const a of batch) {
      if (!isAccountId(a)) return { accounts: [], problem: `batches: ${JSON.stringify(a)} is not an account id (${ACCOUNT_ID_EXPECTED})` };
      if (seen.has(a)) return { accounts: [], problem: `${a} appears in more than one batch` };
      seen.add(a);
    }
  }
  return { accounts: [...seen], problem: null };
}

/** Why a system config value is refused, or null when it is fine. */
export function configProblem(key: SystemConfigKey, value: ConfigValue): string | null {
  switch (key) {
    case "latest_openclaw_version":
    case "latest_runtime_version":
    case "min_supported_openclaw":
      return isReleaseTag(value) ? null : `${key}: ${releaseTagProblem(value)}`;
    case "upgrade_strategy":
      return value === "rolling" || value === "canary" || value === "immediate" ? null : `${key}: ${JSON.stringify(value)} is not rolling, canary or immediate`;
    case "upgrade_batch_percent":
      return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 100 ? null : `${key}: ${JSON.stringify(value)} is not an integer 1..100`;
    default:
      return `unknown config key ${JSON.stringify(key)}`;
  }
}
