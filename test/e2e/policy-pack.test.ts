// `pulumi preview --policy-pack policies` with the real CLI (and our language host's RunPlugin
// analyzer path) on a lab stack: a good config passes, violating configs fail with the policy's
// own message, and the enforcement level is policy config.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labProject, REPO, snapshot, type LabProject } from "./helpers/labProject";

process.env.FLEET_LAB_NET = "127.0.3";

interface Result {
  code: number;
  out: string;
}

function preview(p: LabProject, extra: string[] = []): Promise<Result> {
  const args = ["preview", "--stack", "lab", "--non-interactive", "--diff", "--policy-pack", path.join(REPO, "policies"), ...extra];
  return new Promise((resolve) => {
    execFile(
      "pulumi",
      args,
      { cwd: p.projectDir, env: { ...process.env, ...p.env }, timeout: 240_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe("pulumi preview --policy-pack policies (real CLI, lab stack)", () => {
  let p: LabProject;
  let restore: () => void;

  beforeAll(async () => {
    p = await labProject(3);
    restore = snapshot(p.configFile);
  });
  afterAll(async () => {
    await p?.down();
  });

  it("passes on the lab's good config: every policy ran, none violated", async () => {
    restore();
    const r = await preview(p);
    expect(r.out).not.toMatch(/mandatory|advisory/);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("runtime-fleet");
  });

  it("fails when a non-canary runtime would run a release no canary runs yet (canary-first)", async () => {
    restore();
    p.setVersions("lab-02", "v1.2.5"); // the canary lab-01 stays on v1.2.3
    const r = await preview(p);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain("canary-first");
    expect(r.out).toContain("lab-02 would run openclaw v1.2.5, which no canary runs yet (canary lab-01 on v1.2.3): upgrade the canary first");
    expect(r.out).toMatch(/mandatory/);
  });

  it("passes again once the canary is on that release first", async () => {
    restore();
    p.setVersions("lab-01", "v1.2.5");
    p.setVersions("lab-02", "v1.2.5");
    const r = await preview(p);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain("canary-first");
  });

  it("fails when a remote command's pinned host key differs from the known one (policy config)", async () => {
    restore();
    const host = p.lab.hosts[1]!.address;
    const configFile = path.join(p.dir, "policy-config.json");
    const otherKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKMwj0MvoQYHPr4FwJxB6awX00KecFF5pO3wnc7PHmm4";
    writeFileSync(configFile, JSON.stringify({ "remote-command-host-key": { knownHostKeys: { [host]: otherKey } } }));
    const r = await preview(p, ["--policy-pack-config", configFile]);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain("remote-command-host-key");
    expect(r.out).toContain(`lab-02-deploy: connection.hostKey for ${host} is`);
    expect(r.out).toContain(`but the known host key is ${otherKey}`);
  });

  it("an advisory enforcement level (policy config) reports the violation but lets the preview pass", async () => {
    restore();
    p.setVersions("lab-03", "v1.3.0");
    const configFile = path.join(p.dir, "policy-advisory.json");
    writeFileSync(configFile, JSON.stringify({ "canary-first": "advisory" }));
    const r = await preview(p, ["--policy-pack-config", configFile]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("lab-03 would run openclaw v1.3.0, which no canary runs yet");
    expect(r.out).toMatch(/advisory/);
  });
});
