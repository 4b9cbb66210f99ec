// The FleetStore contract: ONE suite, run against every adapter (test/unit/store-contract-*.test.ts).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FleetStore, RolloutOptions, RuntimeObservation, UpgradeEvent } from "./types";

export interface ContractHarness {
  store: FleetStore;
  cleanup(): Promise<void>;
}

const STACK = "prod";
const T0 = 1_750_000_000_000;

export function observation(accountId: string, over: Partial<RuntimeObservation> = {}): RuntimeObservation {
  return {
    stack: STACK,
    accountId,
    provider: "digitalocean",
    providerId: `do-${accountId}`,
    ipAddress: "10.0.0.1",
    region: "nyc1",
    openclawVersion: "v1.2.3",
    runtimeServiceVersion: "v0.5.0",
    status: "online",
    lastHealthCheck: T0,
    healthScore: 97,
    ...over,
  };
}

export function upgrade(eventId: string, accountId: string, over: Partial<UpgradeEvent> = {}): UpgradeEvent {
  return {
    eventId,
    stack: STACK,
    accountId,
    fromOpenclaw: "v1.2.3",
    toOpenclaw: "v1.2.5",
    fromRuntimeService: "v0.5.0",
    toRuntimeService: "v0.5.2",
    status: "success",
    startedAt: T0,
    completedAt: T0 + 60_000,
    durationMs: 60_000,
    initiatedBy: "ci",
    executor: "pulumi",
    ...over,
  };
}

/** The gate settings every rollout records (the orchestrator's settings, as numbers and booleans). */
export const GATE_OPTIONS = { waitSeconds: 60, bakeMinutes: 30, maxBatchFailurePercent: 20, pauseOnFailurePercent: 5, minHealthyPercent: 95, autoRollback: true };

/**
 * What `fleet rollout` records as given (control/options.ts `recorded`) for each way of starting
 * one, and the dashboard's start (which adds `source`). test/unit/protocol.test.ts checks these
 * are exactly what the CLI produces, so the contract runs the shapes the CLI really records.
 */
export const RECORDED_OPTION_SHAPES: Record<string, RolloutOptions> = {
  "--batch 10%": { batch: "10%", skipUpgraded: false, allowDowngrade: false },
  "--ramp 1,50%": { ramp: "1,50%", skipUpgraded: false, allowDowngrade: false },
  "--canary a": { canary: "a", skipUpgraded: false, allowDowngrade: false },
  "--runtime a b": { skipUpgraded: false, allowDowngrade: false },
  "dashboard (Start Upgrade, one runtime ticked)": { skipUpgraded: false, allowDowngrade: false, source: "dashboard" },
  "dashboard (skip upgraded)": { skipUpgraded: true, allowDowngrade: false, source: "dashboard" },
};

