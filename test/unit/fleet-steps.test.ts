// The plan as steps (fleet/steps.ts): properties of every plan, of what is left of a timed step,
// and of the bounded step list a rollout record keeps.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deployIndex, nextStep, pauseOf, planSteps, remainingMs, resumedUntil, upsertStep, type StepKind, type StepState } from "../../fleet/steps";

const shape = fc.record({
  batches: fc.integer({ min: 1, max: 30 }),
  canary: fc.boolean(),
  bakeSeconds: fc.constantFrom(0, 40, 1800),
  waitSeconds: fc.constantFrom(0, 60),
  analysis: fc.constantFrom("off" as const, "observe" as const, "enforce" as const),
  analysisWindowSeconds: fc.constantFrom(0, 120),
});

describe("planSteps", () => {
  it("every batch deploys once, before its gate and its rollback, and before the next batch; the plan ends with done", () => {
    fc.assert(
      fc.property(shape, (s) => {
        const plan = planSteps(s);
        expect(plan.at(-1)!.kind).toBe("done");
        expect(plan.filter((p) => p.kind === "done")).toHaveLength(1);
        for (let b = 0; b < s.batches; b++) {
          const of = (k: StepKind) => plan.findIndex((p) => p.kind === k && p.batch === b);
          expect(plan.filter((p) => p.kind === "deploy" && p.batch === b)).toHaveLength(1);
          expect(of("deploy")).toBeLessThan(of("gate"));
          expect(of("gate")).toBeLessThan(of("rollback"));
          expect(deployIndex(plan, b)).toBe(of("deploy"));
          if (b > 0) expect(plan.findIndex((p) => p.batch === b)).toBeGreaterThan(plan.findLastIndex((p) => p.batch === b - 1 && p.kind !== "done"));
          // a wait follows every batch but the last
          expect(of("wait") >= 0).toBe(b < s.batches - 1);
        }
      }),
    );
  });

  it("only the canary bakes; an analysis runs over its bake, else over the window after a batch's deploy", () => {
    fc.assert(
      fc.property(shape, (s) => {
        const plan = planSteps(s);
        const bakes = plan.filter((p) => p.kind === "bake");
        expect(bakes.map((p) => p.batch)).toEqual(s.canary && s.bakeSeconds > 0 ? [0] : []);
        for (const a of plan.filter((p) => p.kind === "analysis")) {
          expect(s.analysis).not.toBe("off");
          if (a.withBake) expect(a).toMatchObject({ batch: 0, seconds: s.bakeSeconds });
          else expect(a.seconds).toBe(s.analysisWindowSeconds);
          expect(a.seconds).toBeGreaterThan(0);
        }
        if (s.analysis !== "off" && s.analysisWindowSeconds > 0) expect(plan.filter((p) => p.kind === "analysis")).toHaveLength(s.batches);
      }),
    );
  });

  it("the next step is the plan's at the cursor, with what the record knows of it", () => {
    const plan = planSteps({ batches: 2, canary: true, bakeSeconds: 40, waitSeconds: 0, analysis: "off", analysisWindowSeconds: 0 });
    const bake = { kind: "bake" as const, batch: 0, state: "running" as const, startedAt: 1, until: 40_001 };
    expect(nextStep(plan, 1, [bake])).toEqual({ index: 1, planned: { kind: "bake", batch: 0, seconds: 40 }, recorded: bake });
    expect(nextStep(plan, 2, [bake])).toEqual({ index: 2, planned: { kind: "gate", batch: 0 } });
    expect(nextStep(plan, plan.length, [])).toBeNull();
  });
});

describe("what is left of a timed step", () => {
  const step = fc.record({ startedAt: fc.integer({ min: 0, max: 1e9 }), length: fc.integer({ min: 0, max: 1e7 }) });
  it("never negative, never more than its length; a pause freezes it; a resume keeps what was left", () => {
    fc.assert(
      fc.property(step, fc.integer({ min: -1e7, max: 2e7 }), fc.integer({ min: 0, max: 1e8 }), ({ startedAt, length }, pauseOffset, later) => {
        const s = { kind: "bake" as const, state: "running" as const, startedAt, until: startedAt + length };
        const pausedAt = startedAt + Math.max(0, pauseOffset);
        const left = remainingMs(s, pausedAt + later, pausedAt);
        expect(left).toBeGreaterThanOrEqual(0);
        expect(left).toBeLessThanOrEqual(length);
        // however long the pause lasted, the same is left
        expect(left).toBe(remainingMs(s, pausedAt, pausedAt));
        const now = pausedAt + later;
        expect(resumedUntil(s, now, pausedAt)! - now).toBe(left);
        // a crash (no pause) keeps the recorded end
        expect(resumedUntil(s, now)).toBe(s.until);
      }),
    );
  });

  it("a paused rollout says why, since when and (for a timed step) how much is left", () => {
    const bake = { kind: "bake" as const, batch: 0, state: "running" as const, startedAt: 1_000, until: 41_000 };
    expect(pauseOf({ status: "paused", statusReason: "paused by ana", pausedAt: 21_000, updatedAt: 21_000, steps: [bake] })).toEqual({ reason: "paused by ana", since: 21_000, remainingSeconds: 20 });
    expect(pauseOf({ status: "paused", statusReason: "rollout failure rate 10% exceeds --pause-on-failure 5%", pausedAt: 5_000, updatedAt: 6_000, steps: [{ ...bake, kind: "gate", state: "done", until: undefined }] })).toEqual({ reason: "rollout failure rate 10% exceeds --pause-on-failure 5%", since: 5_000 });
    expect(pauseOf({ status: "running", updatedAt: 1, steps: [bake] })).toBeNull();
  });
});

describe("the bounded step list", () => {
  const entry = fc.record({ kind: fc.constantFrom<StepKind>("deploy", "bake", "analysis", "gate", "wait"), batch: fc.integer({ min: 0, max: 40 }), state: fc.constantFrom<StepState>("running", "done", "skipped"), analysis: fc.option(fc.constant({ score: 1 }), { nil: undefined }) });
  it("holds at most max, one per step, each as last written; analysis results kept on the newest few", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 120 }), (writes) => {
        let list: { kind: StepKind; batch: number; state: StepState; analysis?: { score: number } }[] = [];
        for (const w of writes) {
          const clean = w.analysis === undefined ? { kind: w.kind, batch: w.batch, state: w.state } : w;
          list = upsertStep(list, clean, 16, 2);
          expect(list.length).toBeLessThanOrEqual(16);
          expect(new Set(list.map((s) => `${s.kind}:${s.batch}`)).size).toBe(list.length);
          expect(list.find((s) => s.kind === w.kind && s.batch === w.batch)).toMatchObject({ state: w.state });
          expect(list.filter((s) => s.analysis !== undefined).length).toBeLessThanOrEqual(2);
        }
      }),
    );
  });
});
