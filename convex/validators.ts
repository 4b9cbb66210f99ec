// Shared validators, spread into tables (schema.ts) and function args/returns. Each is derived
// from its one definition in protocol/ (zodToConvex), so the Convex functions accept exactly the
// shapes the embedded store does. Refinements (id patterns, release tags, text lengths) do not
// carry over to Convex validators: the HTTP action parses every event with the protocol schema
// first (convex/http.ts), so they are enforced on the Convex side too, by the same definition.
import { v, type Infer } from "convex/values";
import { zodToConvex, zodToConvexFields } from "convex-helpers/server/zod4";
import * as p from "../protocol/records";

export const vRuntimeStatus = zodToConvex(p.runtimeStatus);
export const vProvider = zodToConvex(p.provider);
export const vStrategy = zodToConvex(p.strategy);
export const vExecutor = zodToConvex(p.executor);
export const vRolloutStatus = zodToConvex(p.rolloutStatus);
export const vUpgradeResult = zodToConvex(p.upgradeResult);
export const vRuntimeRolloutState = zodToConvex(p.runtimeRolloutState);
export const vSeverity = zodToConvex(p.alertSeverity);
export const vAlertStatus = zodToConvex(p.alertStatus);
export const vAlertRule = zodToConvex(p.alertRule);
export const vConfigKey = zodToConvex(p.configKey);
export const vConfigValue = zodToConvex(p.configValue);
export const vDetails = zodToConvex(p.alertDetails);

/** Seed section 5 metrics; rates are percentages 0..100 (fleet/health.ts). */
export const metricsFields = zodToConvexFields(p.metricsFields);
export const vMetrics = zodToConvex(p.metrics);

export const vRelease = zodToConvex(p.release);

export const pendingUpgradeFields = zodToConvexFields(p.pendingUpgradeFields);
export const vPendingUpgrade = zodToConvex(p.pendingUpgrade);

/** A runtime row's own fields (schema `runtimes`, minus the v1 link). */
export const runtimeFields = zodToConvexFields(p.runtimeFields);
export const vRuntime = zodToConvex(p.runtimeRecord);
export type RuntimeDoc = Infer<typeof vRuntime>;

export const runtimeObservationFields = zodToConvexFields(p.runtimeObservationFields);
export const vRuntimeObservation = zodToConvex(p.runtimeObservation);
export type RuntimeObservation = Infer<typeof vRuntimeObservation>;

export const upgradeEventFields = zodToConvexFields(p.upgradeEventFields);
export const vUpgradeEvent = zodToConvex(p.upgradeEvent);
export type UpgradeEventDoc = Infer<typeof vUpgradeEvent>;

export const vRolloutOptions = zodToConvex(p.rolloutOptions);
export const vGateDecision = zodToConvex(p.gateDecision);
export const vRolloutCounts = zodToConvex(p.rolloutCounts);
export type RolloutCounts = Infer<typeof vRolloutCounts>;

export const rolloutFields = zodToConvexFields(p.rolloutFields);
export const vRollout = zodToConvex(p.rolloutRecord);
export type RolloutDoc = Infer<typeof vRollout>;

export const rolloutInputFields = zodToConvexFields(p.rolloutInputFields);
export const vRolloutInput = zodToConvex(p.rolloutInput);
export const vRolloutRuntimeState = zodToConvex(p.rolloutRuntimeState);
export const vRolloutPatch = zodToConvex(p.rolloutPatch);

export const vLockHolder = zodToConvex(p.lockHolder);
export const vLockResult = zodToConvex(p.lockResult);

export const alertInputFields = zodToConvexFields(p.alertInputFields);
export const vAlertInput = zodToConvex(p.alertInput);
export const alertFields = zodToConvexFields(p.alertFields);
export const vAlertRecord = zodToConvex(p.alertRecord);

export const activityFields = zodToConvexFields(p.activityFields);
export const vActivity = zodToConvex(p.activityRecord);
export const vActivityInput = zodToConvex(p.activityInput);

export const vConfigEntry = zodToConvex(p.systemConfigEntry);

export function vPage<T extends Parameters<typeof v.array>[0]>(item: T) {
  return v.object({ items: v.array(item), cursor: v.union(v.string(), v.null()), isDone: v.boolean() });
}

export const vStatusRow = zodToConvex(p.statusRow);
export const vVersionRow = zodToConvex(p.versionRow);
export const vRecentRollout = zodToConvex(p.recentRolloutRow);
export const vOverview = zodToConvex(p.fleetOverview);
