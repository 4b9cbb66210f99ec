import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { ResolvedRuntime } from "../../fleet/config";
import { chunkBySteps, parseRamp, planRollout, PlanError, stepSize, type PlanOptions, type SizeStep } from "../../fleet/plan";

function runtime(i: number, extra: Partial<ResolvedRuntime> = {}): ResolvedRuntime {
  return {
    accountId: `acc-${String(i).padStart(3, "0")}`,
    name: `Account ${i}`,
    provider: "existing",
    host: `127.0.0.${10 + (i % 200)}`,
    size: "s",
    image: "i",
    sshPort: 22,
    sshUser: "root",
    healthPort: 8080,
    hostRoot: "/opt/runtime-fleet",
    executor: "pulumi",
    openclaw: "v1.2.3" as ResolvedRuntime["openclaw"],
    runtimeService: "v0.5.0" as ResolvedRuntime["runtimeService"],
    canary: false,
    index: i,
    ...extra,
  };
}

const base: PlanOptions = { strategy: "rolling", target: { openclaw: "v1.2.5" }, batchPercent: 10, minSupportedOpenclaw: "v1.1.0" };

const fleetArb = fc
  .record({
    n: fc.integer({ min: 1, max: 60 }),
    canaryAt: fc.option(fc.nat(), { nil: undefined }),
    pinned: fc.uniqueArray(fc.nat({ max: 59 }), { maxLength: 10 }),
    onTarget: fc.uniqueArray(fc.nat({ max: 59 }), { maxLength: 10 }),
  })
  .map(({ n, canaryAt, pinned, onTarget }) =>
    Array.from({ length: n }, (_, i) =>
      runtime(i, {
        canary: canaryAt !== undefined && canaryAt % n === i,
        ...(pinned.includes(i) && !(canaryAt !== undefined && canaryAt % n === i) ? { pin: "v1.2.3" as ResolvedRuntime["openclaw"] } : {}),
        ...(onTarget.includes(i) ? { openclaw: "v1.2.5" as ResolvedRuntime["openclaw"] } : {}),
      }),
    ),
  );

const stepArb: fc.Arbitrary<SizeStep> = fc.oneof(
  fc.integer({ min: 1, max: 20 }).map((count) => ({ count })),
  fc.integer({ min: 1, max: 100 }).map((percent) => ({ percent })),
);

const optionsArb = fc.record({
  strategy: fc.constantFrom("rolling" as const, "canary" as const, "immediate" as const),
  ramp: fc.option(fc.array(stepArb, { minLength: 1, maxLength: 4 }), { nil: undefined }),
  batchPercent: fc.integer({ min: 1, max: 100 }),
  skipUpgraded: fc.boolean(),
});

function tryPlan(runtimes: ResolvedRuntime[], o: Partial<PlanOptions>) {
  try {
    return planRollout(runtimes, { ...base, ...o });
  } catch (err) {
    if (err instanceof PlanError) return err;
    throw err;
  }
}

