import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_HEALTH_THRESHOLDS, RUNTIME_STATUSES, assessHealth, deriveStatus, healthScore, isHealthy, isOnTarget, judgeHealth, type RuntimeMetrics } from "../../fleet/health";

const metrics: fc.Arbitrary<RuntimeMetrics> = fc.record(
  {
    uptimePercent: fc.double({ min: 0, max: 100, noNaN: true }),
    healthCheckSuccessRate: fc.double({ min: 0, max: 100, noNaN: true }),
    avgResponseTimeMs: fc.double({ min: 0, max: 60_000, noNaN: true }),
    p99ResponseTimeMs: fc.double({ min: 0, max: 120_000, noNaN: true }),
    notificationDeliveryRate: fc.double({ min: 0, max: 100, noNaN: true }),
    avgDeliveryLatencyMs: fc.double({ min: 0, max: 120_000, noNaN: true }),
    errorRate: fc.double({ min: 0, max: 100, noNaN: true }),
    crashCount24h: fc.nat(50),
  },
  { requiredKeys: [] },
);
const probe = fc.record({
  reachable: fc.boolean(),
  healthy: fc.boolean(),
  latencyMs: fc.option(fc.nat(10_000), { nil: undefined }),
  checkedAt: fc.nat(),
});

describe("healthScore", () => {
  it("is an integer in 0..100", () => {
    fc.assert(fc.property(fc.option(probe, { nil: undefined }), metrics, (p, m) => {
      const s = healthScore(p, m);
      expect(Number.isInteger(s)).toBe(true);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(100);
    }));
  });
  it("is 100 when every target is met, 0 when unreachable, at most 20 when /health fails", () => {
    expect(healthScore({ reachable: true, healthy: true, latencyMs: 100, checkedAt: 0 }, { uptimePercent: 100, errorRate: 0.1, crashCount24h: 0 })).toBe(100);
    fc.assert(fc.property(metrics, (m) => {
      expect(healthScore({ reachable: false, healthy: false, checkedAt: 0 }, m)).toBe(0);
      expect(healthScore({ reachable: true, healthy: false, checkedAt: 0 }, m)).toBeLessThanOrEqual(20);
    }));
  });
  it("never improves when the error rate gets worse", () => {
    fc.assert(fc.property(metrics, fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (m, a, b) => {
      const [lo, hi] = a < b ? [a, b] : [b, a];
      expect(healthScore(undefined, { ...m, errorRate: hi })).toBeLessThanOrEqual(healthScore(undefined, { ...m, errorRate: lo }));
    }));
  });
});

describe("deriveStatus", () => {
  it("always returns a known status; upgrading wins; unreachable is offline; failing /health is error", () => {
    fc.assert(fc.property(fc.option(probe, { nil: undefined }), metrics, fc.boolean(), fc.nat(), fc.option(fc.nat(), { nil: undefined }), (p, m, upgrading, now, last) => {
      const s = deriveStatus({ ...(p ? { probe: p } : {}), metrics: m, upgrading, now, ...(last !== undefined ? { lastHealthCheck: last } : {}) });
      expect(RUNTIME_STATUSES).toContain(s);
      if (upgrading) expect(s).toBe("upgrading");
      else if (p && !p.reachable) expect(s).toBe("offline");
      else if (p && !p.healthy) expect(s).toBe("error");
    }));
  });
  it("is offline after 5 minutes without a check, online before", () => {
    const t = DEFAULT_HEALTH_THRESHOLDS.offlineAfterMs;
    expect(deriveStatus({ lastHealthCheck: 0, now: t })).toBe("online");
    expect(deriveStatus({ lastHealthCheck: 0, now: t + 1 })).toBe("offline");
    expect(deriveStatus({ now: 0 })).toBe("offline");
    expect(deriveStatus({ provisioning: true, now: 0 })).toBe("provisioning");
  });
  it("degrades on a version mismatch or a score under 80", () => {
    const ok = { reachable: true, healthy: true, checkedAt: 0, latencyMs: 50 };
    expect(deriveStatus({ probe: { ...ok, openclawVersion: "v1.2.3", expectedOpenclawVersion: "v1.2.5" }, now: 0 })).toBe("degraded");
    expect(deriveStatus({ probe: ok, metrics: { errorRate: 10 }, now: 0 })).toBe("degraded");
    expect(assessHealth({ probe: ok, now: 0 })).toEqual({ status: "online", healthScore: 100 });
  });
});

describe("healthy = online and on target (both versions)", () => {
  const want = { openclaw: "v1.2.5", runtimeService: "v0.6.0" };
  const probe = (over: Partial<Parameters<typeof judgeHealth>[0] & object> = {}) => ({
    reachable: true,
    healthy: true,
    latencyMs: 20,
    openclawVersion: "v1.2.5",
    runtimeServiceVersion: "v0.6.0",
    checkedAt: 0,
    ...over,
  });

  it("on target needs both versions exactly; one unreported is not on target", () => {
    expect(isOnTarget({ openclaw: "v1.2.5", runtimeService: "v0.6.0" }, want)).toBe(true);
    expect(isOnTarget({ openclaw: "v1.2.5", runtimeService: "v0.5.0" }, want)).toBe(false);
    expect(isOnTarget({ openclaw: "v1.2.5" }, want)).toBe(false);
    expect(isOnTarget(undefined, want)).toBe(false);
  });

  it("a runtime answering 200 on the wrong runtime service is degraded and not healthy", () => {
    const p = probe({ runtimeServiceVersion: "v0.5.0", expectedOpenclawVersion: "v1.2.5", expectedRuntimeServiceVersion: "v0.6.0" });
    expect(deriveStatus({ probe: p, now: 0 })).toBe("degraded");
    expect(judgeHealth(p, want)).toEqual({ online: true, onTarget: false, healthy: false });
    expect(isHealthy(probe(), want)).toBe(true);
    expect(isHealthy(undefined, want)).toBe(false);
  });

  it("healthy exactly when the status is online and both versions match", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom("v1.2.5", "v1.2.4"),
        fc.constantFrom("v0.6.0", "v0.5.0", undefined),
        fc.integer({ min: 0, max: 10_000 }),
        (reachable, healthy, oc, rs, latencyMs) => {
          const p = probe({ reachable, healthy, openclawVersion: oc, latencyMs, ...(rs ? { runtimeServiceVersion: rs } : { runtimeServiceVersion: undefined }) });
          const status = deriveStatus({ probe: { ...p, expectedOpenclawVersion: want.openclaw, expectedRuntimeServiceVersion: want.runtimeService }, now: 0 });
          const both = oc === want.openclaw && rs === want.runtimeService;
          expect(isHealthy(p, want)).toBe(status === "online" && both);
        },
      ),
    );
  });
});
