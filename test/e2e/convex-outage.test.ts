// The Convex deployment (the stand-in) unreachable for 30 s in the middle of a lab rollout run
// through the `fleet` CLI: the rollout waits it out and completes, and every upgrade record is in
// Convex afterwards exactly once. Lab on FLEET_LAB_NET=127.0.6.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil, run } from "../../lab/procs";
import type { UpgradeEvent } from "../../store/types";
import { labProject, REPO, type LabProject } from "./helpers/labProject";
import { useStore } from "./helpers/stores";

const IDS = ["lab-01", "lab-02", "lab-03", "lab-04"];
const OUTAGE_MS = 30_000;

describe("Convex unreachable for 30 s mid-rollout", () => {
  const st = useStore("convex");
  let p: LabProject;

  beforeAll(async () => {
    process.env.FLEET_LAB_NET = "127.0.6";
    p = await labProject(4);
    Object.assign(p.env, st.env);
    const first = await p.engine().up(IDS.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(first.ok, first.generalErrors.join("\n")).toBe(true);
  });
  afterAll(async () => {
    delete process.env.FLEET_LAB_NET;
    await p?.down();
  });

  it("the rollout completes, every host on the target, one upgrade record per runtime in Convex", async () => {
    const rollout = run(
      process.execPath,
      [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, "--stack", "lab", "rollout", "--to", "v1.2.5", "--strategy", "rolling", "--batch", "1", "--wait", "1s"],
      { cwd: REPO, env: { ...process.env, ...p.env }, timeoutMs: 8 * 60_000 },
    );
    // Mid-rollout: the first batch is on the new version, the others are not yet.
    await pollUntil("lab-01 on v1.2.5", async () => (await p.status()).find((h) => h.runtime === "lab-01")?.openclaw === "v1.2.5", { timeoutMs: 180_000, intervalMs: 200 });
    const downAt = Date.now();
    await st.outage(OUTAGE_MS);
    // really down: the deployment refuses connections
    await expect(fetch(`${st.env.FLEET_CONVEX_URL}/api/query`, { method: "POST" })).rejects.toThrow(/fetch failed/);
    expect((await p.status()).filter((h) => h.openclaw === "v1.2.5").length).toBeLessThan(IDS.length);

    const r = await rollout;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(Date.now() - downAt).toBeGreaterThanOrEqual(OUTAGE_MS);
    expect(Object.fromEntries((await p.status()).map((h) => [h.runtime, `${h.openclaw}/${h.healthy}`]))).toEqual(Object.fromEntries(IDS.map((id) => [id, "v1.2.5/true"])));

    await st.read(p.storePath, async (s) => {
      const [record] = await s.listRollouts({ stack: "lab", limit: 1 });
      expect(record).toMatchObject({ status: "completed", counts: { total: 4, succeeded: 4 } });
      const all: UpgradeEvent[] = [];
      let cursor: string | null = null;
      do {
        const page = await s.listUpgrades({ stack: "lab", limit: 50, cursor });
        all.push(...page.items);
        cursor = page.isDone ? null : page.cursor;
      } while (cursor);
      const ofRollout = all.filter((e) => e.rolloutId === record!.rolloutId);
      expect(ofRollout.map((e) => `${e.accountId}:${e.status}:${e.toOpenclaw}`).sort()).toEqual(IDS.map((id) => `${id}:success:v1.2.5`));
      expect(new Set(all.map((e) => e.eventId)).size).toBe(all.length);
    });
  });
});
