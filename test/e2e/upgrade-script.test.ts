// The on-host upgrade script for real (components/scripts/fleet-upgrade.sh, installed as
// ROOT/bin/fleet-upgrade) against simulated hosts of the lab kit, run directly (no SSH).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  compose,
  countRestarts,
  createHost,
  createKit,
  hostStatus,
  LAB_STATE_PATHS,
  readUpgradeLog,
  runtimePid,
  runUpgradeScript,
  readFaults,
  setFault,
  stateChecksums as labStateChecksums,
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
    // v1.3.0 migrates the state (.fleet/migrating in its tree): going back from it needs a snapshot.
    kit = await createKit(dir, process.execPath, { migratingReleases: ["v1.3.0"] });
  });

  /** A fresh host on v1.2.3 / v0.5.0, started and healthy. */
  async function newHost(snapshots: { snapshotKeep?: number; snapshotBudgetBytes?: number } = {}): Promise<LabHost> {
    hostCount += 1;
    const address = `127.0.0.${200 + (hostCount % 50)}`;
    const h = await createHost(kit, {
      runtime: `e2e-${hostCount}`,
      root: join(dir, "hosts", `e2e-${hostCount}`),
      address,
      healthPort: await freePort(address),
      healthTimeoutSeconds: 10,
      ...snapshots,
    });
    await startRuntime(h);
    return h;
  }

  afterEach(async () => {
    if (host) {
      // A test that failed halfway must not leave a tmpfs mounted or a directory immutable.
      if (readFaults(host).diskFull || readFaults(host).readonlyState) await setFault(host, "clear");
      await stopRuntime(host);
    }
  });

  const stateChecksums = (h: LabHost) => labStateChecksums(h.root);

  const snapshotIds = (h: LabHost) => {
    const d = join(h.root, "state", "snapshots");
    return existsSync(d) ? readdirSync(d).filter((n) => /^\d{13}-\d+$/.test(n)).sort() : [];
  };
  const manifest = (h: LabHost, id: string) => JSON.parse(readFileSync(join(h.root, "state", "snapshots", id, "manifest.json"), "utf8")) as Record<string, unknown>;
  const toStdin = (openclaw: string, runtimeService: string, extra: Record<string, unknown> = {}) => JSON.stringify({ openclaw, runtimeService, ...extra });

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
      // (not v1.3.0: it migrates the state, and going back from it is another test's matter)
      runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.0")),
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
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
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
  it("a release that migrates the state and then fails its health check is rolled back onto the old state, byte-identical", async () => {
    host = await newHost();
    const before = stateChecksums(host);
    await setFault(host, "migrate-state");
    await setFault(host, "unhealthy");
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2", "--health-timeout", "2"));
    expect(result.code, result.stderr).toBe(1);
    expect(result.json).toMatchObject({ status: "rolled_back", from: { openclaw: "v1.2.3", runtimeService: "v0.5.0" } });
    // The new release did rewrite the state while it ran...
    expect(readFileSync(join(host.root, "state", "lab", "runtime.log"), "utf8")).toMatch(/migrated the state to schema 2 \(v1\.2\.5\+v0\.5\.2\)/);
    // ...and the old version runs on its own state again, checked against the snapshot's manifest.
    const snap = result.json?.snapshot as { id: string; checksum: string; versions: unknown };
    expect(snap.versions).toEqual({ openclaw: "v1.2.3", runtimeService: "v0.5.0" });
    expect(result.json?.restored).toEqual({ snapshot: snap.id, versions: snap.versions, checksum: snap.checksum, verified: true });
    expect(stateChecksums(host)).toEqual(before);
    expect(await hostStatus(host)).toMatchObject({ openclaw: "v1.2.3", runtimeService: "v0.5.0", healthy: true });
  });

  it("going back across a migrating release restores the snapshot of the version it goes back to", async () => {
    host = await newHost();
    const before = stateChecksums(host);
    const up = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin("v1.3.0", "v0.5.0"));
    expect(up.json, up.stderr).toMatchObject({ status: "success" });
    expect(stateChecksums(host)).not.toEqual(before); // v1.3.0 migrated it
    const taken = (up.json?.snapshot as { id: string }).id;
    const back = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin("v1.2.3", "v0.5.0"));
    expect(back.code, back.stderr).toBe(0);
    expect(back.json).toMatchObject({ status: "success", restored: { snapshot: taken, verified: true, versions: { openclaw: "v1.2.3", runtimeService: "v0.5.0" } } });
    expect(stateChecksums(host)).toEqual(before);
    expect(await hostStatus(host)).toMatchObject({ openclaw: "v1.2.3", healthy: true });
  });

  it("going back across a migrating release without its snapshot is refused, naming both, and nothing changes", async () => {
    host = await newHost();
    expect((await runUpgradeScript(host, upgradeArgs("v1.3.0", "v0.5.0"))).json).toMatchObject({ status: "success" });
    for (const id of snapshotIds(host)) rmSync(join(host.root, "state", "snapshots", id), { recursive: true });
    const commit = headCommit(host.root);
    const pid = runtimePid(host);
    const state = stateChecksums(host);
    const back = await runUpgradeScript(host, upgradeArgs("v1.2.3", "v0.5.0"));
    expect(back.code).toBe(1);
    expect(back.json).toMatchObject({ status: "failed" });
    expect(back.json?.error).toBe(
      "rollback from v1.3.0 to v1.2.3 crosses migrating release v1.3.0 and the snapshot of the v1.2.3/v0.5.0 state is missing on this host: nothing was changed",
    );
    expect(headCommit(host.root)).toBe(commit);
    expect(runtimePid(host)).toBe(pid);
    expect(stateChecksums(host)).toEqual(state);
    // A snapshot named on stdin that is not there is refused the same way.
    const named = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin("v1.2.3", "v0.5.0", { restoreSnapshot: "1764590000000-42" }));
    expect(named.json?.error).toBe("snapshot 1764590000000-42 (asked for by restoreSnapshot) is not on this host: nothing was changed");
    expect(runtimePid(host)).toBe(pid);
    // Any release below the migrating one is refused the same way: v1.3.0's state is all there is.
    expect((await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.0"))).json?.error).toMatch(/^rollback from v1\.3\.0 to v1\.2\.5 crosses migrating release v1\.3\.0 /);
    expect(runtimePid(host)).toBe(pid);
  });

  it("disk full at snapshot time: the upgrade is refused, the host keeps serving, the record says why", async () => {
    host = await newHost();
    const commit = headCommit(host.root);
    const pid = runtimePid(host);
    await setFault(host, "disk-full");
    const result = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"));
    expect(result.code).toBe(1);
    expect(result.json).toMatchObject({ status: "failed", from: { openclaw: "v1.2.3" }, to: { openclaw: "v1.2.5" } });
    expect(result.json?.error).toMatch(/^snapshot refused: disk full: the state takes \d+ bytes and .*state\/snapshots has 0 bytes free: nothing was changed$/);
    expect(headCommit(host.root)).toBe(commit);
    expect(runtimePid(host)).toBe(pid);
    expect(readFileSync(join(host.root, "openclaw", ".env"), "utf8")).toContain("RUNTIME_SERVICE_TAG=v0.5.0");
    expect(await hostStatus(host)).toMatchObject({ openclaw: "v1.2.3", runtimeService: "v0.5.0", healthy: true });
    expect(readUpgradeLog(host.root).at(-1)).toMatchObject({ status: "failed", error: result.json?.error });
    await setFault(host, "clear");
    expect((await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"))).json).toMatchObject({ status: "success" });
  });

  it("keeps the last N snapshots, each recorded with the versions its state belongs to", async () => {
    host = await newHost({ snapshotKeep: 2 });
    const path = ["v1.2.5", "v1.2.3", "v1.2.5", "v1.2.3"];
    let from = "v1.2.3";
    const taken: string[] = [];
    for (const to of path) {
      const r = await runUpgradeScript(host, upgradeArgs(to, "v0.5.0"));
      expect(r.json, r.stderr).toMatchObject({ status: "success", snapshot: { versions: { openclaw: from } } });
      taken.push((r.json?.snapshot as { id: string }).id);
      from = to;
    }
    expect(snapshotIds(host)).toEqual(taken.slice(-2));
    expect(manifest(host, taken[3]!)).toMatchObject({ versions: { openclaw: "v1.2.5" }, takenBefore: { openclaw: "v1.2.3" }, paths: [...LAB_STATE_PATHS] });
    const listed = await runUpgradeScript(host, ["snapshots"]);
    expect((listed.json?.snapshots as { id: string }[]).map((m) => m.id)).toEqual(taken.slice(-2));
    // The stack's policy on stdin wins over the host's default.
    const r = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin("v1.2.5", "v0.5.0", { snapshots: { keep: 1 } }));
    expect(r.json).toMatchObject({ status: "success" });
    expect(snapshotIds(host)).toEqual([(r.json?.snapshot as { id: string }).id]);
  });

  it("keeps snapshots within the disk budget, and refuses a state larger than the budget", async () => {
    host = await newHost({ snapshotKeep: 100 });
    const first = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.0"));
    const bytes = (first.json?.snapshot as { bytes: number }).bytes;
    expect(bytes).toBeGreaterThan(0);
    // A budget of two and a half snapshots: never more than two on disk.
    const budget = Math.floor(bytes * 2.5);
    for (const to of ["v1.2.3", "v1.2.5", "v1.2.3"]) {
      const r = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin(to, "v0.5.0", { snapshots: { budgetBytes: budget } }));
      expect(r.json, r.stderr).toMatchObject({ status: "success" });
      const total = snapshotIds(host).reduce((n, id) => n + (manifest(host, id).bytes as number), 0);
      expect(total).toBeLessThanOrEqual(budget);
    }
    expect(snapshotIds(host)).toHaveLength(2);
    const pid = runtimePid(host);
    const refused = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin("v1.2.5", "v0.5.0", { snapshots: { budgetBytes: bytes - 1 } }));
    expect(refused.json?.error).toBe(`snapshot refused: the state takes ${bytes} bytes, more than the snapshot budget of ${bytes - 1} bytes: nothing was changed`);
    expect(runtimePid(host)).toBe(pid);
  });

  it("refuses a bad restoreSnapshot or snapshot policy on stdin with exit 2", async () => {
    host = await newHost();
    for (const extra of [{ restoreSnapshot: "../../etc" }, { restoreSnapshot: 5 }, { snapshots: { keep: 0 } }, { snapshots: { budgetBytes: -1 } }, { snapshots: { keep: 1.5 } }, { other: 1 }]) {
      const r = await runUpgradeScript(host, ["upgrade", "--stdin"], toStdin("v1.2.5", "v0.5.0", extra));
      expect(r.code, JSON.stringify(extra)).toBe(2);
      expect(r.json?.error).toMatch(/^stdin must be exactly one JSON object/);
    }
    expect(readUpgradeLog(host.root)).toEqual([]);
  });
  /** Points a runtime service tag of the kit's registry at another image (a moved tag), until undone. */
  function moveTag(tag: string): () => void {
    const before = readFileSync(kit.registryFile, "utf8");
    const other = `sha256:${createHash("sha256").update(`moved ${tag}`).digest("hex")}`;
    writeFileSync(kit.registryFile, before.split("\n").map((l) => (l.trim() === tag ? `${tag} ${other}` : l)).join("\n"));
    return () => writeFileSync(kit.registryFile, before);
  }

  it("records the image digest it runs, and status reports drift when the service runs another image than recorded", async () => {
    host = await newHost();
    const up = await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.2"));
    const digest = up.json?.digest as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(join(host.root, "state", "current.json"), "utf8")).digest).toBe(digest);
    expect((await runUpgradeScript(host, ["status"])).json).not.toHaveProperty("drift");
    const undo = moveTag("v0.5.2");
    try {
      // Someone else pulls and restarts the same tag: it is another image now.
      for (const args of [["pull"], ["down"], ["up", "-d"]]) expect((await compose(host, args)).code).toBe(0);
      const status = await runUpgradeScript(host, ["status"]);
      expect(status.json?.drift).toEqual({ running: expect.stringMatching(/^sha256:/), recorded: digest });
      expect((status.json?.drift as { running: string }).running).not.toBe(digest);
    } finally {
      undo();
    }
  });

  it("a rollback is verified by the image digest too: the old tag now pointing elsewhere is not 'rolled back'", async () => {
    host = await newHost();
    expect((await runUpgradeScript(host, upgradeArgs("v1.2.5", "v0.5.0"))).json).toMatchObject({ status: "success" });
    const undo = moveTag("v0.5.0");
    try {
      const result = await runUpgradeScript(host, upgradeArgs("v1.2.6", "v0.5.2", "--health-timeout", "2"));
      expect(result.code).toBe(1);
      expect(result.json).toMatchObject({ status: "failed" });
      expect(result.json?.error).toMatch(/restoring v1\.2\.5\/v0\.5\.0 also failed \(runtime service v0\.5\.0 now runs image sha256:[0-9a-f]{64}, not the recorded sha256:[0-9a-f]{64} \(drift\)\)$/);
    } finally {
      undo();
    }
  });

  it("one updater per host: status reports OpenClaw's own auto-updater turned on; updater-off turns it off, other keys kept", async () => {
    host = await newHost();
    const config = join(host.root, "data", "openclaw.json");
    writeFileSync(config, JSON.stringify({ agent: "x", update: { auto: true, channel: "stable" } }));
    expect((await runUpgradeScript(host, ["status"])).json).toMatchObject({ autoUpdate: true });
    const off = await runUpgradeScript(host, ["updater-off"]);
    expect(off.json, off.stderr).toEqual({ updater: "off", host: host.runtime });
    expect(JSON.parse(readFileSync(config, "utf8"))).toEqual({ agent: "x", update: { auto: false, channel: "stable" } });
    expect((await runUpgradeScript(host, ["status"])).json).not.toHaveProperty("autoUpdate");
  });
});
