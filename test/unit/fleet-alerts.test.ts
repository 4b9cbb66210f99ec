import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ALERT_RULES, RULE_SEVERITY, reconcileAlerts, rolloutAlerts, runtimeAlerts, type DesiredAlert, type RuntimeAlertInput } from "../../fleet/alerts";
import { RUNTIME_STATUSES } from "../../fleet/health";

const NOW = 1_760_000_000_000;
const MIN = 60_000;
const base: RuntimeAlertInput = { stack: "prod", accountId: "acme", status: "online", openclawVersion: "v1.2.5", lastHealthCheck: NOW, healthScore: 95, createdAt: NOW - 3600_000 };
const rules = (r: RuntimeAlertInput, extra: { minSupportedOpenclaw?: string; now?: number } = {}) => runtimeAlerts(r, { now: extra.now ?? NOW, ...extra }).map((a) => a.rule);

describe("runtimeAlerts", () => {
  it("fires each seed rule at its threshold and not before", () => {
    expect(rules(base)).toEqual([]);
    expect(rules(base, { now: NOW + 5 * MIN })).toEqual([]);
    expect(rules(base, { now: NOW + 5 * MIN + 1 })).toEqual(["runtime_offline"]);
    expect(rules({ ...base, metrics: { errorRate: 5 } })).toEqual([]);
    expect(rules({ ...base, metrics: { errorRate: 5.01 } })).toEqual(["high_error_rate"]);
    expect(rules({ ...base, lastUpgrade: { eventId: "e", status: "failed", toOpenclaw: "v1.3.0" } })).toEqual(["upgrade_failed"]);
    expect(rules({ ...base, lastUpgrade: { eventId: "e", status: "success", toOpenclaw: "v1.3.0" } })).toEqual([]);
    expect(rules({ ...base, openclawVersion: "v1.1.9" }, { minSupportedOpenclaw: "v1.2.0" })).toEqual(["version_below_minimum"]);
    expect(rules({ ...base, openclawVersion: "v1.2.0" }, { minSupportedOpenclaw: "v1.2.0" })).toEqual([]);
    expect(rules({ ...base, healthScore: 80 })).toEqual([]);
    expect(rules({ ...base, healthScore: 79 })).toEqual(["health_degraded"]);
  });
  it("does not call a runtime being upgraded or provisioned offline", () => {
    expect(rules({ ...base, status: "upgrading" }, { now: NOW + 30 * MIN })).toEqual([]);
    expect(rules({ ...base, status: "provisioning", lastHealthCheck: undefined }, { now: NOW + 30 * MIN })).toEqual([]);
  });
  it("keys are stable per rule and subject, severities follow the seed table", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...RUNTIME_STATUSES),
        fc.option(fc.nat(100), { nil: undefined }),
        fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
        fc.nat(3 * 3600_000),
        (status, healthScore, errorRate, age) => {
          const input: RuntimeAlertInput = { ...base, status, ...(healthScore !== undefined ? { healthScore } : {}), ...(errorRate !== undefined ? { metrics: { errorRate } } : {}) };
          const out = runtimeAlerts(input, { now: NOW + age, minSupportedOpenclaw: "v1.2.0" });
          const keys = out.map((a) => a.key);
          expect(new Set(keys).size).toBe(keys.length);
          for (const a of out) {
            expect(ALERT_RULES).toContain(a.rule);
            expect(a.severity).toBe(RULE_SEVERITY[a.rule]);
            expect(a.key).toBe(`${a.rule}:prod/acme`);
          }
          expect(runtimeAlerts(input, { now: NOW + age, minSupportedOpenclaw: "v1.2.0" })).toEqual(out);
        },
      ),
    );
  });
});

describe("rolloutAlerts", () => {
  it("flags running or planned rollouts idle for more than an hour, never paused or finished ones", () => {
    const ro = { stack: "prod", rolloutId: "ro_abc123", status: "running", lastProgressAt: NOW, currentBatch: 1 };
    expect(rolloutAlerts(ro, { now: NOW + 60 * MIN })).toEqual([]);
    expect(rolloutAlerts(ro, { now: NOW + 60 * MIN + 1 })[0]).toMatchObject({ rule: "rollout_stalled", severity: "medium" });
    expect(rolloutAlerts({ ...ro, status: "planned" }, { now: NOW + 2 * 60 * MIN })).toHaveLength(1);
    for (const status of ["paused", "completed", "halted", "aborted", "failed"]) expect(rolloutAlerts({ ...ro, status }, { now: NOW + 10 * 60 * MIN })).toEqual([]);
  });
});

describe("reconcileAlerts", () => {
  const desired = (key: string): DesiredAlert => ({ key, rule: "health_degraded", severity: "medium", message: key, details: {} });
  it("partitions: opens what is new, updates what is open, closes what cleared", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e")), fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e")), (open, want) => {
        const plan = reconcileAlerts(open, want.map(desired));
        expect(plan.open.map((d) => d.key).sort()).toEqual(want.filter((k) => !open.includes(k)).sort());
        expect(plan.update.map((d) => d.key).sort()).toEqual(want.filter((k) => open.includes(k)).sort());
        expect(plan.close.sort()).toEqual(open.filter((k) => !want.includes(k)).sort());
        // Applying the plan and reconciling again opens and closes nothing.
        const again = reconcileAlerts(want, want.map(desired));
        expect(again.open).toEqual([]);
        expect(again.close).toEqual([]);
      }),
    );
  });
});
