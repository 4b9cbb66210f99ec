import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bakeGate, batchGate, healthGate, type GateThresholds, type RuntimeOutcome } from "../../fleet/gates";

const t: GateThresholds = { maxBatchFailurePercent: 20, pauseOnFailurePercent: 5, minHealthyPercent: 95, autoRollback: true };
const ok = (id: string): RuntimeOutcome => ({ accountId: id, deployed: true, healthy: true, versionMatches: true });
const failedDeploy = (id: string): RuntimeOutcome => ({ accountId: id, deployed: false, error: "pull failed" });

describe("batch gate", () => {
  it("halts when a batch's failure rate exceeds --max-batch-failure, rolling back the failed", () => {
    const d = batchGate({ kind: "batch", outcomes: [ok("a"), ok("b"), ok("c"), failedDeploy("d")], processed: 5, failedSoFar: 1 }, t);
    expect(d.action).toBe("halt");
    expect(d.rollback).toEqual(["d"]);
    expect(d.reason).toMatch(/25% exceeds --max-batch-failure 20%.*d: pull failed/);
  });

  it("goes on at 30% (and pauses only past --pause-on-failure)", () => {
    const outcomes = [ok("a"), ok("b"), ok("c"), failedDeploy("d")];
    const lenient = { ...t, maxBatchFailurePercent: 30, pauseOnFailurePercent: 50 };
    expect(batchGate({ kind: "batch", outcomes, processed: 5, failedSoFar: 1 }, lenient).action).toBe("continue");
    expect(batchGate({ kind: "batch", outcomes, processed: 5, failedSoFar: 1 }, { ...lenient, pauseOnFailurePercent: 5 }).action).toBe("pause");
  });

  it("halts on any canary failure; never rolls back without --auto-rollback", () => {
    const outcomes = [{ accountId: "c", deployed: true, healthy: false }];
    expect(batchGate({ kind: "canary", outcomes, processed: 1, failedSoFar: 1 }, t)).toMatchObject({ action: "halt", rollback: ["c"] });
    expect(batchGate({ kind: "canary", outcomes, processed: 1, failedSoFar: 1 }, { ...t, autoRollback: false }).rollback).toEqual([]);
  });

  it("never continues past a failure rate above the threshold (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 50 }), fc.integer({ min: 0, max: 100 }), (fails, max) => {
        const outcomes = fails.map((f, i) => (f ? failedDeploy(`r${i}`) : ok(`r${i}`)));
        const failed = fails.filter(Boolean).length;
        const d = batchGate({ kind: "batch", outcomes, processed: outcomes.length, failedSoFar: failed }, { ...t, maxBatchFailurePercent: max, pauseOnFailurePercent: 100 });
        expect(d.failed).toHaveLength(failed);
        expect(d.action === "halt").toBe((100 * failed) / outcomes.length > max);
      }),
    );
  });
});

describe("health gate", () => {
  it("waits while the fleet is below --min-healthy, then halts", () => {
    expect(healthGate({ healthy: 19, total: 20, waits: 0, maxWaits: 3 }, t).action).toBe("continue");
    expect(healthGate({ healthy: 18, total: 20, waits: 0, maxWaits: 3 }, t).action).toBe("wait");
    const halted = healthGate({ healthy: 18, total: 20, waits: 3, maxWaits: 3 }, t);
    expect(halted.action).toBe("halt");
    expect(halted.reason).toMatch(/90% \(18\/20\) is below --min-healthy 95%/);
  });
});

describe("bake gate", () => {
  it("halts and rolls back a canary that turned unhealthy during the bake", () => {
    const probes = new Map([["c", [{ at: 1, healthy: true, versionMatches: true }, { at: 2, healthy: false, versionMatches: true, error: "503" }]]]);
    expect(bakeGate(["c"], probes, t)).toMatchObject({ action: "halt", rollback: ["c"], reason: "canary failed: c: 503 during the bake" });
    expect(bakeGate(["c"], new Map([["c", [{ at: 1, healthy: true, versionMatches: true }]]]), t).action).toBe("continue");
  });
});
