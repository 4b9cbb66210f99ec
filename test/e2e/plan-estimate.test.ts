// `fleet plan`'s estimate against the lab: one rollout measured (its record), the next one
// planned from it, then run: the estimate is within 25% of the wall time the user waited.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureRollout } from "../../fleet/plan";
import { fleetRunner, labProject, type LabProject } from "./helpers/labProject";
import { STORE_KINDS, useStore } from "./helpers/stores";

const IDS = ["lab-01", "lab-02", "lab-03", "lab-04"];
// One runtime per batch: four batches per rollout, so one slow batch moves the sum less.
const OPTIONS = ["--strategy", "rolling", "--batch", "1", "--wait", "0s"];

interface PlanDoc {
  plan: { estimatedSeconds: number; batches: unknown[] };
  estimate: { seconds: number; basis: { kind: string; rollouts?: string[] } };
}

describe.each(STORE_KINDS)("fleet plan's estimate on a 4-host lab (real engine, %s store)", (kind) => {
  const st = useStore(kind);
  let p: LabProject;

  beforeAll(async () => {
    p = await labProject(4);
    Object.assign(p.env, st.env);
    const first = await p.engine().up(IDS.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(first.ok).toBe(true);
  });
  afterAll(async () => {
    await p?.down();
  });

  const fleet = fleetRunner(() => p);
  const plan = async (...args: string[]): Promise<PlanDoc> => {
    const r = await fleet("--json", "plan", ...args, ...OPTIONS, "--no-preview");
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as PlanDoc;
  };
  const timedRollout = async (...args: string[]): Promise<number> => {
    const started = performance.now();
    const r = await fleet("rollout", ...args, ...OPTIONS);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return (performance.now() - started) / 1000;
  };

  it("measured from the last rollout, within 25% of the next one's wall time", async () => {
    expect((await plan("--to", "v1.2.5")).estimate.basis.kind).toBe("model");
    const firstSeconds = await timedRollout("--to", "v1.2.5");

    const next = await plan("--to", "v1.2.3", "--allow-downgrade");
    expect(next.estimate.basis.kind).toBe("measured");
    expect(next.estimate.basis.rollouts).toHaveLength(1);
    expect(next.plan.estimatedSeconds).toBe(next.estimate.seconds);
    const actual = await timedRollout("--to", "v1.2.3", "--allow-downgrade");
    const measured = await st.read(p.storePath, async (s) => (await s.listRollouts({ stack: "lab", limit: 2 })).map((r) => measureRollout(r)));
    console.log(`${kind}: first rollout ${firstSeconds.toFixed(1)} s; estimated ${next.estimate.seconds} s, took ${actual.toFixed(1)} s; as recorded (newest first): ${JSON.stringify(measured)}`);
    expect(Math.abs(next.estimate.seconds - actual)).toBeLessThanOrEqual(0.25 * actual);
  });
});
