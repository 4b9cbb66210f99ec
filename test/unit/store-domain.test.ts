// Properties of the store domain's pure transitions (the adapters' agreement is the model test's).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DomainError, RolloutTransitionError, createRollout, observeRuntime, patchRollout, setRuntimeStates } from "../../store/domain";
import type { RolloutRuntimeState, RolloutStatus, RuntimeRolloutState } from "../../store/types";

const T0 = 1_760_000_000_000;
const ids = ["a", "b", "c", "d"];
const state = fc.constantFrom<RuntimeRolloutState>("pending", "upgrading", "succeeded", "failed", "rolled_back", "skipped");

describe("rollout counts", () => {
  it("always add up to the runtimes the rollout has rows for, whatever states are set", () => {
    fc.assert(
      fc.property(fc.subarray(ids, { minLength: 1 }), fc.array(fc.record({ accountId: fc.constantFrom(...ids, "extra"), state }), { maxLength: 12 }), (batched, changes) => {
        const created = createRollout({ rolloutId: "ro_props001", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "t", batches: [batched] }, T0);
        const rows = new Map<string, RolloutRuntimeState>(created.runtimes.map((r) => [r.accountId, r]));
        let rollout = created.rollout;
        for (const c of changes) {
          const out = setRuntimeStates(rollout, rollout.rolloutId, rows, [c], T0 + 1);
          for (const r of out.runtimes) rows.set(r.accountId, r);
          rollout = out.rollout;
        }
        const { total, ...byState } = rollout.counts;
        expect(total).toBe(rows.size);
        expect(Object.values(byState).reduce((a, b) => a + b, 0)).toBe(total);
        expect(rollout.counts.succeeded).toBe([...rows.values()].filter((r) => r.state === "succeeded").length);
      }),
    );
  });
});

describe("the lifecycle through patchRollout", () => {
  const statuses: RolloutStatus[] = ["planned", "running", "paused", "halted", "completed", "aborted", "failed"];
  it("never moves a finished rollout, and names the rollout, status and action when it refuses", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...statuses), { maxLength: 8 }), (steps) => {
        let r = createRollout({ rolloutId: "ro_props002", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "t", batches: [["a"]] }, T0).rollout;
        let finishedAs: RolloutStatus | null = null;
        for (const to of steps) {
          try {
            r = patchRollout(r, r.rolloutId, { status: to }, T0 + 1);
          } catch (e) {
            expect(e).toBeInstanceOf(RolloutTransitionError);
            expect((e as Error).message).toMatch(new RegExp(`^rollout ro_props002 (is |already ended \\()${r.status}`));
          }
          if (finishedAs !== null) expect(r.status).toBe(finishedAs);
          if (["halted", "completed", "aborted", "failed"].includes(r.status)) {
            finishedAs = r.status;
            expect(r.completedAt).toBeTypeOf("number");
          }
        }
      }),
    );
  });
});

describe("observations", () => {
  it("apply in observedAt order whatever order they arrive in: the newest wins", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 6 }), (times) => {
        let row = observeRuntime(null, { stack: "prod", accountId: "a", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", observedAt: 0, healthScore: 0 }, T0)!;
        for (const t of times) row = observeRuntime(row, { stack: "prod", accountId: "a", healthScore: t % 101, observedAt: T0 + t }, T0) ?? row;
        const newest = Math.max(...times);
        expect(row.healthScore).toBe(newest % 101);
        expect(row.lastObservedAt).toBe(T0 + newest);
      }),
    );
  });

  it("refuses a first sighting without versions, naming the runtime", () => {
    expect(() => observeRuntime(null, { stack: "prod", accountId: "x" }, T0)).toThrow(DomainError);
    expect(() => observeRuntime(null, { stack: "prod", accountId: "x" }, T0)).toThrow("prod/x: a runtime seen for the first time needs openclawVersion and runtimeServiceVersion");
  });
});
