// The rollout as a recorded step machine on the lab (real engine, real sshd), on both stores: a
// `fleet rollout` killed in the middle of its bake resumes without flags and bakes only what is
// left (measured from the record's timestamps); a pause shows why, since when and what is left
// in `fleet status`; an orchestrator stopped past its lease and woken after a successor took
// over is refused by the store and touches no host.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil, run } from "../../lab/procs";
import type { FleetStore, RolloutDetail, RolloutStep } from "../../store/types";
import { labProject, reapOrphanedPlugins, REPO, type LabProject } from "./helpers/labProject";
import { itOnlyOn, STORE_KINDS, useStore } from "./helpers/stores";

const IDS = ["lab-01", "lab-02", "lab-03"];
/** Short leases, so a stopped orchestrator's lease runs out inside the test. */
const LEASE_SECONDS = "4";

describe.each(STORE_KINDS)("the rollout's steps on a 3-host lab (real engine, %s store)", (kind) => {
  const st = useStore(kind);
  const itLocal = itOnlyOn(kind, "local");
  let p: LabProject;
  const children: ChildProcess[] = [];
  let since = Date.now();

  beforeAll(async () => {
    p = await labProject(3);
    Object.assign(p.env, st.env, { FLEET_LEASE_SECONDS: LEASE_SECONDS });
    const first = await p.engine().up(IDS.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(first.ok).toBe(true);
  });
  afterAll(async () => {
    for (const c of children) {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        // the group is already gone
      }
    }
    await reapOrphanedPlugins(since);
    await p?.down();
  });

  const argv = (...args: string[]) => [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, "--stack", "lab", ...args];
  const fleet = (...args: string[]) => run(process.execPath, argv(...args), { cwd: REPO, env: { ...process.env, ...p.env }, timeoutMs: 5 * 60_000 });
  /** `fleet rollout ...` in its own process group, as a user's terminal runs it. */
  const background = (...args: string[]) => {
    const child = spawn(process.execPath, argv(...args), { cwd: REPO, env: { ...process.env, ...p.env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    children.push(child);
    since = Math.min(since, Date.now());
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, exited, stderr: () => stderr };
  };
  const withStore = <T>(fn: (s: FleetStore) => Promise<T>): Promise<T> => st.read(p.storePath, fn);
  const latest = () => withStore(async (s) => (await s.getRollout((await s.listRollouts({ stack: "lab", limit: 1 }))[0]!.rolloutId))!);
  const stepOf = (r: RolloutDetail, kind: RolloutStep["kind"], batch = 0) => r.steps?.find((s) => s.kind === kind && s.batch === batch);
  const upgrades = async () => Object.fromEntries((await p.status()).map((h) => [h.runtime, h.upgrades]));
  const runningBake = (atLeastMs: number) =>
    pollUntil(
      `the canary's bake running for ${atLeastMs / 1000}s`,
      async () => {
        const r = await latest().catch(() => undefined);
        const bake = r && r.status !== "completed" ? stepOf(r, "bake") : undefined;
        return bake?.state === "running" && Date.now() >= bake.startedAt + atLeastMs ? { record: r!, bake } : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    );

  it("killed (SIGKILL) 20 s into a 40 s bake and resumed without flags: bakes the 20 s left of its recorded end, not 40 more", async () => {
    const before = await upgrades();
    const first = background("rollout", "--to", "v1.2.5", "--strategy", "canary", "--batch", "2", "--wait", "0s", "--bake", "40s");
    const { bake } = await runningBake(20_000);
    process.kill(-first.child.pid!, "SIGKILL");
    await first.exited;
    const killedAt = Date.now();
    const killed = await latest();
    expect(killed.status).toBe("running");
    expect(bake.until! - bake.startedAt).toBe(40_000);

    const resumed = await fleet("rollout", "resume");
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const done = await latest();
    expect(done.status).toBe("completed");
    const baked = stepOf(done, "bake")!;
    // The same bake, ended at its recorded end (give or take one probe interval), not restarted.
    expect(baked).toMatchObject({ state: "done", startedAt: bake.startedAt, until: bake.startedAt + 40_000 });
    const takeover = (await withStore((s) => s.listActivities({ stack: "lab", limit: 50 }))).find((a) => a.action === "rollout.lock-broken")!;
    expect(takeover.message).toMatch(/took over the lease of pid \d+ on .* \(its process is gone\)/);
    const left = bake.until! - killedAt;
    const bakedAfterResume = baked.endedAt! - takeover.at;
    expect(baked.endedAt! - bake.startedAt).toBeGreaterThanOrEqual(40_000);
    expect(baked.endedAt! - bake.startedAt).toBeLessThan(40_000 + 5_000);
    expect(bakedAfterResume).toBeLessThanOrEqual(left);
    console.info(`[${kind}] bake 40 s, killed ${Math.round((killedAt - bake.startedAt) / 100) / 10} s in (${Math.round(left / 100) / 10} s left); resumed, it baked ${Math.round(bakedAfterResume / 100) / 10} s more, ending ${baked.endedAt! - bake.until!} ms after its recorded end`);
    // the canary was deployed once; the new holder's generation fenced the old one out
    const after = await upgrades();
    for (const id of IDS) expect(after[id]! - before[id]!, id).toBe(1);
    expect(done.generation).toBeGreaterThan(killed.generation ?? 0);
  });

  it("a paused rollout says why, since when and what is left of its bake, in `fleet status` text and --json; resumed, it bakes what was left", async () => {
    const rollout = background("rollout", "--to", "v1.3.0", "--strategy", "canary", "--batch", "2", "--wait", "0s", "--bake", "30s");
    const { record } = await runningBake(5_000);
    const pause = await fleet("rollout", "pause", record.rolloutId);
    expect(pause.code, pause.stderr).toBe(0);
    expect(await rollout.exited).toBe(1); // a paused rollout is not done: exit 1, as every stop short of completed
    const paused = await latest();
    expect(paused.status).toBe("paused");
    const bake = stepOf(paused, "bake")!;
    expect(bake.state).toBe("running");
    const left = Math.ceil((bake.until! - paused.pausedAt!) / 1000);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(25);

    const json = await fleet("status", "--json");
    expect(json.code).toBe(0);
    const active = (JSON.parse(json.stdout) as { activeRollout: { rolloutId: string; pause: { reason: string; since: number; remainingSeconds?: number }; step: RolloutStep } }).activeRollout;
    expect(active.rolloutId).toBe(record.rolloutId);
    expect(active.pause).toEqual({ reason: expect.stringMatching(/^paused by \S+@\S+$/) as unknown as string, since: paused.pausedAt!, remainingSeconds: left });
    expect(active.step).toMatchObject({ kind: "bake", batch: 0, state: "running", until: bake.until });
    const text = await fleet("status");
    expect(text.stdout).toContain(`rollout in progress: ${record.rolloutId} (paused) to v1.3.0, batch 1/2`);
    expect(text.stdout).toMatch(new RegExp(`paused since ${new Date(paused.pausedAt!).toISOString().replace(/\./g, "\\.")} \\(\\d+s ago\\): paused by \\S+@\\S+; ${left}s left of its bake when resumed`));

    const resumedAt = Date.now();
    const resumed = await fleet("rollout", "resume", record.rolloutId);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const baked = stepOf(await latest(), "bake")!;
    // the pause stopped the bake's clock: from the resume it ran what it had left
    expect(baked.state).toBe("done");
    expect(baked.until! - baked.startedAt).toBeGreaterThan(30_000);
    expect(baked.endedAt! - resumedAt).toBeGreaterThanOrEqual(left * 1000 - 1000);
  });

  itLocal("an orchestrator stopped past its lease and woken after a successor took over: its write is refused, it exits 1 in one line and touches no host", async () => {
    const stale = background("rollout", "--to", "v1.2.5", "--strategy", "canary", "--batch", "2", "--wait", "0s", "--bake", "20s", "--allow-downgrade");
    const { record } = await runningBake(2_000);
    // the whole process group: the launcher and the CLI it runs
    process.kill(-stale.child.pid!, "SIGSTOP");
    try {
      // its lease runs out (no heartbeat while it is stopped)
      await pollUntil("the stopped orchestrator's lease expired", async () => {
        const lease = await withStore((s) => s.getLock("lab"));
        return lease?.expiresAt !== undefined && lease.expiresAt < Date.now();
      }, { timeoutMs: 30_000, intervalMs: 250 });
      const resumed = await fleet("rollout", "resume", record.rolloutId);
      expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    } finally {
      process.kill(-stale.child.pid!, "SIGCONT");
    }
    const finished = await latest();
    expect(finished.status).toBe("completed");
    const before = await upgrades();
    expect(await stale.exited).toBe(1);
    const lines = stale.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fleet: the lease of stack lab \(generation \d+, pid \d+, rollout ro_\w+\) was taken over (to generation \d+ \(.*\)|by a newer generation): this orchestrator stopped and touched no host after that$/);
    expect(await upgrades()).toEqual(before);
    expect(await latest()).toEqual(finished);
  });
});