export function storeContract(name: string, make: () => Promise<ContractHarness>) {
  describe(`FleetStore contract: ${name}`, () => {
    let h: ContractHarness;
    let s: FleetStore;
    beforeEach(async () => {
      h = await make();
      s = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("upserts observed runtimes in bulk, creates unseen ones and patches only given fields", async () => {
      await s.upsertRuntimes([observation("acme"), observation("beta", { isCanary: true, pin: "v1.2.3" }), observation("gamma", { status: "degraded" })]);
      await s.upsertRuntimes([{ stack: STACK, accountId: "acme", status: "degraded", healthScore: 70, metrics: { errorRate: 2 } }]);
      const all = await s.listRuntimes({ stack: STACK });
      expect(all.map((r) => r.accountId)).toEqual(["acme", "beta", "gamma"]);
      const acme = all[0]!;
      expect(acme).toMatchObject({ status: "degraded", healthScore: 70, region: "nyc1", openclawVersion: "v1.2.3", metrics: { errorRate: 2 }, isCanary: false, dockerImageTag: "v1.2.3" });
      expect(all[1]).toMatchObject({ isCanary: true, pin: "v1.2.3" });
      expect((await s.listRuntimes({ stack: STACK, status: "degraded" })).map((r) => r.accountId)).toEqual(["acme", "gamma"]);
      await s.upsertRuntimes([{ stack: STACK, accountId: "beta", pin: null }]);
      expect((await s.getRuntime(STACK, "beta"))?.pin).toBeUndefined();
      expect(await s.getRuntime(STACK, "nobody")).toBeNull();
      expect(await s.listRuntimes({ stack: "other" })).toEqual([]);
    });

    it("refuses what is not a release tag, and a first sighting without versions", async () => {
      await expect(s.upsertRuntimes([observation("acme", { openclawVersion: "latest" })])).rejects.toThrow();
      await expect(s.upsertRuntimes([{ stack: STACK, accountId: "x" }])).rejects.toThrow();
      expect(await s.listRuntimes()).toEqual([]);
    });

    it("refuses ids the rest of the system refuses (stack and account id patterns), naming the value, and records nothing", async () => {
      const path = /"\.\.\/\.\.\/x" is not a stack name/;
      const markup = /"<b>X<\/b>" is not an account id/;
      await expect(s.upsertRuntimes([observation("acme", { stack: "../../x" })])).rejects.toThrow(path);
      await expect(s.upsertRuntimes([observation("acme"), observation("<b>X</b>")])).rejects.toThrow(markup);
      expect(await s.listRuntimes()).toEqual([]);
      await s.upsertRuntimes([observation("acme")]);
      await expect(s.recordUpgrade(upgrade("e-bad", "<b>X</b>"))).rejects.toThrow(markup);
      await expect(s.recordUpgrade(upgrade("e-bad2", "acme", { stack: "../../x" }))).rejects.toThrow(path);
      expect((await s.listUpgrades({})).items).toEqual([]);
      const pending = { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: T0, initiatedBy: "alice", strategy: "rolling" as const };
      await expect(s.setPendingUpgrade("../../x", "acme", pending)).rejects.toThrow(path);
      const start = { stack: STACK, accountId: "<b>X</b>", targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedBy: "ci", strategy: "rolling" as const };
      await expect(s.markUpgradeStarted(start)).rejects.toThrow(markup);
      await expect(s.createRollout({ rolloutId: "ro_badids01", stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "ci", batches: [["acme", "<b>X</b>"]] })).rejects.toThrow(markup);
      expect(await s.getRollout("ro_badids01")).toBeNull();
      await s.createRollout({ rolloutId: "ro_goodids1", stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "ci", batches: [["acme"]] });
      await expect(s.updateRollout("ro_goodids1", { runtimeStates: [{ accountId: "<b>X</b>", state: "failed" }] })).rejects.toThrow(markup);
      expect((await s.getRollout("ro_goodids1"))?.counts).toMatchObject({ total: 1, pending: 1, failed: 0 });
      const alert = { key: "runtime_offline:x", rule: "runtime_offline" as const, severity: "critical" as const, message: "offline" };
      await expect(s.openAlert({ ...alert, stack: "../../x" })).rejects.toThrow(path);
      await expect(s.openAlert({ ...alert, stack: STACK, accountId: "<b>X</b>" })).rejects.toThrow(markup);
      expect(await s.listAlerts({})).toEqual([]);
      await expect(s.appendActivity({ actor: "alice", action: "note", message: "m", stack: "../../x" })).rejects.toThrow(path);
      await expect(s.appendActivity({ actor: "alice", action: "note", message: "m", accountId: "<b>X</b>" })).rejects.toThrow(markup);
      expect((await s.listActivities({})).filter((a) => a.action === "note")).toEqual([]);
      expect((await s.listRuntimes()).map((r) => [r.stack, r.accountId, r.status])).toEqual([[STACK, "acme", "online"]]);
    });

    it("records upgrade results once by event id and moves the runtime", async () => {
      await s.upsertRuntimes([observation("acme")]);
      expect(await s.recordUpgrade(upgrade("e1", "acme"))).toEqual({ recorded: true });
      expect(await s.recordUpgrade(upgrade("e1", "acme"))).toEqual({ recorded: false });
      const r = await s.getRuntime(STACK, "acme");
      expect(r).toMatchObject({ openclawVersion: "v1.2.5", runtimeServiceVersion: "v0.5.2", status: "online" });
      expect(r!.recentUpgrades.map((u) => u.eventId)).toEqual(["e1"]);
      await s.recordUpgrade(upgrade("e2", "acme", { fromOpenclaw: "v1.2.5", toOpenclaw: "v1.3.0", status: "rolled_back", startedAt: T0 + 1000, error: "health" }));
      expect(await s.getRuntime(STACK, "acme")).toMatchObject({ openclawVersion: "v1.2.5", status: "online" });
      await s.recordUpgrade(upgrade("e3", "acme", { fromOpenclaw: "v1.2.5", toOpenclaw: "v1.3.0", status: "failed", startedAt: T0 + 2000 }));
      expect(await s.getRuntime(STACK, "acme")).toMatchObject({ openclawVersion: "v1.2.5", status: "error" });
      await expect(s.recordUpgrade(upgrade("bad", "acme", { toOpenclaw: "1.2; rm -rf /" }))).rejects.toThrow();
    });

    it("returns a runtime's last N upgrades, newest first (10 by default)", async () => {
      await s.upsertRuntimes([observation("acme")]);
      for (let i = 0; i < 13; i++) await s.recordUpgrade(upgrade(`u${i}`, "acme", { startedAt: T0 + i * 1000 }));
      const r = await s.getRuntime(STACK, "acme");
      expect(r!.recentUpgrades.map((u) => u.eventId)).toEqual(["u12", "u11", "u10", "u9", "u8", "u7", "u6", "u5", "u4", "u3"]);
      expect((await s.getRuntime(STACK, "acme", { upgrades: 2 }))!.recentUpgrades).toHaveLength(2);
    });

    it("paginates upgrade history with cursors, fleet-wide and per runtime", async () => {
      await s.upsertRuntimes([observation("a"), observation("b")]);
      for (let i = 0; i < 25; i++) await s.recordUpgrade(upgrade(`h${i}`, i % 2 ? "a" : "b", { startedAt: T0 + i * 1000 }));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      for (;;) {
        const page = await s.listUpgrades({ limit: 10, cursor });
        pages++;
        seen.push(...page.items.map((e) => e.eventId));
        if (page.isDone) break;
        cursor = page.cursor;
      }
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `h${24 - i}`));
      const perRuntime = await s.listUpgrades({ stack: STACK, accountId: "a", limit: 100 });
      expect(perRuntime.items).toHaveLength(12);
      expect(perRuntime.items.every((e) => e.accountId === "a")).toBe(true);
      expect(perRuntime.isDone).toBe(true);
    });

    it("records rollout runs: create (idempotent), update, per-runtime states, gates, active, list", async () => {
      await s.upsertRuntimes([observation("a"), observation("b"), observation("c")]);
      const input = {
        rolloutId: "ro_test0001",
        stack: STACK,
        target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" },
        strategy: "canary" as const,
        options: { batchPercent: 50, autoRollback: true },
        initiatedBy: "alice",
        reason: "release",
        batches: [["a"], ["b", "c"]],
        previous: [[{ openclaw: "v1.2.3", runtimeService: "v0.5.0" }], [{ openclaw: "v1.2.3", runtimeService: "v0.5.0" }, { openclaw: "v1.2.1", runtimeService: "v0.5.0" }]],
      };
      const created = await s.createRollout(input);
      // what a rollback restores is kept with the record, per runtime
      expect((await s.getRollout("ro_test0001"))!.runtimes.find((r) => r.accountId === "c")!.from).toEqual({ openclaw: "v1.2.1", runtimeService: "v0.5.0" });
      expect(created).toMatchObject({ status: "planned", currentBatch: 0, counts: { total: 3, pending: 3 }, gates: [] });
      expect(await s.createRollout({ ...input, initiatedBy: "bob" })).toMatchObject({ initiatedBy: "alice" });
      expect(await s.activeRollout(STACK)).toMatchObject({ rolloutId: "ro_test0001" });
      await s.updateRollout("ro_test0001", { status: "running" });
      await s.markUpgradeStarted({ stack: STACK, accountId: "a", rolloutId: "ro_test0001", targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", strategy: "canary", initiatedBy: "alice" });
      expect(await s.getRuntime(STACK, "a")).toMatchObject({ status: "upgrading", pendingUpgrade: { targetOpenclawVersion: "v1.2.5", rolloutId: "ro_test0001", strategy: "canary" } });
      expect((await s.getRollout("ro_test0001"))!.counts).toMatchObject({ pending: 2, upgrading: 1 });
      await s.recordUpgrade(upgrade("ra", "a", { rolloutId: "ro_test0001" }));
      expect((await s.getRuntime(STACK, "a"))!.pendingUpgrade).toBeUndefined();
      await expect(s.markUpgradeStarted({ stack: STACK, accountId: "a", targetOpenclawVersion: "v1.2", targetRuntimeVersion: "v0.5.2", strategy: "canary", initiatedBy: "x" })).rejects.toThrow();
      const after = await s.updateRollout("ro_test0001", {
        currentBatch: 1,
        gate: { at: T0, batch: 0, decision: "go", reason: "canary healthy", measures: { healthyPercent: 100 } },
      });
      expect(after).toMatchObject({ status: "running", currentBatch: 1, counts: { total: 3, pending: 2, upgrading: 0, succeeded: 1 } });
      expect(after.gates).toHaveLength(1);
      expect(after.startedAt).toBeTypeOf("number");
      await s.updateRollout("ro_test0001", { runtimeStates: [{ accountId: "b", state: "failed", error: "boom" }, { accountId: "c", state: "rolled_back" }], status: "halted" });
      const detail = await s.getRollout("ro_test0001");
      expect(detail).toMatchObject({ status: "halted", counts: { succeeded: 1, failed: 1, rolledBack: 1, pending: 0 } });
      expect(detail!.completedAt).toBeTypeOf("number");
      expect(detail!.runtimes.find((r) => r.accountId === "b")).toMatchObject({ state: "failed", error: "boom" });
      expect(await s.activeRollout(STACK)).toBeNull();
      await s.createRollout({ ...input, rolloutId: "ro_test0002", batches: [["a"]], createdAt: (created.createdAt ?? 0) + 10 });
      expect((await s.listRollouts({ stack: STACK })).map((r) => r.rolloutId)).toEqual(["ro_test0002", "ro_test0001"]);
      expect(await s.getRollout("ro_missing01")).toBeNull();
      await expect(s.createRollout({ ...input, rolloutId: "bad id" })).rejects.toThrow();
      await expect(s.createRollout({ ...input, rolloutId: "ro_test0003", batches: [["a"], ["a"]] })).rejects.toThrow();
    });

    it("keeps a finished rollout final: an illegal status change names the rollout, its status and the action", async () => {
      const input = { rolloutId: "ro_final0001", stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling" as const, options: {}, initiatedBy: "alice", batches: [["a"]] };
      await s.createRollout(input);
      await expect(s.updateRollout("ro_final0001", { status: "paused" })).rejects.toThrow("rollout ro_final0001 is planned: cannot pause it");
      await s.updateRollout("ro_final0001", { status: "running" });
      await s.updateRollout("ro_final0001", { status: "completed", statusReason: "every runtime upgraded" });
      await expect(s.updateRollout("ro_final0001", { status: "aborted" })).rejects.toThrow("rollout ro_final0001 already ended (completed): cannot abort it");
      await expect(s.updateRollout("ro_final0001", { status: "running" })).rejects.toThrow("rollout ro_final0001 already ended (completed): cannot resume it");
      // Nothing of a refused patch is written, not even the runtime states that came with it.
      await expect(s.updateRollout("ro_final0001", { status: "failed", runtimeStates: [{ accountId: "a", state: "failed" }] })).rejects.toThrow(/already ended/);
      const after = await s.getRollout("ro_final0001");
      expect(after).toMatchObject({ status: "completed", statusReason: "every runtime upgraded", counts: { pending: 1, failed: 0 } });
      // The same status again is no change (a retried write is harmless).
      expect(await s.updateRollout("ro_final0001", { status: "completed" })).toMatchObject({ status: "completed" });
    });

    it("never lets an older observation overwrite a newer one (a late or replayed report)", async () => {
      await s.upsertRuntimes([observation("acme", { status: "error", observedAt: T0 + 1_000 })]);
      await s.upsertRuntimes([{ stack: STACK, accountId: "acme", status: "online", healthScore: 99, observedAt: T0 + 5_000 }]);
      await s.upsertRuntimes([{ stack: STACK, accountId: "acme", status: "error", healthScore: 10, observedAt: T0 + 1_000 }]);
      expect(await s.getRuntime(STACK, "acme")).toMatchObject({ status: "online", healthScore: 99, lastObservedAt: T0 + 5_000 });
      await s.upsertRuntimes([{ stack: STACK, accountId: "acme", status: "degraded", observedAt: T0 + 5_000 }]);
      expect(await s.getRuntime(STACK, "acme")).toMatchObject({ status: "degraded" });
    });

    it("logs the same activities for the transitions that log one by themselves", async () => {
      await s.createRollout({ rolloutId: "ro_logs0001", stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "canary", options: {}, initiatedBy: "alice", batches: [["a"]] });
      const me = { pid: 7, host: "ci-1", user: "alice", startedAt: T0 };
      await s.acquireLock(STACK, me);
      await s.acquireLock(STACK, me);
      await s.releaseLock(STACK, me);
      await s.acquireLock(STACK, me);
      await s.breakLock(STACK, me);
      const logged = (await s.listActivities({ stack: STACK })).map((a) => [a.action, a.actor, a.message]).reverse();
      expect(logged).toEqual([
        ["rollout.created", "alice", "rollout ro_logs0001 of prod to v1.2.5 (canary)"],
        ["lock.acquire", "alice@ci-1", "rollout lock of prod taken (pid 7)"],
        ["lock.release", "alice@ci-1", "rollout lock of prod released (was pid 7 on ci-1)"],
        ["lock.acquire", "alice@ci-1", "rollout lock of prod taken (pid 7)"],
        ["lock.break", "store", "rollout lock of prod broken (was pid 7 on ci-1)"],
      ]);
    });

    it("guards the per-stack rollout lock with compare-and-set", async () => {
      const me = { pid: 100, host: "ci-1", user: "alice", startedAt: T0, rolloutId: "ro_lock0001" };
      const other = { pid: 200, host: "ci-2", user: "bob", startedAt: T0 + 1 };
      expect(await s.acquireLock(STACK, me)).toEqual({ ok: true, holder: { ...me, generation: 1 } });
      expect(await s.acquireLock(STACK, me)).toEqual({ ok: true, holder: { ...me, generation: 1 } });
      expect(await s.acquireLock(STACK, other)).toEqual({ ok: false, holder: { ...me, generation: 1 } });
      expect(await s.acquireLock("staging", other)).toEqual({ ok: true, holder: { ...other, generation: 1 } });
      expect(await s.getLock(STACK)).toEqual({ ...me, generation: 1 });
      expect(await s.releaseLock(STACK, other)).toBe(false);
      expect(await s.breakLock(STACK, { pid: 1, host: "ci-1" })).toBe(false);
      expect(await s.breakLock(STACK, me)).toBe(true);
      expect(await s.getLock(STACK)).toBeNull();
      // The generation keeps rising across holders, a released lease included.
      expect(await s.acquireLock(STACK, other)).toEqual({ ok: true, holder: { ...other, generation: 2 } });
      expect(await s.releaseLock(STACK, other)).toBe(true);
      expect(await s.releaseLock(STACK, other)).toBe(false);
    });

    it("fences the lease: a heartbeat renews it, a successor gets the next generation, and a stale orchestrator's write is refused", async () => {
      const id = "ro_fence0001";
      await s.createRollout({ rolloutId: id, stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "alice", batches: [["a"]], status: "running" });
      const a = { pid: 100, host: "ci-1", user: "alice", startedAt: T0, rolloutId: id, leaseSeconds: 60 };
      const b = { pid: 200, host: "ci-2", user: "bob", startedAt: T0, rolloutId: id, leaseSeconds: 60 };
      const before = Date.now();
      const first = await s.acquireLock(STACK, a);
      expect(first).toMatchObject({ ok: true, holder: { ...a, generation: 1 } });
      expect(first.holder!.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
      await s.updateRollout(id, { stepIndex: 1, generation: 1 });
      expect(await s.acquireLock(STACK, b)).toMatchObject({ ok: false, holder: { pid: 100, generation: 1 } });
      // The heartbeat: the same generation extends its lease.
      const renewed = await s.acquireLock(STACK, first.holder!);
      expect(renewed).toMatchObject({ ok: true, holder: { generation: 1 } });
      expect(renewed.holder!.expiresAt).toBeGreaterThanOrEqual(first.holder!.expiresAt!);
      // Its holder found gone, the lease is taken over one generation up.
      expect(await s.breakLock(STACK, a)).toBe(true);
      expect(await s.acquireLock(STACK, b)).toMatchObject({ ok: true, holder: { ...b, generation: 2 } });
      // The old holder's heartbeat is refused, naming its successor...
      expect(await s.acquireLock(STACK, first.holder!)).toMatchObject({ ok: false, holder: { pid: 200, generation: 2 } });
      // ...and so is its write, before and after the successor wrote, with the lease released too.
      await expect(s.updateRollout(id, { status: "paused", generation: 1 })).rejects.toThrow(`stale write to rollout ${id}: generation 1 was taken over by generation 2 (held by bob@ci-2, pid 200)`);
      await s.updateRollout(id, { stepIndex: 2, generation: 2 });
      expect(await s.releaseLock(STACK, b)).toBe(true);
      await expect(s.updateRollout(id, { stepIndex: 9, runtimeStates: [{ accountId: "a", state: "failed" }], generation: 1 })).rejects.toThrow(`stale write to rollout ${id}: generation 1 was taken over by generation 2`);
      expect(await s.getRollout(id)).toMatchObject({ status: "running", stepIndex: 2, generation: 2, counts: { failed: 0 } });
      // A person's pause carries no generation: it is not an orchestrator's write.
      expect(await s.updateRollout(id, { status: "paused" })).toMatchObject({ status: "paused" });
      expect(await s.acquireLock(STACK, a)).toMatchObject({ ok: true, holder: { generation: 3 } });
    });

    it("records the rollout's steps (bounded), its step index and since when it is paused", async () => {
      const id = "ro_steps0001";
      await s.createRollout({ rolloutId: id, stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "canary", options: { analysis: "observe", analysisWindowSeconds: 60 }, initiatedBy: "alice", batches: [["a"], ["b"]], status: "running", generation: 4 });
      const bake = { kind: "bake" as const, batch: 0, state: "running" as const, startedAt: T0, until: T0 + 40_000 };
      await s.updateRollout(id, { step: bake, stepIndex: 1, at: T0, generation: 4 });
      expect(await s.getRollout(id)).toMatchObject({ steps: [bake], stepIndex: 1, generation: 4, options: { analysis: "observe", analysisWindowSeconds: 60 } });
      await s.updateRollout(id, { status: "paused", statusReason: "paused by alice", at: T0 + 20_000 });
      expect(await s.getRollout(id)).toMatchObject({ status: "paused", pausedAt: T0 + 20_000, statusReason: "paused by alice" });
      const resumed = await s.updateRollout(id, { status: "running", at: T0 + 60_000, step: { ...bake, until: T0 + 80_000 } });
      expect(resumed.pausedAt).toBeUndefined();
      expect(resumed.steps).toEqual([{ ...bake, until: T0 + 80_000 }]);
      // The list keeps the newest steps (a running one always) so the record stays small.
      for (let b = 1; b <= 70; b++) await s.updateRollout(id, { step: { kind: "deploy", batch: b, state: "done", startedAt: T0 + b, endedAt: T0 + b }, stepIndex: b });
      const steps = (await s.getRollout(id))!.steps!;
      expect(steps).toHaveLength(64);
      expect(steps[0]).toEqual({ ...bake, until: T0 + 80_000 });
      expect(steps.at(-1)).toMatchObject({ kind: "deploy", batch: 70 });
      expect(steps[1]).toMatchObject({ kind: "deploy", batch: 8 });
    });

    it("gets and sets system config with fleet/ validation", async () => {
      await s.setConfig("min_supported_openclaw", "v1.1.0", "alice");
      await s.setConfig("upgrade_batch_percent", 10, "alice");
      await s.setConfig("upgrade_batch_percent", 20, "alice");
      const cfg = await s.getConfig();
      expect(cfg.map((c) => [c.key, c.value])).toEqual([
        ["min_supported_openclaw", "v1.1.0"],
        ["upgrade_batch_percent", 20],
      ]);
      await expect(s.setConfig("latest_openclaw_version", "latest", "alice")).rejects.toThrow();
      await expect(s.setConfig("upgrade_strategy", "yolo", "alice")).rejects.toThrow();
      await expect(s.setConfig("upgrade_batch_percent", 0, "alice")).rejects.toThrow();
    });

    it("opens an alert once, updates it, acknowledges and closes it", async () => {
      const a = { key: "runtime_offline:prod/acme", rule: "runtime_offline" as const, severity: "critical" as const, stack: STACK, accountId: "acme", message: "offline 6 min" };
      const first = await s.openAlert(a);
      const again = await s.openAlert({ ...a, message: "offline 7 min" });
      expect(again.alertId).toBe(first.alertId);
      let open = await s.listAlerts({ status: "open" });
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ message: "offline 7 min", status: "open" });
      expect(await s.acknowledgeAlert(first.alertId, "alice")).toBe(true);
      expect(await s.acknowledgeAlert(first.alertId, "alice")).toBe(false);
      await s.openAlert({ ...a, message: "offline 8 min" });
      open = await s.listAlerts({ accountId: "acme" });
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ status: "acknowledged", message: "offline 8 min" });
      expect(await s.closeAlert(a.key)).toBe(true);
      expect(await s.closeAlert(a.key)).toBe(false);
      const reopened = await s.openAlert(a);
      expect(reopened.alertId).not.toBe(first.alertId);
      expect((await s.listAlerts({})).map((x) => x.status).sort()).toEqual(["closed", "open"]);
      await s.openAlert({ key: "health_degraded:prod/beta", rule: "health_degraded", severity: "medium", stack: STACK, accountId: "beta", message: "score 70" });
      expect((await s.overview()).openAlerts).toEqual({ critical: 1, high: 0, medium: 1 });
      expect(await s.acknowledgeAlert("nope", "alice")).toBe(false);
    });

    it("appends and lists activities, newest first", async () => {
      await s.appendActivity({ actor: "alice", action: "note", message: "one", stack: STACK, at: T0 });
      await s.appendActivity({ actor: "bob", action: "note", message: "two", stack: STACK, accountId: "acme", at: T0 + 1 });
      await s.appendActivity({ actor: "bob", action: "note", message: "three", stack: "staging", at: T0 + 2 });
      expect((await s.listActivities({ stack: STACK })).filter((a) => a.action === "note").map((a) => a.message)).toEqual(["two", "one"]);
      expect((await s.listActivities({ accountId: "acme" })).map((a) => a.message)).toEqual(["two"]);
    });

    it("sets, reads and clears pending upgrades", async () => {
      await s.upsertRuntimes([observation("acme")]);
      const pending = { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: T0, initiatedBy: "alice", strategy: "rolling" as const };
      await s.setPendingUpgrade(STACK, "acme", pending);
      expect(await s.getPendingUpgrade(STACK, "acme")).toEqual(pending);
      await s.recordUpgrade(upgrade("p1", "acme"));
      expect(await s.getPendingUpgrade(STACK, "acme")).toBeNull();
      await s.setPendingUpgrade(STACK, "acme", pending);
      await s.setPendingUpgrade(STACK, "acme", null);
      expect(await s.getPendingUpgrade(STACK, "acme")).toBeNull();
      await expect(s.setPendingUpgrade(STACK, "ghost", pending)).rejects.toThrow();
      await expect(s.setPendingUpgrade(STACK, "acme", { ...pending, targetOpenclawVersion: "$(reboot)" })).rejects.toThrow();
    });

    it("records every option shape the CLI and the dashboard start a rollout with, exactly as given", async () => {
      let n = 0;
      for (const [shape, recorded] of Object.entries(RECORDED_OPTION_SHAPES)) {
        const rolloutId = `ro_shape${String(++n).padStart(4, "0")}`;
        const options = { ...GATE_OPTIONS, ...recorded };
        const input = { rolloutId, stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "canary" as const, options, initiatedBy: "alice@ci", batches: [["a"], ["b"]], status: "running" as const };
        const created = await s.createRollout(input);
        expect(created.options, shape).toEqual(options);
        expect((await s.getRollout(rolloutId))?.options, shape).toEqual(options);
        await s.updateRollout(rolloutId, { status: "completed" });
      }
    });

    it("computes the overview: status totals, versions with below-minimum flagged, recent rollouts", async () => {
      await s.setConfig("min_supported_openclaw", "v1.2.0", "alice");
      const obs: RuntimeObservation[] = [];
      for (let i = 0; i < 10; i++) obs.push(observation(`r${i}`, { openclawVersion: i < 6 ? "v1.2.5" : i < 8 ? "v1.2.3" : i < 9 ? "v1.1.5" : "v1.1.0", status: i === 0 ? "offline" : "online" }));
      await s.upsertRuntimes(obs);
      await s.upsertRuntimes([{ stack: STACK, accountId: "r1", status: "degraded" }]);
      await s.createRollout({ rolloutId: "ro_overview1", stack: STACK, target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "alice", batches: [["r2", "r3", "r4", "r5"]], status: "running" });
      await s.updateRollout("ro_overview1", { runtimeStates: [{ accountId: "r2", state: "succeeded" }, { accountId: "r3", state: "succeeded" }, { accountId: "r4", state: "succeeded" }, { accountId: "r5", state: "failed" }], status: "completed" });
      const o = await s.overview({ stack: STACK });
      expect(o.total).toBe(10);
      expect(Object.fromEntries(o.byStatus.map((r) => [r.status, r.count]))).toMatchObject({ online: 8, degraded: 1, offline: 1, upgrading: 0 });
      expect(o.byOpenclawVersion.map((r) => [r.label, r.count, r.belowMinimum])).toEqual([
        ["v1.2.5", 6, false],
        ["v1.2.3", 2, false],
        ["v1.1.x", 2, true],
      ]);
      expect(o.minSupportedOpenclaw).toBe("v1.2.0");
      expect(o.recentRollouts[0]).toMatchObject({ rolloutId: "ro_overview1", successRate: 75, failureRate: 25 });
      expect(o.recentRollouts[0]!.durationMs).toBeTypeOf("number");
      // Counters follow upgrades.
      await s.recordUpgrade(upgrade("ov1", "r9", { fromOpenclaw: "v1.1.0" }));
      const o2 = await s.overview({ stack: STACK });
      expect(o2.byOpenclawVersion.map((r) => [r.label, r.count])).toEqual([
        ["v1.2.5", 7],
        ["v1.2.3", 2],
        ["v1.1.x", 1],
      ]);
    });
  });
}
