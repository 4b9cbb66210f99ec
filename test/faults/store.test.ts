// Fault rows about the store: the Convex deployment (the local stand-in, its listeners closed
// and reopened with the data kept) unavailable during the post-deploy hooks, during a gate and
// during the rollout's final record. The hosts' result ids must all end up in Convex.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useStore } from "../e2e/helpers/stores";
import { faultLab, faultsNet, fleetCli, freshTarget, runRow, servedAs, type Suite } from "./harness";

const IDS = ["lab-01", "lab-02", "lab-03"];

describe("fault suite: the store unavailable (Convex stand-in)", () => {
  const st = useStore("convex");
  const s = {} as Suite;

  beforeAll(async () => {
    s.st = st;
    s.p = await faultLab(IDS.length, faultsNet(1), st);
    s.cli = fleetCli(s.p, () => st.env);
  });
  afterAll(async () => {
    await s.cli?.cleanup();
    await s.p?.down();
    delete process.env.FLEET_LAB_NET;
  });

  const everyoneOn = (after: Map<string, { served: string | null }>, to: string[]) => {
    for (const id of IDS) expect(after.get(id)!.served, id).toBe(servedAs(to));
  };

  it("unavailable while the hooks record the batch's results: the outbox keeps them, every record arrives once", async () => {
    const to = freshTarget(s.p);
    await runRow(s, {
      fault: "store unavailable during hooks",
      radius: IDS,
      rollout: [...to, "--strategy", "rolling", "--batch", "3", "--wait", "1s"],
      during: async (run) => {
        // the program and its plugins take seconds to start: the hooks run inside the outage
        await run.waitFor("the batch's deploy starting", (e) => e.type === "batch");
        await st.outage(15_000);
      },
      expect: ({ result, rollout, after }) => {
        expect(result.code, result.stderr).toBe(0);
        expect(rollout).toMatchObject({ status: "completed" });
        everyoneOn(after, to);
        return "completed after the outage; the hooks' results reached Convex from the outbox";
      },
    });
  });

  it("unavailable during the canary's bake gate: the gate waits for the store, the rollout completes", async () => {
    const to = freshTarget(s.p);
    await runRow(s, {
      fault: "store unavailable during a gate",
      radius: IDS,
      rollout: [...to, "--strategy", "canary", "--batch", "2", "--wait", "1s", "--bake", "12s"],
      during: async (run) => {
        await run.waitFor("the canary's bake", (e) => e.type === "bake");
        await st.outage(8_000);
      },
      expect: ({ result, rollout, after }) => {
        expect(result.code, result.stderr).toBe(0);
        expect(rollout).toMatchObject({ status: "completed" });
        everyoneOn(after, to);
        return "completed; the bake's gate went on once the store was back";
      },
    });
  });

  it("unavailable as the rollout writes its final record: the record is written once the store is back", async () => {
    const to = freshTarget(s.p);
    await runRow(s, {
      fault: "store unavailable during the final record",
      radius: IDS,
      rollout: [...to, "--strategy", "rolling", "--batch", "3", "--wait", "1s"],
      during: async (run) => {
        // the last batch's gate is the last step before the rollout records how it ended
        await run.waitFor("the last batch's gate", (e) => e.type === "gate");
        await st.outage(8_000);
      },
      expect: ({ result, rollout, after }) => {
        expect(result.code, result.stderr).toBe(0);
        expect(rollout).toMatchObject({ status: "completed", counts: { total: IDS.length, succeeded: IDS.length } });
        everyoneOn(after, to);
        return "completed; the final record written after the outage";
      },
    });
  });
});
