// The on-host upgrade script for real (components/scripts/fleet-upgrade.sh, installed as
// ROOT/bin/fleet-upgrade) against simulated hosts of the lab kit, run directly (no SSH).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  countRestarts,
  createHost,
  createKit,
  hostStatus,
  readUpgradeLog,
  runtimePid,
  runUpgradeScript,
  setFault,
  startRuntime,
  stopRuntime,
  type Kit,
  type LabHost,
} from "../../lab/kit";
import { findProcesses, getJson, pollUntil } from "../../lab/procs";
import { freePort, headCommit, killProcessesUnder } from "./helpers/lab-hosts";

const upgradeArgs = (openclaw: string, runtimeService: string, ...extra: string[]) => [
  "upgrade",
  "--openclaw",
  openclaw,
  "--runtime-service",
  runtimeService,
  ...extra,
];

describe("fleet-upgrade on a simulated host", () => {
  let dir: string;
  let kit: Kit;
  let host: LabHost;
  let hostCount = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-upgrade-e2e-"));
    kit = await createKit(dir);
  });

  /** A fresh host on v1.2.3 / v0.5.0, started and healthy. */
  async function newHost(): Promise<LabHost> {
    hostCount += 1;
    const address = `127.0.0.${200 + (hostCount % 50)}`;
    const h = await createHost(kit, {
      runtime: `e2e-${hostCount}`,
      root: join(dir, "hosts", `e2e-${hostCount}`),
      address,
      healthPort: await freePort(address),
      healthTimeoutSeconds: 10,
    });
    await startRuntime(h);
    return h;
  }

  afterEach(async () => {
    if (host) await stopRuntime(host);
  });

  afterAll(async () => {
    await killProcessesUnder(dir);
    expect(findProcesses(["sim-runtime.mjs", dir])).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("upgrades: the host serves the new versions and the result is one JSON line", async () => {
    host = await newHost();
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"));
    expect(result.code, result.stderr).toBe(0);
    expect(result.json).toMatchObject({
      status: "success",
      from: { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
      to: { openclaw: "v1.2.5", runtimeService: "v0.5.2" },
      error: null,
      host: host.runtime,
    });
    expect(typeof result.json?.durationMs).toBe("number");
    expect(await getJson(host.address, host.healthPort, "/version")).toEqual({
      status: 200,
      body: { openclaw: "v1.2.5", runtimeService: "v0.5.2" },
    });
    expect((await hostStatus(host)).healthy).toBe(true);
    expect(JSON.parse(readFileSync(join(host.root, "state", "current.json"), "utf8"))).toMatchObject({
      openclaw: "v1.2.5",
      runtimeService: "v0.5.2",
    });
    // other lines of .env are kept
    expect(readFileSync(join(host.root, "openclaw", ".env"), "utf8")).toBe("COMPOSE_PROJECT_NAME=openclaw\nRUNTIME_SERVICE_TAG=v0.5.2\n");
    expect(readUpgradeLog(host.root)).toHaveLength(1);
  });

  it("takes the targets as JSON on stdin (how Pulumi calls it)", async () => {
    host = await newHost();
    const result = await runUpgradeScript(host, ["upgrade", "--stdin"], JSON.stringify({ openclaw: "v1.3.0", runtimeService: "v0.5.2" }));
    expect(result.code, result.stderr).toBe(0);
    expect(result.json).toMatchObject({ status: "success", to: { openclaw: "v1.3.0", runtimeService: "v0.5.2" } });
    expect((await hostStatus(host)).openclaw).toBe("v1.3.0");
  });

  it("rolls the broken release v1.2.6 back: the previous version is served, healthy", async () => {
    host = await newHost();
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.6", "v0.5.0", "--health-timeout", "2"));
    expect(result.code).toBe(1);
    expect(result.json).toMatchObject({
      status: "rolled_back",
      from: { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
      to: { openclaw: "v1.2.6", runtimeService: "v0.5.0" },
    });
    expect(result.json?.error).toMatch(/not healthy/);
    const status = await hostStatus(host);
    expect(status).toMatchObject({ openclaw: "v1.2.3", runtimeService: "v0.5.0", healthy: true });
    expect(JSON.parse(readFileSync(join(host.root, "state", "current.json"), "utf8")).openclaw).toBe("v1.2.3");
  });

  it("fails on a tag that does not exist, with the host untouched (same commit, same process)", async () => {
    host = await newHost();
    const commit = headCommit(host.root);
    const pid = runtimePid(host);
    const restarts = countRestarts(host.root);
    const env = readFileSync(join(host.root, "openclaw", ".env"), "utf8");
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.4", "v0.5.2"));
    expect(result.code).toBe(1);
    expect(result.json).toMatchObject({ status: "failed", to: { openclaw: "v1.2.4" } });
    expect(result.json?.error).toMatch(/v1\.2\.4 not found/);
    expect(headCommit(host.root)).toBe(commit);
    expect(runtimePid(host)).toBe(pid);
    expect(countRestarts(host.root)).toBe(restarts);
    expect(readFileSync(join(host.root, "openclaw", ".env"), "utf8")).toBe(env);
    expect((await hostStatus(host)).healthy).toBe(true);
  });

  it("never interleaves two concurrent runs (state/lock)", async () => {
    host = await newHost();
    const [a, b] = await Promise.all([
      runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2")),
      runUpgradeScript(host, upgradeArgs("v1.3.0", "v0.5.2")),
    ]);
    expect(a.json?.status, a.stderr).toBe("success");
    expect(b.json?.status, b.stderr).toBe("success");
    const log = readUpgradeLog(host.root).sort((x, y) => (x.startedAt as number) - (y.startedAt as number));
    expect(log).toHaveLength(2);
    const [first, second] = log as [Record<string, unknown>, Record<string, unknown>];
    expect(first.finishedAt as number).toBeLessThanOrEqual(second.startedAt as number);
    // coherent: the second run started from what the first one left
    expect(second.from).toEqual(first.to);
    expect(await getJson(host.address, host.healthPort, "/version")).toMatchObject({ body: second.to });
  });

  it("is a noop on the versions in place (no restart, nothing logged)", async () => {
    host = await newHost();
    const pid = runtimePid(host);
    const restarts = countRestarts(host.root);
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.3", "v0.5.0"));
    expect(result.code).toBe(0);
    expect(result.json).toMatchObject({ status: "noop", from: { openclaw: "v1.2.3" }, to: { openclaw: "v1.2.3" } });
    expect(runtimePid(host)).toBe(pid);
    expect(countRestarts(host.root)).toBe(restarts);
    expect(readUpgradeLog(host.root)).toEqual([]);
  });

  it("refuses bad versions with exit 2 before anything runs", async () => {
    host = await newHost();
    const commit = headCommit(host.root);
    const restarts = countRestarts(host.root);
    const marker = join(dir, "injected");
    const bad = ["latest", "v1.2.3; rm -rf /", "$(id)", `$(touch ${marker})`, "v1.2", "1.2.3", "v01.2.3", "v1.2.3+build", "v1.2.3\n"];
    for (const value of bad) {
      for (const args of [upgradeArgs(value, "v0.5.2"), upgradeArgs("v1.2.5", value)]) {
        const result = await runUpgradeScript(host, args);
        expect(result.code, `${JSON.stringify(value)}: ${result.stdout}`).toBe(2);
        expect(result.json).toMatchObject({ status: "failed", from: null, to: null });
        expect(result.json?.error).toMatch(/not a release tag/);
      }
      const viaStdin = await runUpgradeScript(host, ["upgrade", "--stdin"], JSON.stringify({ openclaw: value, runtimeService: "v0.5.2" }));
      expect(viaStdin.code, `stdin ${JSON.stringify(value)}`).toBe(2);
    }
    for (const input of ["", "not json", "[]", '{"openclaw":"v1.2.5"}', '{"openclaw":1,"runtimeService":"v0.5.2"}']) {
      expect((await runUpgradeScript(host, ["upgrade", "--stdin"], input)).code, input).toBe(2);
    }
    expect((await runUpgradeScript(host, ["upgrade", "--openclaw", "v1.2.5"])).code).toBe(2);
    expect((await runUpgradeScript(host, ["frobnicate"])).code).toBe(2);
    expect((await runUpgradeScript(host, ["logs", "--lines", "0"])).code).toBe(2);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(join(host.root, "state", "lock"))).toBe(false); // refused before the lock
    expect(headCommit(host.root)).toBe(commit);
    expect(countRestarts(host.root)).toBe(restarts);
    expect(readUpgradeLog(host.root)).toEqual([]);
  });

  it("fail-upgrade fault: the host keeps its version and stays healthy", async () => {
    host = await newHost();
    const commit = headCommit(host.root);
    const pid = runtimePid(host);
    await setFault(host, "fail-upgrade");
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"));
    expect(result.code).toBe(1);
    expect(["rolled_back", "failed"]).toContain(result.json?.status);
    expect(result.json?.error).toMatch(/pull failed/);
    expect(headCommit(host.root)).toBe(commit);
    expect(runtimePid(host)).toBe(pid);
    expect(readFileSync(join(host.root, "openclaw", ".env"), "utf8")).toContain("RUNTIME_SERVICE_TAG=v0.5.0");
    expect(await hostStatus(host)).toMatchObject({ openclaw: "v1.2.3", runtimeService: "v0.5.0", healthy: true });
  });

  it("takes exactly one JSON object on stdin: two concatenated documents or a NUL byte are refused (exit 2)", async () => {
    host = await newHost();
    const commit = headCommit(host.root);
    const inputs = [
      // Read as one document this used to become v1.2.3.
      '{"openclaw":"v1","runtimeService":"v0.5.2"}{"openclaw":".2.3","runtimeService":"v0.5.2"}',
      '{"openclaw":"v1.2.5","runtimeService":"v0.5.2"}\n{"openclaw":"v1.2.6","runtimeService":"v0.5.2"}',
      '{"openclaw":"v1.2.5\u0000","runtimeService":"v0.5.2"}',
      '{"openclaw":"v1.2.5","runtimeService":"v0.5.2"}\u0000',
    ];
    for (const input of inputs) {
      const result = await runUpgradeScript(host, ["upgrade", "--stdin"], input);
      expect(result.code, JSON.stringify(input)).toBe(2);
      expect(result.json).toMatchObject({ status: "failed", from: null, to: null });
      expect(result.json?.error).toMatch(/^stdin must be exactly one JSON object .*: it (is not exactly one JSON document|holds a NUL byte or another control character)$/);
    }
    expect(headCommit(host.root)).toBe(commit);
    expect(readUpgradeLog(host.root)).toEqual([]);
  });

  it("readonly-state fault: the upgrade fails naming the unwritable state directory, and touches nothing", async () => {
    host = await newHost();
    const commit = headCommit(host.root);
    const pid = runtimePid(host);
    await setFault(host, "readonly-state");
    try {
      const result = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"));
      expect(result.code).toBe(1);
      expect(result.json).toMatchObject({ status: "failed" });
      expect(result.json?.error).toBe(`state directory ${join(host.root, "state")} is not writable (Operation not permitted): nothing was changed`);
      expect(headCommit(host.root)).toBe(commit);
      expect(runtimePid(host)).toBe(pid);
    } finally {
      await setFault(host, "clear");
    }
    // Cleared, the same upgrade goes through.
    expect((await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"))).json).toMatchObject({ status: "success" });
  });

  it("rolls back when the runtime service image does not exist", async () => {
    host = await newHost();
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.9.9"));
    expect(result.code).toBe(1);
    expect(result.json).toMatchObject({ status: "rolled_back" });
    expect(await hostStatus(host)).toMatchObject({ openclaw: "v1.2.3", runtimeService: "v0.5.0", healthy: true });
  });

  it("status, restart and logs", async () => {
    host = await newHost();
    const status = await runUpgradeScript(host, ["status"]);
    expect(status.code).toBe(0);
    expect(status.json).toEqual({
      openclaw: "v1.2.3",
      runtimeService: "v0.5.0",
      healthy: true,
      reported: { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
      host: host.runtime,
    });
    const restarts = countRestarts(host.root);
    const restart = await runUpgradeScript(host, ["restart"]);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.json).toMatchObject({ status: "success" });
    expect(countRestarts(host.root)).toBe(restarts + 1);
    const logs = await runUpgradeScript(host, ["logs", "--lines", "2"]);
    expect(logs.code).toBe(0);
    expect(logs.stdout.trim().split("\n")).toHaveLength(2);
    await stopRuntime(host);
    const down = await runUpgradeScript(host, ["status"]);
    expect(down.code).toBe(1);
    expect(down.json).toMatchObject({ healthy: false, reported: null, openclaw: "v1.2.3" });
  });

  it("finishes the upgrade when its caller dies mid-run, and hands the result to the next caller", async () => {
    host = await newHost();
    await setFault(host, "slow:3");
    // The caller (a `pulumi up` through SSH, say) goes away while the pull is still running.
    const caller = spawn(join(host.root, "bin", "fleet-upgrade"), upgradeArgs("v1.2.5", "v0.5.0"), { stdio: ["ignore", "pipe", "pipe"] });
    await pollUntil("the upgrade to start", () => readFileSync(join(host.root, "openclaw", ".env"), "utf8").includes("RUNTIME_SERVICE_TAG") && existsSync(join(host.root, "state", "lock")), { timeoutMs: 10_000 });
    caller.stdout!.destroy();
    caller.stderr!.destroy();
    caller.kill("SIGKILL");
    const finished = await pollUntil("the detached run to finish", () => readUpgradeLog(host.root).find((l) => l.status === "success"), { timeoutMs: 60_000, intervalMs: 200 });
    expect(finished).toMatchObject({ to: { openclaw: "v1.2.5", runtimeService: "v0.5.0" } });
    expect(await getJson(host.address, host.healthPort, "/version")).toMatchObject({ body: { openclaw: "v1.2.5" } });
    // The next caller asking for the same versions gets a noop carrying that run's result.
    await setFault(host, "clear");
    const again = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.0"));
    expect(again.json).toMatchObject({ status: "noop", last: { id: finished.id, status: "success" } });
  });
});
