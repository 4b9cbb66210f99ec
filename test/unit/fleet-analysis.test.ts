import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { chooseControl, compare, judge, type JudgeInput, type RuntimeSeries } from "../../fleet/analysis";
import { analysisPolicySchema } from "../../fleet/config";
import { analysisResult } from "../../protocol/analysis";
import { ERRORS_3PCT, GOOD, LATENCY_200MS, runBakes, simulateBake } from "../../lab/bakes";

const policy = analysisPolicySchema.parse(undefined);
const RANK = { pass: 0, inconclusive: 1, marginal: 2, fail: 3 } as const;
const DECISION = { go: 0, pause: 1, halt: 2 } as const;

/** n values around `center`, spread deterministically (no two equal). */
const around = (center: number, n: number, spread = 0.4, salt = 0) => Array.from({ length: n }, (_, i) => center + spread * Math.sin(i * 12.9898 + salt * 78.233));

function runtime(id: string, errorRate: number, latency = 110, n = 20): RuntimeSeries {
  return {
    accountId: id,
    samples: {
      error_rate: around(errorRate, n, 0.4, id.length),
      latency_ms: around(latency, n, 15, id.length + 1),
      notification_failure_rate: around(0.5, n, 0.3, id.length + 2),
      restarts: new Array<number>(n).fill(0),
      health: new Array<number>(n).fill(1),
    },
  };
}

const input = (canary: RuntimeSeries[], control: RuntimeSeries[], extra: Partial<JudgeInput> = {}): JudgeInput => ({
  at: 2_000,
  batch: 0,
  mode: "enforce",
  windowStart: 1_000,
  windowEnd: 2_000,
  canary,
  control,
  policy,
  ...extra,
});

describe("the canary judge", () => {
  it("a canary alone, without a control cohort, is inconclusive and pauses with that reason (never passes)", () => {
    const r = judge(input([runtime("acc-001", 0.5)], []));
    expect(r.verdict).toBe("inconclusive");
    expect(r.decision).toBe("pause");
    expect(r.reason).toMatch(/no control cohort/);
    expect(analysisResult.parse(r)).toEqual(r);
  });

  it("too few samples is inconclusive and pauses, naming the counts", () => {
    const r = judge(input([runtime("acc-001", 0.5, 110, 5)], [runtime("acc-002", 0.5)]));
    expect(r.decision).toBe("pause");
    expect(r.reason).toMatch(/error_rate 5 canary and 20 control samples \(needs 12 each\)/);
  });

  it("a good canary goes on; +3 points of errors or +200 ms halts, naming the metric", () => {
    const control = [runtime("acc-002", 0.5), runtime("acc-003", 0.6), runtime("acc-004", 0.45)];
    expect(judge(input([runtime("acc-001", 0.55)], control)).decision).toBe("go");
    const errors = judge(input([runtime("acc-001", 3.5)], control));
    expect(errors.decision).toBe("halt");
    expect(errors.metrics.find((m) => m.metric === "error_rate")).toMatchObject({ verdict: "fail", direction: "worse" });
    expect(errors.reason).toMatch(/error_rate fail/);
    const slow = judge(input([runtime("acc-001", 0.5, 310)], control));
    expect(slow.decision).toBe("halt");
    expect(slow.reason).toMatch(/latency_ms fail/);
  });

  it("a decisive failure halts even while a low-volume metric is still inconclusive; an undecided one pauses", () => {
    const control = [runtime("acc-002", 0.5), runtime("acc-003", 0.6)];
    const sparse = (r: RuntimeSeries) => ({ ...r, samples: { ...r.samples, notification_failure_rate: [0, 1] } });
    const halted = judge(input([sparse(runtime("acc-001", 3.5))], control));
    expect(halted.decision).toBe("halt");
    expect(halted.reason).toMatch(/even with the inconclusive metrics counted as passed \(error_rate fail\)/);
    const paused = judge(input([sparse(runtime("acc-001", 0.5))], control));
    expect(paused.decision).toBe("pause");
    expect(paused.reason).toMatch(/^inconclusive: notification_failure_rate 2 canary and 40 control samples/);
    expect(paused.score).toBe(80);
  });

  it("only a change for the worse counts: a canary with fewer errors and faster replies passes", () => {
    const r = judge(input([runtime("acc-001", 0.05, 40)], [runtime("acc-002", 2.5, 200), runtime("acc-003", 2.5, 210)]));
    expect(r.metrics.find((m) => m.metric === "error_rate")).toMatchObject({ verdict: "pass", direction: "better" });
    expect(r.decision).toBe("go");
  });

  it("a critical metric fails on its own: a canary that restarted halts even with a perfect score", () => {
    const canary = runtime("acc-001", 0.5);
    canary.samples.restarts![3] = 1;
    const r = judge(input([canary], [runtime("acc-002", 0.5), runtime("acc-003", 0.5)]));
    expect(r.score).toBe(100);
    expect(r.decision).toBe("halt");
    expect(r.reason).toMatch(/critical metric failed: restarts/);
  });

  it("an unhealthy canary sample fails health on its own", () => {
    const canary = runtime("acc-001", 0.5);
    canary.samples.health![0] = 0;
    expect(judge(input([canary], [runtime("acc-002", 0.5)])).reason).toMatch(/critical metric failed: health/);
  });

  it("holds each upgraded runtime against its own pre-upgrade window: worse than itself makes the metric marginal", () => {
    const control = [runtime("acc-002", 2.0), runtime("acc-003", 2.1)];
    const canary = runtime("acc-001", 2.0);
    expect(judge(input([canary], control)).metrics[0]!.verdict).toBe("pass");
    const r = judge(input([canary], control, { baseline: [runtime("acc-001", 0.3)] }));
    expect(r.metrics[0]).toMatchObject({ metric: "error_rate", verdict: "marginal" });
    expect(r.metrics[0]!.reason).toMatch(/worse than before its upgrade: acc-001/);
  });

  it("ignores a sample that is not a finite number instead of failing the analysis", () => {
    const canary = runtime("acc-001", 0.5);
    canary.samples.error_rate!.push(NaN, Infinity);
    const r = judge(input([canary], [runtime("acc-002", 0.5)], { baseline: [{ accountId: "acc-001", samples: { error_rate: [NaN] } }] }));
    expect(r.metrics[0]!.canary).toHaveLength(20);
    expect(r.decision).toBe("go");
  });

  it("keeps the record inside its caps", () => {
    const many = Array.from({ length: 30 }, (_, i) => runtime(`acc-${String(i).padStart(3, "0")}`, 0.5, 110, 20));
    const r = judge(input(many.slice(0, 1), many.slice(1)));
    expect(r.metrics[0]!.control).toHaveLength(400);
    expect(analysisResult.safeParse(r).success).toBe(true);
  });
});