describe("rollout planning (properties)", () => {
  it("puts every selected runtime in exactly one batch; pinned never selected; the canary first", () => {
    fc.assert(
      fc.property(fleetArb, optionsArb, (runtimes, o) => {
        const plan = tryPlan(runtimes, o);
        if (plan instanceof PlanError) return; // refusals are checked below
        const all = plan.batches.flatMap((b) => b.accountIds);
        expect(new Set(all).size).toBe(all.length);
        const expected = runtimes.filter(
          (r) => r.pin === undefined && !(o.skipUpgraded && r.openclaw === "v1.2.5"),
        );
        expect(new Set(all)).toEqual(new Set(expected.map((r) => r.accountId)));
        for (const r of runtimes.filter((x) => x.pin !== undefined)) expect(all).not.toContain(r.accountId);
        if (o.strategy === "canary") {
          expect(plan.batches[0]!.kind).toBe("canary");
          expect(plan.batches[0]!.accountIds).toEqual(runtimes.filter((r) => r.canary).map((r) => r.accountId));
          expect(plan.batches.slice(1).every((b) => b.kind === "batch")).toBe(true);
        } else {
          expect(plan.batches.every((b) => b.kind === "batch")).toBe(true);
        }
        for (const b of plan.batches) expect(b.accountIds.length).toBeGreaterThan(0);
      }),
    );
  });

  it("makes batches of the requested sizes, the last step repeating, only the last batch short", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.array(stepArb, { minLength: 1, maxLength: 5 }), (n, steps) => {
        const ids = Array.from({ length: n }, (_, i) => `r${i}`);
        const batches = chunkBySteps(ids, steps);
        expect(batches.flat()).toEqual(ids);
        batches.forEach((b, i) => {
          const want = stepSize(steps[Math.min(i, steps.length - 1)]!, n);
          if (i < batches.length - 1) expect(b.length).toBe(want);
          else expect(b.length).toBeLessThanOrEqual(want);
        });
      }),
    );
  });

  it("immediate is one batch; rolling 10% of 25 is batches of 3", () => {
    const runtimes = Array.from({ length: 25 }, (_, i) => runtime(i));
    expect(planRollout(runtimes, { ...base, strategy: "immediate" }).batches).toHaveLength(1);
    const rolling = planRollout(runtimes, base);
    expect(rolling.batches.map((b) => b.accountIds.length)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 1]);
    const ramp = planRollout(runtimes, { ...base, ramp: parseRamp("1,5%,25%,100%") });
    expect(ramp.batches.map((b) => b.accountIds.length)).toEqual([1, 2, 7, 15]);
  });

  it("estimates the duration from batches, waits and bake", () => {
    const runtimes = Array.from({ length: 10 }, (_, i) => runtime(i, { canary: i === 0 }));
    const plan = planRollout(runtimes, { ...base, strategy: "canary", batchPercent: 50, waitSeconds: 60, bakeMinutes: 30, deploySecondsPerBatch: 100 });
    expect(plan.batches.map((b) => b.accountIds.length)).toEqual([1, 5, 4]);
    expect(plan.estimatedSeconds).toBe(3 * 100 + 2 * 60 + 30 * 60);
  });
});

describe("rollout planning refuses what policy forbids", () => {
  const runtimes = Array.from({ length: 5 }, (_, i) => runtime(i, { canary: i === 0 }));
  const refuses = (o: Partial<PlanOptions>, rs: ResolvedRuntime[], re: RegExp) => {
    const r = tryPlan(rs, o);
    expect(r).toBeInstanceOf(PlanError);
    expect((r as PlanError).message).toMatch(re);
  };

  it("a target that is not a release tag, or below the minimum supported", () => {
    refuses({ target: { openclaw: "latest" } }, runtimes, /^--to: "latest" is not a release tag/);
    refuses({ target: { openclaw: "v1.2.5", runtimeService: "v0.5.2;id" } }, runtimes, /^--runtime-service: "v0\.5\.2;id"/);
    refuses({ target: { openclaw: "v1.0.0" }, allowDowngrade: true }, runtimes, /below the minimum supported v1\.1\.0/);
  });

  it("a downgrade without consent", () => {
    refuses({ target: { openclaw: "v1.2.1" } }, runtimes, /would downgrade acc-000 .*--allow-downgrade/);
    expect(tryPlan(runtimes, { target: { openclaw: "v1.2.1" }, allowDowngrade: true })).not.toBeInstanceOf(PlanError);
  });

  it("an empty selection", () => {
    const done = runtimes.map((r) => ({ ...r, openclaw: "v1.2.5" as ResolvedRuntime["openclaw"] }));
    refuses({ skipUpgraded: true }, done, /no runtime to upgrade to v1\.2\.5/);
  });

  it("a canary strategy without a canary, or an unknown --canary", () => {
    refuses({ strategy: "canary" }, runtimes.map((r) => ({ ...r, canary: false })), /no canary configured/);
    refuses({ strategy: "canary", canary: "nope" }, runtimes, /^--canary: "nope" is not a runtime/);
    const plan = planRollout(runtimes, { ...base, strategy: "canary", canary: "acc-003" });
    expect(plan.batches[0]!.accountIds).toEqual(["acc-003"]);
  });

  it("a runtime pinned elsewhere, when asked for by name", () => {
    const pinned = runtimes.map((r, i) => (i === 2 ? { ...r, pin: "v1.2.3" as ResolvedRuntime["openclaw"] } : r));
    refuses({ only: ["acc-002"] }, pinned, /acc-002 is pinned at v1\.2\.3/);
  });

  it("ramp and batch sizes that are not sizes", () => {
    expect(() => parseRamp("1,,5%")).toThrow(/--ramp/);
    expect(() => parseRamp("0")).toThrow(/is not a batch size/);
    expect(() => parseRamp("150%")).toThrow(/is not a batch size/);
    expect(parseRamp("1, 5%,100%")).toEqual([{ count: 1 }, { percent: 5 }, { percent: 100 }]);
  });
});
