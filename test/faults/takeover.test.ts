// Fault row, on both stores: a stale orchestrator woken after its lease was taken. The first
// `fleet rollout` is frozen (SIGSTOP) in its wait between batches; once its lease expired
// (FLEET_LEASE_SECONDS), `fleet rollout resume` with no flags takes the stack over and finishes;
// then the frozen one is woken (SIGCONT): its next write carries the old generation, the store
// refuses it, and it stops with one line naming the generation, touching no host.
// Written against the fenced lease of issue 13 part 2.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil, type RunResult } from "../../lab/procs";
import { STORE_KINDS, useStore } from "../e2e/helpers/stores";
import { faultLab, faultsNet, fleetCli, freshTarget, hostEvidence, refusal, runRow, servedAs, type Suite } from "./harness";

const IDS = ["lab-01", "lab-02", "lab-03"];
const LEASE_SECONDS = "6";

describe.each(STORE_KINDS)("fault suite: a stale orchestrator after a takeover (%s store)", (kind) => {
  const st = useStore(kind);
  const s = {} as Suite;

  beforeAll(async () => {
    s.st = st;
    s.p = await faultLab(IDS.length, faultsNet(kind === "local" ? 3 : 4), st);
    s.cli = fleetCli(s.p, () => ({ ...st.env, FLEET_LEASE_SECONDS: LEASE_SECONDS }));
  });
  afterAll(async () => {
    await s.cli?.cleanup();
    await s.p?.down();
    delete process.env.FLEET_LAB_NET;
  });

  it("the woken orchestrator's write is refused, it stops with one line naming its generation, no host touched twice", async () => {
    const to = freshTarget(s.p);
    let successor: RunResult | undefined;
    let stale: RunResult | undefined;
    let logsAtTakeoverEnd = 0;
    await runRow(s, {
      fault: `stale orchestrator woken after its lease was taken (${kind})`,
      radius: IDS,
      rollout: [...to, "--strategy", "rolling", "--batch", "2", "--wait", "20s"],
      during: async (run) => {
        await run.waitFor("the wait between batches", (e) => e.type === "wait");
        run.kill("SIGSTOP");
        try {
          // refused while the frozen holder's lease runs; taken over once it expired
          successor = await pollUntil(
            "the lease expired and taken over",
            async () => {
              const r = await s.cli.fleet("rollout", "resume");
              return r.code === 0 ? r : /held by|lease/i.test(r.stderr) ? undefined : Promise.reject(new Error(r.stderr));
            },
            { timeoutMs: 60_000, intervalMs: 1_000 },
          );
          logsAtTakeoverEnd = [...(await hostEvidence(s.p)).values()].reduce((n, h) => n + h.log.length, 0);
        } finally {
          run.kill("SIGCONT");
        }
        stale = await run.done;
      },
      expect: async ({ after }) => {
        expect(successor!.code, successor!.stderr).toBe(0);
        for (const id of IDS) expect(after.get(id)!.served, id).toBe(servedAs(to));
        expect(stale!.code).toBe(1);
        // one line: on stderr, or (it runs with --json) its last JSON line's error
        const lines = refusal(stale!);
        expect(lines, lines.join("\n")).toHaveLength(1);
        expect(lines[0]).toMatch(/generation \d+/);
        const logsNow = [...after.values()].reduce((n, h) => n + h.log.length, 0);
        expect(logsNow, "no host run after the stale orchestrator woke").toBe(logsAtTakeoverEnd);
        return "taken over with no flags after the lease expired; the stale one's write refused, it stopped naming its generation";
      },
    });
  });
});