describe("properties of the verdict", () => {
  const values = fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 12, maxLength: 40 });

  it("never gets better as the canary moves up (monotone in the shift)", () => {
    fc.assert(
      fc.property(values, values, fc.double({ min: 0, max: 20, noNaN: true }), fc.double({ min: 0, max: 20, noNaN: true }), (canary, control, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const low = compare(canary.map((v) => v + lo), control, 1, policy).verdict;
        const high = compare(canary.map((v) => v + hi), control, 1, policy).verdict;
        expect(RANK[high]).toBeGreaterThanOrEqual(RANK[low]);
      }),
    );
  });

  it("the decision never gets better as the canary's error rate moves up", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 5, noNaN: true }), fc.double({ min: 0, max: 5, noNaN: true }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const control = [runtime("acc-002", 0.5), runtime("acc-003", 0.6)];
        const low = judge(input([runtime("acc-001", 0.5 + lo)], control)).decision;
        const high = judge(input([runtime("acc-001", 0.5 + hi)], control)).decision;
        expect(DECISION[high]).toBeGreaterThanOrEqual(DECISION[low]);
      }),
      { numRuns: 60 },
    );
  });

  it("keeps the score in 0..100 and a go only with a score at or above the pass threshold", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 6, noNaN: true }), fc.double({ min: 0, max: 400, noNaN: true }), (err, ms) => {
        const r = judge(input([runtime("acc-001", err, 110 + ms)], [runtime("acc-002", 0.5), runtime("acc-003", 0.5)]));
        expect(r.score).toBeGreaterThanOrEqual(0);
        expect(r.score).toBeLessThanOrEqual(100);
        if (r.decision === "go") expect(r.score).toBeGreaterThanOrEqual(policy.passScore);
      }),
      { numRuns: 60 },
    );
  });

  it("picks a control cohort of at most the size, from the candidates, the same for the same list", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^acc-[0-9]{3}$/), { maxLength: 50 }), fc.integer({ min: 1, max: 10 }), (ids, size) => {
        const chosen = chooseControl(ids, size);
        expect(chosen.length).toBe(Math.min(size, ids.length));
        expect(new Set(chosen).size).toBe(chosen.length);
        for (const id of chosen) expect(ids).toContain(id);
        expect(chooseControl([...ids].reverse(), size)).toEqual(chosen);
      }),
    );
  });
});

describe("false alarms and detection on simulated bakes of the lab's workload model (fixed seeds)", () => {
  const seeds = Array.from({ length: 60 }, (_, i) => 1000 + i);
  const scenario = { noisy: true, canaries: 1, controls: 5, windowSeconds: 300 };

  it("halts at most 5% of 60 bakes of a good release on a noisy fleet", () => {
    const good = runBakes(seeds, { ...scenario, shift: GOOD }, policy);
    expect(good.bakes).toBe(60);
    expect(good.haltRate).toBeLessThanOrEqual(0.05);
  });

  it("halts at least 95% of the bakes of a release adding 3% errors, and of one adding 200 ms", () => {
    expect(runBakes(seeds, { ...scenario, shift: ERRORS_3PCT }, policy).haltRate).toBeGreaterThanOrEqual(0.95);
    expect(runBakes(seeds, { ...scenario, shift: LATENCY_200MS }, policy).haltRate).toBeGreaterThanOrEqual(0.95);
  });

  it("a bake's record says why it halted", () => {
    const r = simulateBake(seeds[0]!, { ...scenario, shift: LATENCY_200MS }, policy);
    expect(r.metrics.find((m) => m.metric === "latency_ms")).toMatchObject({ verdict: "fail", direction: "worse" });
  });
});
