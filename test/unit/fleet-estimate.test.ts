// fleet plan's estimate: batches timed from past rollouts' records, the model when there are none.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BATCH_COST_MODEL,
  describeEstimate,
  estimateRollout,
  measureRollout,
  modelBatchSeconds,
  type PastRollout,
  type PlannedBatch,
} from "../../fleet/plan";

const batchesOf = (sizes: readonly number[], canary = false): PlannedBatch[] =>
  sizes.map((n, index) => ({ index, kind: canary && index === 0 ? "canary" : "batch", accountIds: Array.from({ length: n }, (_, i) => `r${index}-${i}`) }));

/** A completed rollout whose batch i took `seconds[i]` of deploy, as the orchestrator records it. */
function pastRollout(seconds: readonly number[], o: { waitSeconds?: number; bakeMinutes?: number; canary?: boolean; tail?: number; sizes?: number[]; id?: string } = {}): PastRollout {
  const start = 1_700_000_000_000;
  let at = start;
  const gates = seconds.map((s, batch) => {
    at += s * 1000 + (batch === 0 ? (o.canary ? (o.bakeMinutes ?? 0) * 60_000 : 0) : (o.waitSeconds ?? 0) * 1000);
    return { at, batch, decision: "go" };
  });
  return {
    rolloutId: o.id ?? "ro_past",
    status: "completed",
    strategy: o.canary ? "canary" : "rolling",
    startedAt: start,
    completedAt: at + (o.tail ?? 0) * 1000,
    batches: seconds.map((_, i) => Array.from({ length: o.sizes?.[i] ?? 2 }, (_, j) => `r${i}-${j}`)),
    options: { waitSeconds: o.waitSeconds ?? 0, bakeMinutes: o.bakeMinutes ?? 0 },
    gates,
  };
}

describe("measureRollout", () => {
  it("times each batch from gate to gate, less the wait between them and the canary's bake", () => {
    const m = measureRollout(pastRollout([40, 20, 25], { waitSeconds: 10, bakeMinutes: 2, canary: true, tail: 1.5 }));
    expect(m?.batches.map((b) => b.seconds)).toEqual([40, 20, 25]);
    expect(m?.tailSeconds).toBe(1.5);
  });

  it("a later health-gate decision of a batch does not move its end (the first gate is the batch's)", () => {
    const r = pastRollout([20, 20], { waitSeconds: 5 });
    const withWait = { ...r, gates: [r.gates[0]!, { at: r.gates[0]!.at + 3000, batch: 0 }, r.gates[1]!] };
    expect(measureRollout(withWait)?.batches.map((b) => b.seconds)).toEqual([20, 20]);
  });

  it("says nothing of a rollout that did not complete or lacks a batch's gate", () => {
    expect(measureRollout({ ...pastRollout([20, 20]), status: "halted" })).toBeUndefined();
    const r = pastRollout([20, 20]);
    expect(measureRollout({ ...r, gates: r.gates.slice(0, 1) })).toBeUndefined();
    expect(measureRollout({ ...r, completedAt: undefined })).toBeUndefined();
  });
});

