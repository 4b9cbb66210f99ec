// Fault rows about hosts, releases, the stack config and concurrent runs, on a 4-host lab with
// the real engine and the embedded store. lab-01 is the canary.
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFault } from "../../lab/lab";
import { findHost } from "../../lab/lab";
import { sshControl } from "../../lab/sshd";
import { desired, faultLab, faultsNet, fleetCli, freshTarget, refusal, runRow, servedAs, withStatus, type Suite } from "./harness";
import { useStore } from "../e2e/helpers/stores";

const IDS = ["lab-01", "lab-02", "lab-03", "lab-04"];

describe("fault suite: hosts, releases, the stack config, concurrent runs (embedded store)", () => {
  const st = useStore("local");
  const s = {} as Suite;

  beforeAll(async () => {
    s.st = st;
    s.p = await faultLab(IDS.length, faultsNet(0));
    s.cli = fleetCli(s.p);
  });
  afterAll(async () => {
    await s.cli?.cleanup();
    await s.p?.down();
    delete process.env.FLEET_LAB_NET;
  });

  /** A release pair no host ran yet (--allow-downgrade lets the rows go either way). */
  const target = () => freshTarget(s.p);
  const served = (j: { after: Map<string, { served: string | null }> }, id: string) => j.after.get(id)!.served;
  const clear = (...ids: string[]) => async () => {
    for (const id of ids) await labFault(s.p.labDir, id, "clear");
  };
  const canary = (to: string[], ...more: string[]) => [...to, "--strategy", "canary", "--batch", "3", "--wait", "1s", "--bake", "0s", "--allow-downgrade", ...more];

  it("a host unreachable before its batch (lab-03) and one gone at its batch's start (lab-04): the rest completes, the two are untouched", async () => {
    const to = target();
    await runRow(s, {
      fault: "host unreachable before / during its batch",
      radius: ["lab-01", "lab-02"],
      rollout: [...to, "--strategy", "rolling", "--batch", "4", "--wait", "1s", "--max-batch-failure", "60%", "--pause-on-failure", "60%"],
      before: () => labFault(s.p.labDir, "lab-03", "unreachable").then(() => undefined),
      during: async (run) => {
        // the engine takes seconds to start and dial: lab-04's sshd is gone by then
        await run.waitFor("the batch starting", (e) => e.type === "batch" && e.batch === 0);
        await sshControl.stop(findHost(s.p.lab, "lab-04"));
      },
      expect: ({ result, rollout, after }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "completed" });
        expect(rollout!.statusReason).toMatch(/2 failed: .*lab-0[34].*lab-0[34]/);
        for (const id of ["lab-01", "lab-02"]) expect(served({ after }, id), id).toBe(servedAs(to));
        return `completed; lab-03, lab-04 failed unreachable and were not touched; lab-01, lab-02 on ${servedAs(to)}`;
      },
      after: clear("lab-03", "lab-04"),
    });
  });

  it("the SSH connection dropped mid-upgrade (the canary's): the host finishes or restores by itself; its record is not lost", async () => {
    const to = target();
    await runRow(s, {
      fault: "SSH connection dropped mid-upgrade",
      // the canary's deploy is run once more and its host answers for itself: healthy on the
      // target, so the rollout goes on to the rest of its fleet
      radius: IDS,
      rollout: canary(to),
      before: () => labFault(s.p.labDir, "lab-01", "drop-ssh").then(() => undefined),
      expect: ({ result, rollout, after, judgement }) => {
        // The host's own run went through once (upgraded twice: zero), its result id is in the
        // store (records lost: zero), and the stack config and the store agree with what it serves.
        expect(withStatus(judgement, "success")).toContain("lab-01");
        expect(result.code, result.stderr).toBe(0);
        expect(rollout).toMatchObject({ status: "completed" });
        for (const id of IDS) expect(served({ after }, id), id).toBe(servedAs(to));
        return `${rollout?.status}: ${rollout?.statusReason ?? ""}; lab-01's deploy run again, its host's result recorded; lab-01 serves ${served({ after }, "lab-01")}`;
      },
      after: clear("lab-01"),
    });
  });

  it("an upgrade that fails (the canary's image pull): the script restores it, the rollout halts, nobody else touched", async () => {
    const to = target();
    await runRow(s, {
      fault: "upgrade fails (canary)",
      radius: ["lab-01"],
      rollout: canary(to),
      before: () => labFault(s.p.labDir, "lab-01", "fail-upgrade").then(() => undefined),
      expect: ({ result, rollout, before, after }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(rollout!.statusReason).toMatch(/canary failed: lab-01/);
        expect(served({ after }, "lab-01")).toBe(before.get("lab-01")!.served);
        return "halted at the canary; the failed pull changed nothing on lab-01";
      },
      after: clear("lab-01"),
    });
  });

  it("a release unhealthy at once (v1.2.6): the canary's script restores it, the rollout halts", async () => {
    await runRow(s, {
      fault: "release unhealthy at once",
      radius: ["lab-01"],
      rollout: canary(["--to", "v1.2.6", "--runtime-service", "v0.5.0"]),
      expect: ({ result, rollout, before, after, judgement }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(withStatus(judgement, "rolled_back")).toEqual(["lab-01"]);
        expect(served({ after }, "lab-01")).toBe(before.get("lab-01")!.served);
        expect(after.get("lab-01")!.healthy).toBe(true);
        return "halted at the canary; lab-01 restored by its script, healthy";
      },
    });
  });

  it("a release that degrades during the bake: caught by the bake, the canary rolled back, halted", async () => {
    const to = target();
    await runRow(s, {
      fault: "release degrades during the bake",
      radius: ["lab-01"],
      rollout: [...to, "--strategy", "canary", "--batch", "3", "--wait", "1s", "--bake", "30s"],
      // healthy through its deploy and the bake's first probe, unhealthy from then on
      during: async (run) => {
        await run.waitFor("the bake's first probe", (e) => e.type === "bake" && e.healthy === true);
        await labFault(s.p.labDir, "lab-01", "degrade-now");
      },
      expect: ({ result, rollout, before, after }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(rollout!.statusReason).toMatch(/canary failed: lab-01: .*during the bake/);
        expect(served({ after }, "lab-01")).toBe(before.get("lab-01")!.served);
        expect(after.get("lab-01")!.healthy).toBe(true);
        return "halted by the bake; lab-01 rolled back, healthy";
      },
      after: clear("lab-01"),
    });
  });

  it("a release that degrades only after its batch's gate: the fleet gate holds the next batch, then halts", async () => {
    const to = target();
    await runRow(s, {
      fault: "release degrades after its batch's gate",
      radius: ["lab-01", "lab-02"],
      rollout: [...to, "--strategy", "rolling", "--batch", "2", "--wait", "2s"],
      during: async (run) => {
        await run.waitFor("batch 1's gate passed", (e) => e.type === "gate" && e.batch === 0 && e.action === "go");
        await labFault(s.p.labDir, "lab-02", "degrade-now");
      },
      expect: ({ result, rollout, before, after }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(rollout!.statusReason).toMatch(/fleet health .* below --min-healthy/);
        for (const id of ["lab-03", "lab-04"]) expect(served({ after }, id), `${id} not reached`).toBe(before.get(id)!.served);
        return "halted by the fleet health gate before batch 2; lab-03, lab-04 not reached";
      },
      after: clear("lab-02"),
    });
  });

  it("a host slower than the health deadline: its script gives up, restores the old release, the rollout halts", async () => {
    const to = target();
    await runRow(s, {
      fault: "host slower than the deadline",
      radius: ["lab-01"],
      rollout: canary(to),
      before: () => labFault(s.p.labDir, "lab-01", "slow-start:40").then(() => undefined),
      expect: ({ result, rollout, before, after, judgement }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(withStatus(judgement, "rolled_back")).toEqual(["lab-01"]);
        expect(served({ after }, "lab-01")).toBe(before.get("lab-01")!.served);
        return "halted at the canary; lab-01 not healthy within its deadline, restored by its script";
      },
      after: clear("lab-01"),
    });
  });

  it("a host whose disk is full: the script fails cleanly before changing anything, the host keeps serving", async () => {
    const to = target();
    await runRow(s, {
      fault: "disk full on the host",
      radius: [],
      rollout: canary(to),
      before: () => labFault(s.p.labDir, "lab-01", "disk-full").then(() => undefined),
      expect: ({ result, rollout, before, after, judgement }) => {
        expect(result.code).toBe(1);
        expect(rollout).toMatchObject({ status: "halted" });
        expect(withStatus(judgement, "failed")).toEqual(["lab-01"]);
        expect(after.get("lab-01")).toMatchObject({ served: before.get("lab-01")!.served, healthy: true, restarts: before.get("lab-01")!.restarts });
        return "halted at the canary; lab-01 refused the upgrade untouched and kept serving";
      },
      after: clear("lab-01"),
    });
  });

  it("the stack config edited by hand mid-rollout: the conflicting change is refused with a clear message, nothing overwritten", async () => {
    const to = target();
    let original = "";
    const setLab04 = (from: RegExp, to: string) => {
      const lines = readFileSync(s.p.configFile, "utf8").split("\n");
      const at = lines.findIndex((l) => /accountId: lab-04/.test(l));
      const oc = lines.findIndex((l, i) => i > at && /^\s+openclaw: v/.test(l));
      original ||= /openclaw: (v[0-9.]+)/.exec(lines[oc]!)![1]!;
      lines[oc] = lines[oc]!.replace(from, `openclaw: ${to}`);
      writeFileSync(s.p.configFile, lines.join("\n"));
    };
    await runRow(s, {
      fault: "stack config edited by hand mid-rollout",
      radius: ["lab-01", "lab-02"],
      rollout: [...to, "--strategy", "rolling", "--batch", "2", "--wait", "1s"],
      // the person's pin is in the file, not deployed: lab-04 serving something else is expected
      stableExcept: ["lab-04"],
      during: async (run) => {
        await run.waitFor("the wait after batch 1", (e) => e.type === "wait");
        // a person pins lab-04 elsewhere while the rollout waits: the next batch would overwrite it
        setLab04(/openclaw: v[0-9.]+/, "v1.2.1");
      },
      expect: ({ result, before, after }) => {
        expect(result.code).not.toBe(0);
        expect(desired(s.p).get("lab-04"), "the person's edit is kept").toMatch(/^v1\.2\.1\//);
        expect(served({ after }, "lab-04")).toBe(before.get("lab-04")!.served);
        expect(`${result.stdout}\n${result.stderr}`).toMatch(/lab-04.*(changed|edited)/i);
        expect(`${result.stdout}\n${result.stderr}`).toMatch(/fleet:runtimes\[3\] \(lab-04\) changed by hand since the rollout started \(expected \S+ or \S+, found v1\.2\.1\/\S+\); nothing overwritten/);
        return "refused batch 2: lab-04 was changed by hand; the edit kept, lab-03/lab-04 not reached";
      },
      // the next rows start from a config the hosts agree with
      after: async () => setLab04(/openclaw: v1\.2\.1/, original),
    });
  });

  it("two `fleet rollout` started at the same moment on one stack: one runs, the other is refused with one line", async () => {
    const to = target();
    const args = [...to, "--strategy", "rolling", "--batch", "4", "--wait", "1s"];
    let second: Promise<{ code: number; stdout: string; stderr: string }> | undefined;
    await runRow(s, {
      fault: "two rollouts started at once",
      radius: IDS,
      rollout: args,
      before: async () => undefined,
      during: async () => {
        second = s.cli.fleet("rollout", ...args);
      },
      expect: async ({ result, after }) => {
        const other = await second!;
        expect([result.code, other.code].sort(), `${result.stderr}\n${other.stderr}`).toEqual([0, 1]);
        const lines = refusal(result.code === 0 ? other : result);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/already has rollout|is held by/);
        for (const id of IDS) expect(served({ after }, id), id).toBe(servedAs(to));
        return "one completed; the other refused with one line naming the holder";
      },
    });
  });

  it("the fleet is whole after the rows: every host healthy, serving what the stack config says", async () => {
    const want = desired(s.p);
    for (const h of await s.p.status()) {
      expect(h.healthy, h.runtime).toBe(true);
      expect(`${h.openclaw}/${h.runtimeService}`, h.runtime).toBe(want.get(h.runtime));
    }
  });
});
