// fleet-lab's edge: whatever fails ends as one line and an exit code, never a stack trace
// (FLEET_DEBUG=1 shows it). Run as a child process, as a user runs it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/fixtures";

const fleetLab = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [path.join(ROOT, "bin", "fleet-lab.cjs"), ...args], { encoding: "utf8", env: { ...process.env, FLEET_DEBUG: "", ...env } });

describe("fleet-lab errors", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "fleet-lab-cli-"));
    writeFileSync(path.join(dir, "lab.json"), "{ not json"); // a damaged lab record: an unexpected error
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("an unexpected error is one line naming it, exit 1, no stack trace", () => {
    const r = fleetLab(["status", "--dir", dir]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fleet-lab: .*JSON/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("FLEET_DEBUG=1 adds the stack trace", () => {
    const r = fleetLab(["status", "--dir", dir], { FLEET_DEBUG: "1" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it("an expected failure (no lab) is one line with what to run; bad input exits 2", () => {
    const none = fleetLab(["status", "--dir", path.join(dir, "none")]);
    expect(none.status).toBe(1);
    expect(none.stderr.trim()).toBe(`fleet-lab: no lab in ${path.join(dir, "none")} (run: fleet-lab up --hosts N --dir ${path.join(dir, "none")})`);
    const bad = fleetLab(["doctor", "--for", "prod"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("error: option '--for <purpose>' argument 'prod' is invalid. expected one of demo, tests, bench");
  });

  it("refuses a bad --runtimes-per-host before making anything: one line naming the value and the range, exit 2", () => {
    const lab = path.join(dir, "never");
    const r = fleetLab(["up", "--hosts", "2", "--runtimes-per-host", "0", "--dir", lab, "--no-pulumi"]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("error: option '--runtimes-per-host <k>' argument '0' is invalid. expected an integer 1..50");
    expect(existsSync(lab)).toBe(false);
  });
});
