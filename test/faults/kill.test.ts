// Fault rows: the orchestrator killed with SIGKILL during each kind of step (deploy, bake, wait,
// gate, rollback), then `fleet rollout resume` with no flags (the holder is provably gone: same
// host, its pid dead). A bake or wait resumed continues to its recorded end, not from the start.
// Written against the step machine and lease of issue 13 parts 1-3.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFault } from "../../lab/lab";
import { pollUntil, type RunResult } from "../../lab/procs";
import { useStore } from "../e2e/helpers/stores";
import { faultLab, faultsNet, fleetCli, freshTarget, hostEvidence, runRow, servedAs, type FleetRun, type ProgressLine, type Suite } from "./harness";

const IDS = ["lab-01", "lab-02", "lab-03"];

describe("fault suite: the orchestrator killed mid-step, resumed with no flags (embedded store)", () => {
  const st = useStore("local");
  const s = {} as Suite;

  beforeAll(async () => {
    s.st = st;
    s.p = await faultLab(IDS.length, faultsNet(2));
    s.cli = fleetCli(s.p);
  });
  afterAll(async () => {
    await s.cli?.cleanup();
    await s.p?.down();
    delete process.env.FLEET_LAB_NET;
  });

  const at = (e: ProgressLine) => Date.parse(String(e.at));

  /** SIGKILL, then `fleet rollout resume` (no flags) to the end. */
  async function killAndResume(run: FleetRun): Promise<{ resumed: FleetRun; result: RunResult; resumedAt: number }> {
    run.kill("SIGKILL");
    await run.done;
    const resumedAt = Date.now();
    const resumed = s.cli.start("rollout", "resume");
    return { resumed, result: await resumed.done, resumedAt };
  }

  const completedOn = (to: string[], r: { result: RunResult } | undefined, after: Map<string, { served: string | null }>) => {
    expect(r!.result.code, `${r!.result.stdout}\n${r!.result.stderr}`).toBe(0);
    for (const id of IDS) expect(after.get(id)!.served, id).toBe(servedAs(to));
  };

  it("killed during a deploy (one host of the batch done, one still upgrading): resumed, each host upgraded once", async () => {
    const to = freshTarget(s.p);
    let r: Awaited<ReturnType<typeof killAndResume>> | undefined;
    await runRow(s, {
      fault: "orchestrator SIGKILLed during deploy",
      radius: IDS,
      rollout: [...to, "--strategy", "rolling", "--batch", "2", "--wait", "1s"],
      before: () => labFault(s.p.labDir, "lab-02", "slow:6").then(() => undefined),
      during: async (run) => {
        await pollUntil("lab-01 on the target, mid-batch", async () => (await hostEvidence(s.p)).get("lab-01")?.served === servedAs(to), { timeoutMs: 180_000, intervalMs: 200 });
        r = await killAndResume(run);
      },
      expect: ({ after }) => {
        completedOn(to, r, after);
        return "resumed with no flags; the half-applied batch finished, completed";
      },
      after: () => labFault(s.p.labDir, "lab-02", "clear").then(() => undefined),
    });
  });

  it("killed 20 s into a 40 s bake: resumed with no flags, it bakes about 20 s more, not 40", async () => {
    const to = freshTarget(s.p);
    let r: Awaited<ReturnType<typeof killAndResume>> | undefined;
    let bakeStart = 0;
    let bakeEnd = 0;
    await runRow(s, {
      fault: "orchestrator SIGKILLed during bake",
      radius: IDS,
      rollout: [...to, "--strategy", "canary", "--batch", "2", "--wait", "1s", "--bake", "40s"],
      during: async (run) => {
        const first = await run.waitFor("the bake", (e) => e.type === "bake");
        bakeEnd = Number(first.untilMs);
        bakeStart = bakeEnd - 40_000;
        await pollUntil("20 s into the bake", () => Date.now() >= bakeStart + 20_000, { timeoutMs: 60_000, intervalMs: 100 });
        r = await killAndResume(run);
      },
      expect: ({ after }) => {
        completedOn(to, r, after);
        const resumedBake = r!.resumed.events.find((e) => e.type === "bake");
        // the recorded end, not a new 40 s from the resume
        expect(Number(resumedBake?.untilMs), "the resumed bake's end").toBeCloseTo(bakeEnd, -3);
        const next = r!.resumed.events.find((e) => e.type === "batch" && e.batch === 1)!;
        const moreSeconds = (at(next) - r!.resumedAt) / 1000;
        expect(moreSeconds).toBeLessThan(30);
        expect(at(next)).toBeGreaterThanOrEqual(bakeEnd - 1000);
        return `resumed with no flags; baked ${moreSeconds.toFixed(1)} s more to the recorded end (not 40), completed`;
      },
    });
  });

  it("killed during the wait between batches: resumed, the wait ends at its recorded time", async () => {
    const to = freshTarget(s.p);
    let r: Awaited<ReturnType<typeof killAndResume>> | undefined;
    let waitStart = 0;
    await runRow(s, {
      fault: "orchestrator SIGKILLed during wait",
      radius: IDS,
      rollout: [...to, "--strategy", "rolling", "--batch", "2", "--wait", "24s"],
      during: async (run) => {
        waitStart = at(await run.waitFor("the wait between batches", (e) => e.type === "wait"));
        await pollUntil("10 s into the wait", () => Date.now() >= waitStart + 10_000, { timeoutMs: 60_000, intervalMs: 100 });
        r = await killAndResume(run);
      },
      expect: ({ after }) => {
        completedOn(to, r, after);
        const next = at(r!.resumed.events.find((e) => e.type === "batch" && e.batch === 1)!);
        expect(next).toBeGreaterThanOrEqual(waitStart + 23_000);
        expect(next, "not a new 24 s wait from the resume").toBeLessThan(r!.resumedAt + 20_000);
        return `resumed with no flags; the wait ended ${((next - waitStart) / 1000).toFixed(1)} s after it began, completed`;
      },
    });
  });

  it("killed while the fleet gate holds the next batch: resumed once the fleet is healthy, completes", async () => {
    const to = freshTarget(s.p);
    let r: Awaited<ReturnType<typeof killAndResume>> | undefined;
    await runRow(s, {
      fault: "orchestrator SIGKILLed during gate",
      radius: IDS,
      rollout: [...to, "--strategy", "rolling", "--batch", "2", "--wait", "2s"],
      during: async (run) => {
        await run.waitFor("batch 1's gate passed", (e) => e.type === "gate" && e.batch === 0 && e.action === "go");
        await labFault(s.p.labDir, "lab-02", "degrade-now");
        await run.waitFor("the fleet gate holding", (e) => e.type === "gate" && e.action === "wait");
        run.kill("SIGKILL");
        await run.done;
        await labFault(s.p.labDir, "lab-02", "clear");
        const resumedAt = Date.now();
        const resumed = s.cli.start("rollout", "resume");
        r = { resumed, result: await resumed.done, resumedAt };
      },
      expect: ({ after }) => {
        completedOn(to, r, after);
        return "resumed with no flags; the gate re-checked a healthy fleet and went on, completed";
      },
      after: () => labFault(s.p.labDir, "lab-02", "clear").then(() => undefined),
    });
  });

  it("killed during the rollback of a canary that degraded in its bake: resumed, the rollback finishes, halted", async () => {
    const to = freshTarget(s.p);
    let r: Awaited<ReturnType<typeof killAndResume>> | undefined;
    await runRow(s, {
      fault: "orchestrator SIGKILLed during rollback",
      radius: ["lab-01"],
      rollout: [...to, "--strategy", "canary", "--batch", "2", "--wait", "1s", "--bake", "30s"],
      during: async (run) => {
        await run.waitFor("the bake's first probe", (e) => e.type === "bake" && e.healthy === true);
        await labFault(s.p.labDir, "lab-01", "degrade-now");
        await run.waitFor("the bake's halt", (e) => e.type === "gate" && e.action === "halt");
        r = await killAndResume(run);
      },
      expect: async ({ before, after }) => {
        expect(r!.result.code).toBe(1);
        const rollout = await s.st.read(s.p.storePath, async (x) => (await x.listRollouts({ stack: "lab", limit: 1 }))[0]);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(after.get("lab-01")).toMatchObject({ served: before.get("lab-01")!.served, healthy: true });
        return "resumed with no flags; the canary's rollback finished, halted";
      },
      after: () => labFault(s.p.labDir, "lab-01", "clear").then(() => undefined),
    });
  });
});
