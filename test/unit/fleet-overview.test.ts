import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mergeCounts, percent, rolloutSummary, statusBreakdown, versionBreakdown } from "../../fleet/overview";
import { isReleaseTag, isSupported } from "../../fleet/versions";

const tag = fc.tuple(fc.nat(3), fc.nat(5), fc.nat(9)).map(([a, b, c]) => `v${a}.${b}.${c}`);

describe("percent", () => {
  it("is a whole number in 0..100 and 0 for an empty total", () => {
    fc.assert(fc.property(fc.nat(1000), fc.nat(1000), (a, extra) => {
      const p = percent(a, a + extra);
      expect(Number.isInteger(p)).toBe(true);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(100);
    }));
    expect(percent(5, 0)).toBe(0);
    expect(percent(118, 127)).toBe(93);
  });
});

describe("versionBreakdown", () => {
  it("matches the seed's example: below-minimum collapsed into v1.1.x and flagged", () => {
    const rows = versionBreakdown({ "v1.2.5": 100, "v1.2.3": 20, "v1.2.1": 5, "v1.1.4": 1, "v1.1.0": 1 }, { minSupported: "v1.2.0" });
    expect(rows.map((r) => [r.label, r.count, r.percent, r.belowMinimum])).toEqual([
      ["v1.2.5", 100, 79, false],
      ["v1.2.3", 20, 16, false],
      ["v1.2.1", 5, 4, false],
      ["v1.1.x", 2, 2, true],
    ]);
  });
  it("keeps every runtime exactly once and flags exactly the versions below the minimum", () => {
    fc.assert(fc.property(fc.dictionary(fc.oneof(tag, fc.constant("unknown")), fc.nat(50)), tag, (counts, min) => {
      const rows = versionBreakdown(counts, { minSupported: min });
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      expect(rows.reduce((n, r) => n + r.count, 0)).toBe(total);
      const listed = rows.flatMap((r) => r.versions);
      expect(new Set(listed).size).toBe(listed.length);
      for (const r of rows) for (const v of r.versions) expect(r.belowMinimum).toBe(!isReleaseTag(v) || !isSupported(v, min));
    }));
  });
});

describe("statusBreakdown and rolloutSummary", () => {
  it("lists every status and sums to the total", () => {
    const b = statusBreakdown({ online: 118, degraded: 4, offline: 3, upgrading: 2 });
    expect(b.total).toBe(127);
    expect(b.rows.map((r) => r.status)).toEqual(["provisioning", "online", "degraded", "offline", "upgrading", "error"]);
    expect(b.rows.find((r) => r.status === "online")!.percent).toBe(93);
  });
  it("success and failure rates sum to 100 once anything finished", () => {
    fc.assert(fc.property(fc.nat(100), fc.nat(100), fc.nat(100), (s, f, rb) => {
      const r = rolloutSummary({ total: s + f + rb, succeeded: s, failed: f, rolledBack: rb }, { now: 10, startedAt: 5 });
      if (s + f + rb > 0) expect(r.successRate + r.failureRate).toBe(100);
      else expect([r.successRate, r.failureRate]).toEqual([0, 0]);
      expect(r.durationMs).toBe(5);
    }));
    expect(mergeCounts({ a: 1 }, { a: 2, b: 3 })).toEqual({ a: 3, b: 3 });
  });
});
