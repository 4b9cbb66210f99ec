// @vitest-environment edge-runtime
// The Convex validators are derived from protocol/ (zodToConvex): here the derived validator of
// the events (ingest's args, run by convex-test's own validator code) and the zod schema are
// shown to agree on accept/refuse over fast-check samples: valid events of every type, and
// the same events with a field dropped, an undeclared field added, or a value of another type.
// Refinements (id patterns, tags, lengths) have no Convex validator; the HTTP action parses with
// the zod schema first, so they are not sampled here (protocolBoundary.test.ts covers them).
// convex-test's validator has no case for v.record (it accepts any value there), so the two
// record fields (alert details, gate measures) are not mutated: that would test convex-test.
import fc from "fast-check";
import { expect, test } from "vitest";
import { internal } from "./_generated/api";
import { fleetEventSchema } from "../protocol/events";
import { initConvexTest } from "./test.setup";

const release = { openclaw: "v1.2.5", runtimeService: "v0.5.2" };
const obs = { stack: "prod", accountId: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online", metrics: { errorRate: 1 }, pin: null, isCanary: false };
const upgrade = { eventId: "u1", stack: "prod", accountId: "acme", rolloutId: "ro_abc123", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", fromRuntimeService: "v0.5.0", toRuntimeService: "v0.5.2", status: "success", startedAt: 1, initiatedBy: "hook", executor: "pulumi", error: "none" };
const holder = { pid: 1, host: "ci", user: "alice", startedAt: 1, rolloutId: "ro_abc123" };
const alert = { key: "k", rule: "health_degraded", severity: "medium", stack: "prod", accountId: "acme", message: "m", details: { a: 1, b: null } };
const VALID: Record<string, unknown>[] = [
  { id: "1", type: "runtime.upsert", runtimes: [obs] },
  { id: "2", type: "runtime.pending", stack: "prod", accountId: "acme", pending: { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: 1, initiatedBy: "t", strategy: "rolling", deadline: 5 } },
  { id: "3", type: "upgrade.started", stack: "prod", accountId: "acme", targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", strategy: "canary", initiatedBy: "alice", at: 3 },
  { id: "4", type: "upgrade.result", upgrade },
  {
    id: "5",
    type: "rollout.created",
    rollout: {
      rolloutId: "ro_abc123", stack: "prod", target: release, strategy: "canary", initiatedBy: "alice", reason: "why", batches: [["acme"], ["beta"]], previous: [[release], [release]], status: "running", createdAt: 1,
      options: { waitSeconds: 60, bakeMinutes: 30, maxBatchFailurePercent: 20, pauseOnFailurePercent: 5, minHealthyPercent: 95, autoRollback: true, skipUpgraded: false, allowDowngrade: false, batch: "10%", ramp: "1,50%", canary: "acme", source: "dashboard" },
    },
  },
  { id: "6", type: "rollout.updated", rolloutId: "ro_abc123", patch: { status: "paused", currentBatch: 1, runtimeStates: [{ accountId: "acme", state: "failed", error: "e" }], gate: { at: 1, batch: 0, decision: "go", reason: "r", measures: { failed: 0 } }, statusReason: "s", at: 2 } },
  { id: "7", type: "rollout.lock", stack: "prod", holder },
  { id: "8", type: "rollout.unlock", stack: "prod", holder: { pid: 1, host: "ci" }, mode: "break" },
  { id: "9", type: "alert.open", alert },
  { id: "10", type: "alert.update", alert },
  { id: "11", type: "alert.close", key: "k" },
  { id: "12", type: "activity", activity: { actor: "alice", action: "note", message: "hi", stack: "prod", at: 1 } },
];

type Json = unknown;
/** Every path to a value inside `v` (objects and arrays). */
const RECORD_FIELDS = new Set(["details", "measures"]);
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (prefix.some((k) => typeof k === "string" && RECORD_FIELDS.has(k))) return [];
  if (Array.isArray(v)) return v.flatMap((x, i) => [[...prefix, i], ...paths(x, [...prefix, i])]);
  if (typeof v === "object" && v !== null) {
    return Object.entries(v).flatMap(([k, x]) => [...(RECORD_FIELDS.has(k) ? [] : [[...prefix, k]]), ...paths(x, [...prefix, k])]);
  }
  return [];
}
type Mutation = { kind: "none" } | { kind: "drop"; at: number } | { kind: "add"; at: number } | { kind: "retype"; at: number; value: number };
const OTHER_TYPES: Json[] = [42, null, true, [], {}, "x"];

function mutate(event: Record<string, unknown>, m: Mutation): Json {
  const copy = structuredClone(event) as Record<string, unknown>;
  if (m.kind === "none") return copy;
  const all = paths(copy).filter((p) => m.kind !== "drop" || typeof p[p.length - 1] === "string");
  if (m.kind === "add") {
    const objects = [[] as (string | number)[], ...all].filter((p) => {
      const target = p.reduce<Json>((o, k) => (o as Record<string | number, Json>)[k], copy);
      return typeof target === "object" && target !== null && !Array.isArray(target);
    });
    const p = objects[m.at % objects.length]!;
    const target = p.reduce<Json>((o, k) => (o as Record<string | number, Json>)[k], copy) as Record<string, Json>;
    target.undeclared = 1;
    return copy;
  }
  if (all.length === 0) return copy;
  const p = all[m.at % all.length]!;
  const parent = p.slice(0, -1).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k], copy) as Record<string | number, Json>;
  const key = p[p.length - 1]!;
  if (m.kind === "drop") {
    delete parent[key];
    return copy;
  }
  const original = parent[key];
  // A string for a string would test refinements, which Convex validators do not carry.
  // A string where null stood (a nullable string, `pin: null`) would likewise reach the refinement.
  const choices = OTHER_TYPES.filter((x) => typeof x !== typeof original || (Array.isArray(x) !== Array.isArray(original)) || (x === null) !== (original === null)).filter((x) => !(original === null && typeof x === "string"));
  parent[key] = choices[m.value % choices.length];
  return copy;
}

const mutation = fc.oneof(
  fc.constant<Mutation>({ kind: "none" }),
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("add" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("retype" as const), at: fc.nat(), value: fc.nat() }),
);

async function convexAccepts(t: ReturnType<typeof initConvexTest>, event: Json, n: number): Promise<boolean> {
  try {
    await t.mutation(internal.http.ingest, { signature: `sig-${n}`, actor: "key:default", event: event as never });
    return true;
  } catch (e) {
    // Argument validation runs before the handler; anything the handler refuses passed it.
    return !String((e as Error).message).startsWith("Validator error");
  }
}

test("the derived Convex validator and the zod schema agree on every sampled event", { timeout: 120_000 }, async () => {
  const t = initConvexTest();
  let n = 0;
  const seen = { accepted: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: VALID.length - 1 }), mutation, async (which, m) => {
      const sample = mutate(VALID[which]!, m);
      const zodOk = fleetEventSchema.safeParse(sample).success;
      const convexOk = await convexAccepts(t, sample, n++);
      seen[zodOk ? "accepted" : "refused"]++;
      expect({ sample, convexOk }).toEqual({ sample, convexOk: zodOk });
    }),
    { numRuns: 400 },
  );
  // Both outcomes were sampled, so agreement is not vacuous.
  expect(seen.accepted).toBeGreaterThan(20);
  expect(seen.refused).toBeGreaterThan(20);
});
