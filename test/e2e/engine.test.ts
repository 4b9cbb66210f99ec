// The real Pulumi CLI and engine against the lab: `pulumi up` deploys, targeted changes,
// a broken release, an unreachable host. Checked over HTTP and with the lab's own counters.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFault } from "../../lab/lab";
import { AutomationEngine } from "../../control/engine";
import { probeFleet } from "../../control/probe";
import { describeDeployFailure } from "../../components/hooks";
import { labProject, type LabProject } from "./helpers/labProject";
import { STORE_KINDS, useStore } from "./helpers/stores";

const ids = ["lab-01", "lab-02", "lab-03", "lab-04", "lab-05"];

describe.each(STORE_KINDS)("pulumi up on the lab fleet (real engine, %s store)", (kind) => {
  const st = useStore(kind);
  let p: LabProject;
  /** What the post-deploy hooks recorded for a runtime, newest first. */
  const recorded = (accountId: string) => st.read(p.storePath, async (s) => (await s.listUpgrades({ stack: "lab", accountId, limit: 20 })).items);

  beforeAll(async () => {
    p = await labProject(5);
    Object.assign(p.env, st.env);
  });
  afterAll(async () => {
    await p?.down();
  });

  const served = async () => {
    const probes = await probeFleet(p.lab.hosts.map((h) => ({ accountId: h.runtime, address: h.address, port: 8080 })));
    return Object.fromEntries(probes.map((r) => [r.accountId, r.healthy ? `${r.version?.openclaw}/${r.version?.runtimeService}` : "unhealthy"]));
  };
  const deployInputs = async (accountId: string) => {
    const state = await (await import("@pulumi/pulumi/automation")).LocalWorkspace.selectStack(
      { stackName: "lab", workDir: p.projectDir },
      { envVars: p.env },
    );
    const exported = await state.exportStack();
    const resources = (exported.deployment as { resources: Array<{ urn: string; inputs?: { stdin?: string } }> }).resources;
    const deploy = resources.find((r) => r.urn.endsWith(`::${accountId}-deploy`));
    return JSON.parse(deploy?.inputs?.stdin ?? "{}") as { openclaw?: string };
  };

  it("deploys the 5-host stack: every host serves the configured versions", async () => {
    const run = await p.engine().up(ids.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(run.generalErrors).toEqual([]);
    expect(run.ok).toBe(true);
    expect(await served()).toEqual(Object.fromEntries(ids.map((id) => [id, "v1.2.3/v0.5.0"])));
    const outputs = run.outputs.fleetRuntimes as Record<string, { reportedVersions: { openclaw: string } }>;
    expect(outputs["lab-03"]!.reportedVersions.openclaw).toBe("v1.2.3");
  });

  it("changes one runtime's version: preview shows only its deploy, up upgrades only that host", async () => {
    const before = await p.status();
    p.setVersions("lab-02", "v1.2.5");
    const preview = await p.engine().preview();
    expect(preview.ok).toBe(true);
    expect(preview.changes.map((c) => `${c.accountId}-${c.resource}:${c.op}`).sort()).toEqual(["lab-02-deploy:update"]);
    const run = await p.engine().up(ids.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(run.ok).toBe(true);
    expect((await served())["lab-02"]).toBe("v1.2.5/v0.5.0");
    // The deploy's own result line reads the versions back (no second command per runtime).
    const outputs = run.outputs.fleetRuntimes as Record<string, { reportedVersions: { openclaw: string } }>;
    expect(outputs["lab-02"]!.reportedVersions.openclaw).toBe("v1.2.5");
    expect(outputs["lab-01"]!.reportedVersions.openclaw).toBe("v1.2.3");
    expect((await recorded("lab-02"))[0]).toMatchObject({ status: "success", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", executor: "pulumi" });
    expect((await recorded("lab-01")).map((e) => e.toOpenclaw)).not.toContain("v1.2.5");
    const after = await p.status();
    for (const id of ids) {
      const b = before.find((h) => h.runtime === id)!;
      const a = after.find((h) => h.runtime === id)!;
      expect(a.upgrades - b.upgrades, `${id} upgrades`).toBe(id === "lab-02" ? 1 : 0);
      expect(a.restarts - b.restarts, `${id} restarts`).toBe(id === "lab-02" ? 1 : 0);
    }
  });

  it("runs the same batch through the language host (index.ts, as `pulumi up` by hand runs it): only that runtime moves, the others' outputs are kept", async () => {
    p.setVersions("lab-04", "v1.2.5");
    const local = new AutomationEngine({ projectDir: p.projectDir, stack: "lab", env: p.env, program: "local" });
    const run = await local.up([{ accountId: "lab-04", provider: "existing" }]);
    expect(run.ok, run.generalErrors.join("\n")).toBe(true);
    expect(run.timings!.programStartMs).toBeGreaterThan(0);
    expect((await served())["lab-04"]).toBe("v1.2.5/v0.5.0");
    expect((await recorded("lab-04"))[0]).toMatchObject({ status: "success", toOpenclaw: "v1.2.5", executor: "pulumi" });
    const outputs = run.outputs.fleetRuntimes as Record<string, { reportedVersions: { openclaw: string } }>;
    expect(Object.keys(outputs).sort()).toEqual(ids);
    expect(outputs["lab-04"]!.reportedVersions.openclaw).toBe("v1.2.5");
    expect(outputs["lab-02"]!.reportedVersions.openclaw).toBe("v1.2.5"); // carried over from the inline run before
    p.setVersions("lab-04", "v1.2.3");
    expect((await p.engine().up([{ accountId: "lab-04", provider: "existing" }])).ok).toBe(true);
  });

  it("a broken release fails on its runtime; the host and the state keep the previous version; fixed config then succeeds", async () => {
    p.setVersions("lab-03", "v1.2.6");
    const failed = await p.engine().up(ids.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(failed.ok).toBe(false);
    expect(failed.runtimes.get("lab-03")!.ok).toBe(false);
    expect(failed.runtimes.get("lab-03")!.errors.join("\n")).toMatch(/rolled_back/);
    expect([...failed.runtimes.values()].filter((r) => !r.ok).map((r) => r.accountId)).toEqual(["lab-03"]);
    expect((await served())["lab-03"]).toBe("v1.2.3/v0.5.0");
    expect((await deployInputs("lab-03")).openclaw).toBe("v1.2.3");
    expect((await recorded("lab-03"))[0]).toMatchObject({ toOpenclaw: "v1.2.6", status: expect.stringMatching(/failed|rolled_back/) as unknown as string });

    p.setVersions("lab-03", "v1.2.5");
    const fixed = await p.engine().up(ids.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(fixed.ok).toBe(true);
    expect((await served())["lab-03"]).toBe("v1.2.5/v0.5.0");
    expect((await deployInputs("lab-03")).openclaw).toBe("v1.2.5");
  });

  it("an unreachable host fails within the dial limits, and the others in the same run still deploy", async () => {
    await labFault(p.labDir, "lab-04", "unreachable");
    try {
      p.setVersions("lab-04", "v1.2.5");
      p.setVersions("lab-05", "v1.2.5");
      const started = Date.now();
      const run = await p.engine().up(["lab-04", "lab-05"].map((accountId) => ({ accountId, provider: "existing" as const })));
      const seconds = (Date.now() - started) / 1000;
      expect(run.runtimes.get("lab-04")!.ok).toBe(false);
      expect(run.runtimes.get("lab-04")!.errors.join("\n")).toMatch(/refused|dial/i);
      // What the rollout and the history show: unreachable, with the address.
      const address = p.lab.hosts.find((h) => h.runtime === "lab-04")!.address;
      expect(describeDeployFailure(run.runtimes.get("lab-04")!.errors).error).toMatch(new RegExp(`^unreachable: no SSH connection to ${address.replace(/\./g, "\\.")}:\\d+`));
      expect(run.runtimes.get("lab-05")!.ok).toBe(true);
      expect((await served())["lab-05"]).toBe("v1.2.5/v0.5.0");
      // dialTimeoutSeconds 5 x dialErrorLimit 2 bounds the failure, plus the engine's own start-up.
      console.log(`unreachable run took ${seconds.toFixed(1)} s`);
      expect(seconds).toBeLessThan(90);
    } finally {
      await labFault(p.labDir, "lab-04", "clear");
    }
  });

  it("a host whose state directory is not writable fails naming it, and keeps serving what it ran", async () => {
    await labFault(p.labDir, "lab-05", "readonly-state");
    try {
      p.setVersions("lab-05", "v1.3.0");
      const run = await p.engine().up([{ accountId: "lab-05", provider: "existing" as const }]);
      expect(run.runtimes.get("lab-05")!.ok).toBe(false);
      expect(describeDeployFailure(run.runtimes.get("lab-05")!.errors).error).toMatch(
        /^state directory \/\S+\/state is not writable \(Operation not permitted\): nothing was changed$/,
      );
      expect((await served())["lab-05"]).toBe("v1.2.5/v0.5.0");
    } finally {
      await labFault(p.labDir, "lab-05", "clear");
      p.setVersions("lab-05", "v1.2.5");
    }
  });
});
