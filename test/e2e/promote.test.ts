// `fleet releases` against the lab's git origin, and `fleet promote --from lab --to prod` against
// the live lab: refused (exit 1, prod's file byte-identical) while the lab is not fully on its
// release or not healthy; done (prod's fleet:release rewritten, comments kept) once it is.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFault } from "../../lab/lab";
import { probeRuntime } from "../../control/probe";
import { labProject, REPO, snapshot, type LabProject } from "./helpers/labProject";
import { STORE_KINDS, useStore } from "./helpers/stores";

process.env.FLEET_LAB_NET = "127.0.3";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function fleet(p: LabProject, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, ...args],
      { env: { ...process.env, ...p.env }, timeout: 120_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Polls the runtime's /health until it answers 200 (deadline 30 s). */
async function healthy(p: LabProject, runtime: string): Promise<void> {
  const host = p.lab.hosts.find((h) => h.runtime === runtime)!;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await probeRuntime({ accountId: runtime, address: host.address, port: host.healthPort }, { timeoutMs: 1_000 });
    if (r.healthy) return;
    if (Date.now() > deadline) throw new Error(`${runtime} not healthy after 30 s: ${r.error}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.each(STORE_KINDS)("fleet releases and fleet promote (lab as staging, %s store)", (kind) => {
  const st = useStore(kind);
  let p: LabProject;
  let prodFile: string;
  let restoreLab: () => void;
  let restoreProd: () => void;

  beforeAll(async () => {
    p = await labProject(3);
    Object.assign(p.env, st.env);
    restoreLab = snapshot(p.configFile);
    prodFile = path.join(p.projectDir, "Pulumi.prod.yaml");
    // The repo's production stack, one release behind the lab (v1.2.3/v0.5.0).
    const prod = readFileSync(path.join(REPO, "Pulumi.prod.yaml"), "utf8").replace(
      "  fleet:release:\n    openclaw: v1.2.5\n    runtimeService: v0.5.2",
      "  fleet:release:\n    openclaw: v1.2.1\n    runtimeService: v0.5.0",
    );
    writeFileSync(prodFile, prod);
    restoreProd = snapshot(prodFile);
  });
  afterAll(async () => {
    await p?.down();
  });

  it("fleet releases lists the origin's tags and marks the latest", async () => {
    const r = await fleet(p, "--stack", "lab", "releases", "--json");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { current: { openclaw: string }; openclaw: { releases: string[]; latest: string; source: string } };
    expect(out.openclaw.releases).toEqual(expect.arrayContaining(["v1.1.5", "v1.2.0", "v1.2.1", "v1.2.3", "v1.2.5", "v1.2.6", "v1.3.0"]));
    expect(out.openclaw.latest).toBe("v1.3.0");
    expect(out.current.openclaw).toBe("v1.2.3");
    const text = await fleet(p, "--stack", "lab", "releases");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/v1\.3\.0 {2}\(latest\)/);
    expect(text.stdout).toMatch(/v1\.2\.3 {2}\(current release of lab\)/);
  });

  it("refuses while a lab runtime is down: exit 1, the reason named, prod unchanged", async () => {
    restoreLab();
    restoreProd();
    const before = readFileSync(prodFile);
    await labFault(p.labDir, "lab-02", "crash");
    try {
      const r = await fleet(p, "promote", "--from", "lab", "--to", "prod");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("refusing to promote v1.2.3/v0.5.0 from lab to prod");
      expect(r.stderr).toMatch(/lab\/lab-02: unreachable \(ECONNREFUSED\)/);
      expect(r.stderr).not.toMatch(/lab-01|lab-03/);
      expect(readFileSync(prodFile).equals(before)).toBe(true);
    } finally {
      await labFault(p.labDir, "lab-02", "clear");
      await healthy(p, "lab-02");
    }
  });

  it("refuses while the lab's stack config is not fully on its release: exit 1, prod unchanged", async () => {
    restoreLab();
    restoreProd();
    p.setVersions("lab-03", "v1.2.5");
    const before = readFileSync(prodFile);
    const r = await fleet(p, "promote", "--from", "lab", "--to", "prod", "--json");
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; changed: boolean; problems: string[] };
    expect(out).toMatchObject({ ok: false, changed: false });
    expect(out.problems).toContain("lab/lab-03: stack config has v1.2.5/v0.5.0, not the release v1.2.3/v0.5.0 (finish the rollout first)");
    expect(readFileSync(prodFile).equals(before)).toBe(true);
  });

  it("promotes once every lab runtime runs the release and is healthy: prod's fleet:release only", async () => {
    restoreLab();
    restoreProd();
    const before = readFileSync(prodFile, "utf8");
    const r = await fleet(p, "promote", "--from", "lab", "--to", "prod", "--json");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, changed: true, release: { openclaw: "v1.2.3", runtimeService: "v0.5.0" }, previous: { openclaw: "v1.2.1" } });
    const after = readFileSync(prodFile, "utf8");
    expect(after).toBe(before.replace("openclaw: v1.2.1\n    runtimeService: v0.5.0\n  fleet:policy", "openclaw: v1.2.3\n    runtimeService: v0.5.0\n  fleet:policy"));
    expect(after.startsWith("# Production: the fleet's desired state.")).toBe(true);
    const valid = await fleet(p, "--stack", "prod", "validate");
    expect(valid.code, valid.stderr).toBe(0);
    // Again: nothing to do.
    const again = await fleet(p, "promote", "--from", "lab", "--to", "prod");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already on v1\.2\.3/);
  });
});
