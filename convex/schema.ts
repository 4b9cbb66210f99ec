import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import {
  activityFields,
  alertFields,
  runtimeFields,
  rolloutFields,
  upgradeEventFields,
  vConfigKey,
  vConfigValue,
  vLockHolder,
  vRelease,
  vRuntimeRolloutState,
} from "./validators";

export default defineSchema({
  /** v1's accounts, as far as the phase 2.1 migration reads them (v1 kept runtime fields here). */
  accounts: defineTable({
    name: v.optional(v.string()),
    /** The fleet account id (stack config `accountId`); the migration derives one when absent. */
    slug: v.optional(v.string()),
    openclawVersion: v.optional(v.string()),
    runtimeServiceVersion: v.optional(v.string()),
    dropletId: v.optional(v.string()),
    dropletIp: v.optional(v.string()),
    ipAddress: v.optional(v.string()),
    region: v.optional(v.string()),
  }),

  /** One row per runtime; identity is (stack, accountId). History lives in `upgradeEvents`. */
  runtimes: defineTable({
    ...runtimeFields,
    /** The v1 account this runtime was migrated from, if any. */
    accountDocId: v.optional(v.id("accounts")),
  })
    .index("by_account", ["accountId"])
    .index("by_stack_account", ["stack", "accountId"])
    .index("by_status", ["status"])
    .index("by_stack_status", ["stack", "status"])
    .index("by_openclaw_version", ["openclawVersion"])
    .index("by_provider_region", ["provider", "region"])
    .index("by_account_doc", ["accountDocId"]),

  /**
   * Maintained counts (per stack: total, per status, per openclaw version), updated in the same
   * mutation as every runtime write, so the overview reads a few rows instead of the fleet.
   */
  fleetCounters: defineTable({
    stack: v.string(),
    /** total/status/openclaw per stack; live (open + acknowledged) alerts by severity under stack "*". */
    dimension: v.union(v.literal("total"), v.literal("status"), v.literal("openclaw"), v.literal("alerts")),
    key: v.string(),
    count: v.number(),
  }).index("by_stack_dimension_key", ["stack", "dimension", "key"]),

  systemConfig: defineTable({
    key: vConfigKey,
    value: vConfigValue,
    updatedAt: v.number(),
    updatedBy: v.string(),
  }).index("by_key", ["key"]),

  rollouts: defineTable(rolloutFields)
    .index("by_rollout_id", ["rolloutId"])
    .index("by_stack_created", ["stack", "createdAt"])
    .index("by_stack_status", ["stack", "status"])
    .index("by_status", ["status"])
    .index("by_created", ["createdAt"]),

  /** Per-runtime state inside a rollout (kept out of the rollout doc: fleets exceed array limits). */
  rolloutRuntimes: defineTable({
    rolloutId: v.string(),
    accountId: v.string(),
    state: vRuntimeRolloutState,
    error: v.optional(v.string()),
    updatedAt: v.number(),
    /** Versions before the rollout: what a rollback of this runtime restores. */
    from: v.optional(vRelease),
  }).index("by_rollout_account", ["rolloutId", "accountId"]),

  upgradeEvents: defineTable(upgradeEventFields)
    .index("by_event_id", ["eventId"])
    .index("by_stack_account_time", ["stack", "accountId", "startedAt"])
    .index("by_stack_time", ["stack", "startedAt"])
    .index("by_rollout_time", ["rolloutId", "startedAt"])
    .index("by_time", ["startedAt"])
    .index("by_status_time", ["status", "startedAt"]),

  alerts: defineTable(alertFields)
    .index("by_key_status", ["key", "status"])
    .index("by_status_opened", ["status", "openedAt"])
    .index("by_opened", ["openedAt"])
    .index("by_stack_opened", ["stack", "openedAt"])
    .index("by_account_opened", ["accountId", "openedAt"])
    .index("by_subject_status", ["stack", "accountId", "status"])
    .index("by_rule_status", ["rule", "status"]),

  activities: defineTable(activityFields)
    .index("by_at", ["at"])
    .index("by_stack_at", ["stack", "at"])
    .index("by_account_at", ["accountId", "at"]),

  /**
   * The per-stack lease: at most one row per stack. The row stays once released (no holder) so
   * the generation keeps rising; rows of an older version have a holder and no generation (0).
   */
  rolloutLocks: defineTable({ stack: v.string(), holder: v.optional(vLockHolder), generation: v.optional(v.number()), acquiredAt: v.number() }).index("by_stack", ["stack"]),

  /** Machine events already applied, by event id, with the result returned to the first post. */
  processedEvents: defineTable({
    eventId: v.string(),
    type: v.string(),
    receivedAt: v.number(),
    result: v.optional(v.string()),
  })
    .index("by_event_id", ["eventId"])
    .index("by_received", ["receivedAt"]),

  /** Signatures seen within the accepted clock skew: a replayed request is refused. */
  replayNonces: defineTable({ signature: v.string(), seenAt: v.number() })
    .index("by_signature", ["signature"])
    .index("by_seen", ["seenAt"]),
});
