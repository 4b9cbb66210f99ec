// One updater per host: `fleet health` names a lab host whose OpenClaw auto-updater was turned
// back on (its openclaw.json), as a child process against a one-host lab (no Pulumi needed).
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labDown, labUp, type LabRecord } from "../../lab/lab";
import { killProcessesUnder } from "./helpers/lab-hosts";

const REPO = path.resolve(__dirname, "..", "..");
let dir: string;
let projectDir: string;
let labDir: string;
let lab: LabRecord;

function fleet(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO, "bin", "fleet.cjs"), "--project", projectDir, "--stack", "lab", ...args],
      { env: { ...process.env, FLEET_STORE_PATH: path.join(dir, "store", "store.db") }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  process.env.FLEET_LAB_NET = "127.0.4";
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-updater-e2e-"));
  projectDir = path.join(dir, "project");
  labDir = path.join(dir, "lab");
  mkdirSync(projectDir);
  ({ lab } = await labUp({ hosts: 1, dir: labDir, projectDir, configureStack: false }));
  const file = path.join(projectDir, "Pulumi.lab.yaml");
  const doc = YAML.parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  doc.config["fleet:sshPrivateKey"] = { secure: "v1:placeholder-not-used-by-health" };
  writeFileSync(file, YAML.stringify(doc));
});

afterAll(async () => {
  delete process.env.FLEET_LAB_NET;
  await labDown(labDir).catch(() => undefined);
  await killProcessesUnder(dir);
  rmSync(dir, { recursive: true, force: true });
});

describe("fleet health and OpenClaw's own updater", () => {
  it("says nothing while it is off, and names the host once it is turned back on", async () => {
    const off = await fleet(["health"]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).not.toContain("auto-updater");
    const config = path.join(lab.hosts[0]!.root, "data", "openclaw.json");
    writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), update: { auto: true } }));
    const on = await fleet(["health"]);
    expect(on.stdout).toContain("lab-01: OpenClaw's own auto-updater is on (update.auto in openclaw.json)");
    const json = JSON.parse((await fleet(["--json", "health"])).stdout) as { runtimes: { accountId: string; autoUpdate?: boolean }[] };
    expect(json.runtimes.find((r) => r.accountId === "lab-01")?.autoUpdate).toBe(true);
  });
});