describe("estimateRollout", () => {
  it("without history: the model's cost per batch, growing with the batch (not the stack: a batch registers only itself), with its basis", () => {
    const e = estimateRollout(batchesOf([10, 10]), { waitSeconds: 0 }, { fleetSize: 100 });
    expect(e.basis).toMatchObject({ kind: "model", fleetSize: 100, model: BATCH_COST_MODEL });
    expect(e.seconds).toBe(Math.round(2 * modelBatchSeconds(100, 10)));
    expect(modelBatchSeconds(1000, 10)).toBe(modelBatchSeconds(100, 10));
    expect(modelBatchSeconds(100, 20)).toBeGreaterThan(modelBatchSeconds(100, 10));
    expect(describeEstimate(e)).toMatch(/basis: model \(no completed rollout of this stack recorded yet\): 6\.3s per batch = 1\.3s \+ 0\.5s per runtime in the batch$/);
  });

  it("a rollout planned like the last one is estimated at that one's duration", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 30 }), (n, per, wait, tail) => {
        const past = pastRollout(Array(n).fill(per), { waitSeconds: wait, tail });
        const e = estimateRollout(batchesOf(Array(n).fill(2)), { waitSeconds: wait }, { fleetSize: 2 * n, history: [past] });
        expect(e.basis.kind).toBe("measured");
        expect(e.seconds).toBe(Math.round((past.completedAt! - past.startedAt!) / 1000));
      }),
    );
  });

  it("per batch, the mean of the measured batches: between the fastest and the slowest", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 10 }), (rollouts, planned) => {
        const history = rollouts.map((s, i) => pastRollout(s, { id: `ro_${i}` }));
        const e = estimateRollout(batchesOf(Array(planned).fill(2)), { waitSeconds: 0 }, { fleetSize: 20, history });
        // only the newest five are read
        const seen = rollouts.slice(0, 5).flat();
        for (const b of e.batchSeconds) {
          expect(b).toBeGreaterThanOrEqual(Math.min(...seen) - 0.05);
          expect(b).toBeLessThanOrEqual(Math.max(...seen) + 0.05);
        }
        expect(e.basis).toMatchObject({ kind: "measured", rollouts: history.slice(0, 5).map((r) => r.rolloutId) });
      }),
    );
  });

  it("the sum of batches follows their mean; a batch that held a pause (over 3 times the median) is left out", () => {
    const e = estimateRollout(batchesOf([2, 2]), { waitSeconds: 0 }, { fleetSize: 4, history: [pastRollout([10, 20, 30, 3600])] });
    expect(e.batchSeconds).toEqual([20, 20]);
    expect(e.basis).toMatchObject({ kind: "measured", batches: 4, meanBatchSeconds: 20 });
  });

  it("adds the waits between batches and the canary's bake to the measured batches", () => {
    const history = [pastRollout([30, 30, 30])];
    const e = estimateRollout(batchesOf([2, 2, 2], true), { waitSeconds: 60, bakeMinutes: 5 }, { fleetSize: 6, history });
    expect(e.seconds).toBe(3 * 30 + 2 * 60 + 5 * 60);
    expect(describeEstimate(e)).toMatch(/basis: measured: 30s per batch \(mean 30s of 3 batches of ~2 runtimes in the last 1 completed rollout: ro_past\); plus 1m between batches, 5m bake/);
  });

  it("adds the command's own start once, measured or model, and says so", () => {
    const history = [pastRollout([30, 30, 30])];
    const e = estimateRollout(batchesOf([2, 2, 2]), { waitSeconds: 0 }, { fleetSize: 6, history, startSeconds: 1.04 });
    expect(e).toMatchObject({ seconds: 91, startSeconds: 1 });
    expect(describeEstimate(e)).toMatch(/\); plus 1s to start \(as this command took\)$/);
    const model = estimateRollout(batchesOf([2, 2, 2]), { waitSeconds: 0 }, { fleetSize: 6, startSeconds: 2.5 });
    expect(model.seconds).toBe(Math.round(2.5 + 3 * modelBatchSeconds(6, 2)));
    expect(estimateRollout(batchesOf([2]), { waitSeconds: 0 }, { fleetSize: 6, history }).startSeconds).toBe(0);
  });

  it("a larger batch than the ones measured costs more, by the model's shape", () => {
    const history = [pastRollout([20, 20], { sizes: [2, 2] })];
    const e = estimateRollout(batchesOf([2, 8]), { waitSeconds: 0 }, { fleetSize: 10, history });
    expect(e.batchSeconds[0]).toBe(20);
    expect(e.batchSeconds[1]).toBeCloseTo((20 * modelBatchSeconds(10, 8)) / modelBatchSeconds(10, 2), 1);
  });

  it("halted, paused and unmeasurable rollouts leave the model, saying why", () => {
    const e = estimateRollout(batchesOf([2]), {}, { fleetSize: 4, history: [{ ...pastRollout([20]), status: "halted" }], noHistory: "the store could not be read: gone" });
    expect(e.basis.kind).toBe("model");
  });
});
