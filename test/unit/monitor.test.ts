import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { changedObservation, HEALTH_CHECK_REFRESH_MS } from "../../monitor/monitor";
import { addSample, counterDelta, emptyWindow, MAX_SAMPLES, percentile, windowMetrics, type Sample } from "../../fleet/metrics";
import type { RuntimeRecord } from "../../store/types";

const T0 = 1_760_000_000_000;
const S = 1000;
const up = (at: number, extra: Partial<Sample> = {}): Sample => ({ at, up: true, ok: true, ms: 20, ...extra });
const down = (at: number): Sample => ({ at, up: false, ok: false });

describe("metric windows", () => {
  it("uptime and success rates are the shares of answered / healthy probes over the day", () => {
    let w = emptyWindow(T0);
    for (let i = 0; i < 10; i++) w = addSample(w, i < 8 ? up(T0 + i * 30 * S) : down(T0 + i * 30 * S));
    const m = windowMetrics(w, T0 + 9 * 30 * S);
    expect(m.uptimePercent).toBe(80);
    expect(m.healthCheckSuccessRate).toBe(80);
    expect(w.lastUp).toBe(T0 + 7 * 30 * S);
  });

  it("error rate comes from the runtime's counters over 15 minutes, across a restart", () => {
    let w = emptyWindow(T0);
    w = addSample(w, up(T0 - 20 * 60 * S, { req: 0, err: 0 })); // outside the 15 minutes
    w = addSample(w, up(T0, { req: 100, err: 0 }));
    w = addSample(w, up(T0 + 60 * S, { req: 200, err: 10 }));
    w = addSample(w, up(T0 + 120 * S, { req: 50, err: 0 })); // counters reset: it restarted
    const m = windowMetrics(w, T0 + 120 * S);
    expect(m.errorRate).toBe(Math.round((1000 * 10) / 150) / 10);
  });

  it("counts a restart when uptime goes backwards, or after a gap longer than its uptime", () => {
    let w = emptyWindow(T0);
    w = addSample(w, up(T0, { upt: 100 }));
    w = addSample(w, up(T0 + 30 * S, { upt: 130 }));
    expect(w.crashes).toHaveLength(0);
    w = addSample(w, up(T0 + 60 * S, { upt: 5 }));
    expect(w.crashes).toHaveLength(1);
    w = addSample(w, down(T0 + 90 * S));
    w = addSample(w, up(T0 + 400 * S, { upt: 3 }));
    expect(windowMetrics(w, T0 + 400 * S).crashCount24h).toBe(2);
    expect(windowMetrics(w, T0 + 200 * S + 24 * 3600 * S).crashCount24h).toBe(1); // the first is a day old
  });

  it("properties: bounded, time-ordered, rates within 0..100, percentiles within the data", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 1, max: 3_600_000 }), up: fc.boolean(), ok: fc.boolean(), ms: fc.integer({ min: 0, max: 10_000 }), req: fc.nat(1000), err: fc.nat(1000) }), { maxLength: 200 }),
        (steps) => {
          let w = emptyWindow(T0);
          let at = T0;
          for (const s of steps) {
            at += s.gap;
            w = addSample(w, { at, up: s.up, ok: s.up && s.ok, ...(s.up ? { ms: s.ms, req: s.req, err: Math.min(s.err, s.req) } : {}) });
          }
          expect(w.samples.length).toBeLessThanOrEqual(MAX_SAMPLES);
          expect(w.samples.every((x, i) => i === 0 || w.samples[i - 1]!.at <= x.at)).toBe(true);
          expect(w.samples.every((x) => at - x.at <= 86_400_000)).toBe(true);
          const m = windowMetrics(w, at);
          for (const k of ["uptimePercent", "healthCheckSuccessRate", "errorRate", "notificationDeliveryRate"] as const) {
            if (m[k] !== undefined) expect(m[k]! >= 0 && m[k]! <= 100, `${k}=${m[k]}`).toBe(true);
          }
          const lat = w.samples.filter((x) => x.up && x.ms !== undefined).map((x) => x.ms!);
          if (lat.length > 0) expect(m.p99ResponseTimeMs! >= Math.min(...lat) && m.p99ResponseTimeMs! <= Math.max(...lat)).toBe(true);
        },
      ),
    );
  });

  it("counterDelta never goes negative and equals last-first for monotonic counters", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1e6), { minLength: 1, maxLength: 50 }), (xs) => {
        expect(counterDelta(xs)).toBeGreaterThanOrEqual(0);
        const sorted = [...xs].sort((a, b) => a - b);
        expect(counterDelta(sorted)).toBe(sorted.at(-1)! - sorted[0]!);
      }),
    );
    expect(percentile([1, 2, 3, 4, 100], 99)).toBe(100);
  });
});

describe("what the monitor writes", () => {
  const rec = (over: Partial<RuntimeRecord> = {}): RuntimeRecord => ({
    stack: "prod", accountId: "a", provider: "existing", providerId: "", ipAddress: "", region: "", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", dockerImageTag: "v0.5.0",
    status: "online", healthScore: 100, lastHealthCheck: T0, metrics: { uptimePercent: 100, avgResponseTimeMs: 20, errorRate: 0 }, isCanary: false, createdAt: T0, updatedAt: T0, ...over,
  });
  const obs = (over: Record<string, unknown> = {}) => ({ stack: "prod", accountId: "a", status: "online" as const, healthScore: 100, openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", lastHealthCheck: T0 + 30 * S, metrics: { uptimePercent: 100, avgResponseTimeMs: 35, errorRate: 0 }, ...over });

  it("nothing for a steady runtime (latency jitter, a fresh check) until the refresh period", () => {
    expect(changedObservation(rec(), obs(), T0 + 30 * S)).toBeNull();
    expect(changedObservation(rec(), obs({ lastHealthCheck: T0 + HEALTH_CHECK_REFRESH_MS }), T0 + HEALTH_CHECK_REFRESH_MS)).not.toBeNull();
  });
  it("a status, score, version or real metric change is written", () => {
    expect(changedObservation(rec(), obs({ status: "degraded" }), T0)).not.toBeNull();
    expect(changedObservation(rec(), obs({ healthScore: 97 }), T0)).not.toBeNull();
    expect(changedObservation(rec(), obs({ openclawVersion: "v1.2.5" }), T0)).not.toBeNull();
    expect(changedObservation(rec(), obs({ metrics: { uptimePercent: 99, avgResponseTimeMs: 20, errorRate: 0 } }), T0)).not.toBeNull();
    expect(changedObservation(rec(), obs({ metrics: { uptimePercent: 100, avgResponseTimeMs: 400, errorRate: 0 } }), T0)).not.toBeNull();
    expect(changedObservation(undefined, obs(), T0)).not.toBeNull();
  });
});
