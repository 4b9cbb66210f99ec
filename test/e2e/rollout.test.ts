// Fleet rollouts on the lab with the real engine, run as a user runs them: the `fleet` CLI as a
// child process. Checked over HTTP, with the lab's own counters and with the store's records.
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFault } from "../../lab/lab";
import { pollUntil } from "../../lab/procs";
import type { FleetStore, RolloutRecord, UpgradeEvent } from "../../store/types";
import { fleetRunner, labProject, reapOrphanedPlugins, REPO, type LabProject } from "./helpers/labProject";
import { itOnlyOn, STORE_KINDS, useStore } from "./helpers/stores";

const IDS = Array.from({ length: 10 }, (_, i) => `lab-${String(i + 1).padStart(2, "0")}`);

describe.each(STORE_KINDS)("fleet rollout on a 10-host lab (real engine, %s store)", (kind) => {
  const st = useStore(kind);
  const itLocal = itOnlyOn(kind, "local");
  let p: LabProject;

  beforeAll(async () => {
    p = await labProject(10);
    Object.assign(p.env, st.env);
    const first = await p.engine().up(IDS.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(first.ok).toBe(true);
  });
  const cleanups: Array<() => void | Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
    await p?.down();
  });

  const fleet = fleetRunner(() => p);
  const withStore = <T>(fn: (s: FleetStore) => Promise<T>): Promise<T> => st.read(p.storePath, fn);
  const latestRollout = () => withStore(async (s) => (await s.listRollouts({ stack: "lab", limit: 1 }))[0]!);
  const counters = async () => Object.fromEntries((await p.status()).map((h) => [h.runtime, h]));
  const served = async () => Object.fromEntries((await p.status()).map((h) => [h.runtime, h.healthy ? `${h.openclaw}/${h.runtimeService}` : "unhealthy"]));
  const history = (rolloutId: string) =>
    withStore(async (s) => {
      const all: UpgradeEvent[] = [];
      let cursor: string | null = null;
      do {
        const page = await s.listUpgrades({ stack: "lab", rolloutId, limit: 50, cursor });
        all.push(...page.items);
        cursor = page.isDone ? null : page.cursor;
      } while (cursor);
      return all;
    });

  it("canary rollout, 25% batches: every host ends on the target; one success per runtime in history; status agrees", async () => {
    const r = await fleet("rollout", "--to", "v1.2.5", "--strategy", "canary", "--batch", "25%", "--wait", "1s", "--bake", "3s", "--reason", "release 1.2.5");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/batch 1\/4 \(canary\): lab-01/);
    expect(await served()).toEqual(Object.fromEntries(IDS.map((id) => [id, "v1.2.5/v0.5.0"])));

    const rollout = await latestRollout();
    expect(rollout).toMatchObject({ status: "completed", initiatedBy: expect.stringContaining("e2e@test") as unknown as string, reason: "release 1.2.5" });
    const records = await history(rollout.rolloutId);
    expect(records.map((e) => e.accountId).sort()).toEqual(IDS);
    for (const e of records) {
      expect(e).toMatchObject({ status: "success", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", executor: "pulumi", reason: "release 1.2.5" });
      expect(e.durationMs).toBeGreaterThan(0);
    }
    const human = await fleet("history");
    expect(human.stdout).toMatch(/lab-\d\d\s+v1\.2\.3 -> v1\.2\.5\s+success/);

    const status = await fleet("status", "--json");
    expect(status.code).toBe(0);
    const doc = JSON.parse(status.stdout) as { total: number; byOpenclawVersion: Array<{ label: string; count: number }>; byStatus: Array<{ status: string; count: number }> };
    expect(doc.total).toBe(10);
    expect(doc.byOpenclawVersion.filter((v) => v.count > 0)).toEqual([expect.objectContaining({ label: "v1.2.5", count: 10 })]);
    expect(doc.byStatus.find((s) => s.status === "online")!.count).toBe(10);
    expect(p.stackConfig()["fleet:release"]).toEqual({ openclaw: "v1.2.5", runtimeService: "v0.5.0" });
  });

  itLocal("a canary that degrades during the bake: rolled back, healthy, nobody else touched, exit 1, recorded as halted", async () => {
    // healthy through the deploy and its checks (with room for a slow machine), unhealthy 20 s
    // after the new version starts: inside the 40 s bake
    await labFault(p.labDir, "lab-01", "degrade:20");
    try {
      const before = await counters();
      const r = await fleet("rollout", "--to", "v1.3.0", "--strategy", "canary", "--batch", "25%", "--wait", "1s", "--bake", "40s");
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/halted: canary failed: lab-01/);
      expect((await served())["lab-01"]).toBe("v1.2.5/v0.5.0");
      const after = await counters();
      for (const id of IDS.slice(1)) {
        expect(after[id]!.upgrades, id).toBe(before[id]!.upgrades);
        expect(after[id]!.restarts, id).toBe(before[id]!.restarts);
      }
      const rollout: RolloutRecord = await latestRollout();
      expect(rollout.status).toBe("halted");
      expect(rollout.statusReason).toMatch(/canary failed: lab-01: .*during the bake/);
      expect(p.stackConfig()["fleet:runtimes"]).toEqual(expect.arrayContaining([expect.objectContaining({ accountId: "lab-01", openclaw: "v1.2.5" })]));
    } finally {
      await labFault(p.labDir, "lab-01", "clear");
    }
  });

  itLocal("fail-upgrade on 1 host of a 4-host batch: 20% halts after that batch; 30% completes the rest and reports it", async () => {
    await labFault(p.labDir, "lab-03", "fail-upgrade");
    try {
      const before = await counters();
      const strict = await fleet("rollout", "--to", "v1.3.0", "--strategy", "rolling", "--batch", "4", "--wait", "1s", "--max-batch-failure", "20%", "--pause-on-failure", "50%");
      expect(strict.code).toBe(1);
      expect(strict.stdout).toMatch(/halted: batch failure rate 25% exceeds --max-batch-failure 20%/);
      const halted = await served();
      expect(halted).toMatchObject({ "lab-01": "v1.3.0/v0.5.0", "lab-02": "v1.3.0/v0.5.0", "lab-03": "v1.2.5/v0.5.0", "lab-04": "v1.3.0/v0.5.0" });
      const mid = await counters();
      for (const id of IDS.slice(4)) expect(mid[id]!.upgrades, `${id} untouched`).toBe(before[id]!.upgrades);
      expect((await latestRollout()).status).toBe("halted");

      const lenient = await fleet("rollout", "--to", "v1.3.0", "--strategy", "rolling", "--batch", "4", "--wait", "1s", "--max-batch-failure", "30%", "--pause-on-failure", "50%");
      expect(lenient.code).toBe(1);
      expect(lenient.stdout).toMatch(/completed: completed with 1 failed: lab-03/);
      const done = await served();
      for (const id of IDS.filter((x) => x !== "lab-03")) expect(done[id], id).toBe("v1.3.0/v0.5.0");
      expect(done["lab-03"]).toBe("v1.2.5/v0.5.0");
      const rollout = await latestRollout();
      expect(rollout).toMatchObject({ status: "completed", counts: { failed: 0, rolledBack: 1 } });
    } finally {
      await labFault(p.labDir, "lab-03", "clear");
    }
  });

  it("kill -9 of the orchestrator mid-batch, then resume: completes, each host upgraded once, no record missing", async () => {
    await labFault(p.labDir, "lab-02", "slow:6");
    try {
      const before = await counters();
      const child = spawn(
        process.execPath,
        [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, "--stack", "lab", "rollout", "--to", "v1.3.0", "--runtime-service", "v0.5.2", "--strategy", "rolling", "--batch", "5", "--wait", "1s"],
        // its own process group: after the test, whatever it left running (its `pulumi up`'s
        // plugins, orphaned by the kill) is cleaned up with the group
        { cwd: REPO, env: { ...process.env, ...p.env }, stdio: "ignore", detached: true },
      );
      const startedAt = Date.now();
      cleanups.push(async () => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // the group is already gone
        }
        // the killed run's plugins notice the engine is gone and stop by themselves
        const outstayed = await reapOrphanedPlugins(startedAt);
        if (outstayed > 0) console.warn(`${outstayed} orphaned Pulumi plugin(s) outstayed their health check and were killed`);
      });
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      // Mid-batch: the first batch's fast hosts are done, the slow one is still upgrading.
      await pollUntil("lab-01 on the new runtime service", async () => (await p.status()).find((h) => h.runtime === "lab-01")?.runtimeService === "v0.5.2", {
        timeoutMs: 120_000,
        intervalMs: 200,
      });
      child.kill("SIGKILL");
      await exited;
      const killed = await latestRollout();
      expect(killed.status).toBe("running");

      const resumed = await fleet("rollout", "resume", "--break-lock");
      expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
      expect(await served()).toEqual(Object.fromEntries(IDS.map((id) => [id, "v1.3.0/v0.5.2"])));
      const after = await counters();
      for (const id of IDS) expect(after[id]!.upgrades - before[id]!.upgrades, `${id} upgraded once`).toBe(1);
      const records = await history(killed.rolloutId);
      expect(records.map((e) => e.accountId).sort()).toEqual(IDS);
      expect(records.every((e) => e.status === "success" && e.toRuntimeService === "v0.5.2")).toBe(true);
      expect((await latestRollout()).status).toBe("completed");
    } finally {
      await labFault(p.labDir, "lab-02", "clear");
    }
  });
});
