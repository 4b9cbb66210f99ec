import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { averageRanks, exactCdf, mannWhitneyU, type Alternative } from "../../fleet/stats";

// A seeded table of cases: small samples without ties (exact), small and large with ties
// (asymptotic with tie correction), all equal, one-sided alternatives.
function cases(): { x: number[]; y: number[]; alternative: Alternative }[] {
  const out: { x: number[]; y: number[]; alternative: Alternative }[] = [];
  const alts: Alternative[] = ["two-sided", "greater", "less"];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 40 }),
      fc.constantFrom(3, 10, 1e6),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (n1, n2, spread, alt, seed) => {
        let s = seed;
        const draw = () => {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          return Math.floor((s / 2 ** 32) * spread) / (spread > 100 ? 1000 : 1);
        };
        out.push({ x: Array.from({ length: n1 }, draw), y: Array.from({ length: n2 }, draw), alternative: alts[alt]! });
      },
    ),
    { seed: 15, numRuns: 300 },
  );
  out.push({ x: [19, 22, 16, 29, 24], y: [20, 11, 17, 12], alternative: "two-sided" }); // scipy's own example
  out.push({ x: [5, 5, 5], y: [5, 5], alternative: "two-sided" });
  out.push({ x: [1, 2, 3, 4, 5, 6, 7, 8], y: Array.from({ length: 60 }, (_, i) => i + 0.5), alternative: "two-sided" });
  out.push({ x: [0.1, 0.2], y: [0.3], alternative: "greater" });
  return out;
}

describe("Mann-Whitney U against scipy.stats.mannwhitneyu", () => {
  it("gives scipy's U within 1e-9 and p within 1e-6 on a generated table, ties and small samples included", () => {
    const table = cases();
    expect(table.some((c) => mannWhitneyU(c.x, c.y, c.alternative).method === "exact")).toBe(true);
    expect(table.some((c) => new Set([...c.x, ...c.y]).size < c.x.length + c.y.length)).toBe(true);
    const script = [
      "import json, sys",
      "from scipy.stats import mannwhitneyu",
      "out = []",
      "for c in json.load(sys.stdin):",
      "    r = mannwhitneyu(c['x'], c['y'], alternative=c['alternative'])",
      "    out.append([float(r.statistic), float(r.pvalue)])",
      "print(json.dumps(out))",
    ].join("\n");
    // Debian's interpreter, where python3-scipy installs (lab/doctor.ts checks it for the tests).
    const py = spawnSync("/usr/bin/python3", ["-c", script], { input: JSON.stringify(table), encoding: "utf8", timeout: 60_000 });
    expect(py.status, py.stderr).toBe(0);
    const reference = JSON.parse(py.stdout) as [number, number][];
    expect(reference).toHaveLength(table.length);
    table.forEach((c, i) => {
      const ours = mannWhitneyU(c.x, c.y, c.alternative);
      const [u, p] = reference[i]!;
      expect(Math.abs(ours.u - u), `U of case ${i} ${JSON.stringify(c)}`).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(ours.p - p), `p of case ${i} ${JSON.stringify(c)}`).toBeLessThanOrEqual(1e-6);
    });
  });

  it("matches the published exact value of scipy's documented example (p = 1/9)", () => {
    const r = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(r.u).toBe(17);
    expect(r.method).toBe("exact");
    expect(r.p).toBeCloseTo(0.1111111111111111, 12);
  });
});

const sample = fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 25 });

describe("Mann-Whitney U properties", () => {
  it("is symmetric: swapping the samples gives U2 = n1 n2 - U1 and the same two-sided p", () => {
    fc.assert(
      fc.property(sample, sample, (x, y) => {
        const a = mannWhitneyU(x, y);
        const b = mannWhitneyU(y, x);
        expect(a.u + b.u).toBeCloseTo(x.length * y.length, 9);
        expect(a.p).toBeCloseTo(b.p, 12);
        // one-sided: greater of x is less of y
        expect(mannWhitneyU(x, y, "greater").p).toBeCloseTo(mannWhitneyU(y, x, "less").p, 12);
      }),
    );
  });

  it("keeps U in [0, n1 n2] and p in [0, 1]", () => {
    fc.assert(
      fc.property(sample, sample, fc.constantFrom<Alternative>("two-sided", "greater", "less"), (x, y, alt) => {
        const r = mannWhitneyU(x, y, alt);
        expect(r.u).toBeGreaterThanOrEqual(0);
        expect(r.u).toBeLessThanOrEqual(x.length * y.length);
        expect(r.p).toBeGreaterThanOrEqual(0);
        expect(r.p).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("moving x up never lowers U nor raises the one-sided p of 'greater'", () => {
    fc.assert(
      fc.property(sample, sample, fc.integer({ min: 1, max: 200 }), (x, y, shift) => {
        const before = mannWhitneyU(x, y, "greater", "asymptotic");
        const after = mannWhitneyU(x.map((v) => v + shift), y, "greater", "asymptotic");
        expect(after.u).toBeGreaterThanOrEqual(before.u);
        expect(after.p).toBeLessThanOrEqual(before.p + 1e-12);
      }),
    );
  });

  it("the exact distribution is a distribution: P(U <= mn) = 1 and symmetric around mn/2", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 30 }), (m, n) => {
        expect(exactCdf(m * n, m, n)).toBeCloseTo(1, 12);
        for (let k = 0; k < m * n; k++) expect(exactCdf(k, m, n)).toBeCloseTo(1 - exactCdf(m * n - k - 1, m, n), 12);
      }),
      { numRuns: 40 },
    );
  });

  it("ranks ties by their average rank", () => {
    expect(averageRanks([10, 20, 10, 30])).toEqual([1.5, 3, 1.5, 4]);
  });

  it("refuses an empty sample rather than invent a p-value", () => {
    expect(() => mannWhitneyU([], [1])).toThrow(/at least one value/);
  });
});
