// The lab end to end: `fleet-lab up --hosts 3` (programmatically), real SSH to the hosts' sshds,
// every fault kind's observable effect, and `down` leaving no process behind.
// Uses the lab's fixed addresses 127.0.0.11-13 (ports 2222 and 8080): it cannot run while a
// developer lab of 1+ hosts is up on this machine.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { parseFleetConfig } from "../../fleet/config";
import { main } from "../../lab/cli";
import { countUpgrades, runtimePid } from "../../lab/kit";
import { findHost, labDown, labFault, labProcesses, labStatus, labUp, type LabRecord } from "../../lab/lab";
import { getJson, pollUntil, run, sshBanner } from "../../lab/procs";
import { sshArgs, sshdPid } from "../../lab/sshd";
import { killProcessesUnder } from "./helpers/lab-hosts";

describe("fleet-lab", () => {
  let dir: string;
  let lab: LabRecord;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-lab-e2e-"));
    const started = Date.now();
    const result = await labUp({ hosts: 3, dir: join(dir, "lab"), projectDir: dir, configureStack: false });
    lab = result.lab;
    console.log(`lab up --hosts 3: ${Date.now() - started} ms`, result.timingsMs);
  });

  afterAll(async () => {
    // belt and braces: whatever a failed test left running
    await labDown(join(dir, "lab")).catch(() => undefined);
    await killProcessesUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  const ssh = (runtime: string, remote: string[], timeoutMs = 60_000) =>
    run("ssh", [...sshArgs(findHost(lab, runtime), lab.keys, lab.user), ...remote], { timeoutMs });
  const remoteUpgrade = (runtime: string, openclaw: string, runtimeService: string, ...extra: string[]) => [
    `${findHost(lab, runtime).root}/bin/fleet-upgrade`,
    "upgrade",
    "--openclaw",
    openclaw,
    "--runtime-service",
    runtimeService,
    ...extra,
  ];
  const status = async (runtime: string) => (await labStatus(lab.dir)).hosts.find((h) => h.runtime === runtime);
  const health = (runtime: string) => {
    const h = findHost(lab, runtime);
    return getJson(h.address, h.healthPort, "/health");
  };

  it("starts 3 healthy hosts on v1.2.3 / v0.5.0 and writes a valid Pulumi.lab.yaml", async () => {
    expect(await labStatus(lab.dir)).toEqual({
      hosts: [1, 2, 3].map((i) => ({
        runtime: `lab-0${i}`,
        address: `127.0.0.${10 + i}`,
        openclaw: "v1.2.3",
        runtimeService: "v0.5.0",
        healthy: true,
        upgrades: 0,
        restarts: 1,
      })),
    });
    const stack = YAML.parse(readFileSync(join(dir, "Pulumi.lab.yaml"), "utf8")) as { config: Record<string, unknown> };
    const parsed = parseFleetConfig({ ...stack.config, "fleet:sshPrivateKey": { secure: "x" } });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.config.runtimes.map((r) => [r.accountId, r.host, r.sshPort, r.canary])).toEqual([
        ["lab-01", "127.0.0.11", 2222, true],
        ["lab-02", "127.0.0.12", 2222, false],
        ["lab-03", "127.0.0.13", 2222, false],
      ]);
      expect(parsed.config.runtimes[0]?.hostKey).toMatch(/^ssh-ed25519 AAAA/);
    }
  });

  it("upgrades a host over real SSH (host key checked)", async () => {
    const result = await ssh("lab-02", remoteUpgrade("lab-02", "v1.2.5", "v0.5.2"));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: "success", to: { openclaw: "v1.2.5", runtimeService: "v0.5.2" } });
    expect(await status("lab-02")).toMatchObject({ openclaw: "v1.2.5", runtimeService: "v0.5.2", healthy: true, upgrades: 1, restarts: 2 });
  });

  it("unreachable: SSH is refused; clear restores it", async () => {
    await labFault(lab.dir, "lab-03", "unreachable");
    const refused = await ssh("lab-03", ["true"]);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Connection refused/);
    expect((await health("lab-03"))?.status).toBe(200); // the runtime itself still runs
    await labFault(lab.dir, "lab-03", "clear");
    expect(await sshBanner("127.0.0.13", 2222)).toMatch(/^SSH-2\.0-/);
    expect((await ssh("lab-03", ["true"])).code).toBe(0);
  });

  it("crash: /health is unreachable until clear", async () => {
    const before = (await status("lab-01"))?.restarts ?? 0;
    await labFault(lab.dir, "lab-01", "crash");
    expect(await health("lab-01")).toBeNull();
    expect(runtimePid(findHost(lab, "lab-01"))).toBeNull();
    await labFault(lab.dir, "lab-01", "clear");
    expect((await health("lab-01"))?.status).toBe(200);
    expect((await status("lab-01"))?.restarts).toBe(before + 1);
  });

  it("fail-upgrade: the upgrade fails and the host keeps its version", async () => {
    await labFault(lab.dir, "lab-01", "fail-upgrade");
    const result = await ssh("lab-01", remoteUpgrade("lab-01", "v1.2.5", "v0.5.2"));
    expect(result.code).toBe(1);
    expect(["rolled_back", "failed"]).toContain(JSON.parse(result.stdout).status);
    expect(await status("lab-01")).toMatchObject({ openclaw: "v1.2.3", healthy: true });
    await labFault(lab.dir, "lab-01", "clear");
  });

  it("unhealthy: versions run before stay healthy, a new one is unhealthy from the start", async () => {
    await labFault(lab.dir, "lab-01", "unhealthy");
    expect((await health("lab-01"))?.status).toBe(200);
    const result = await ssh("lab-01", remoteUpgrade("lab-01", "v1.2.5", "v0.5.2", "--health-timeout", "2"));
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: "rolled_back" });
    expect(await status("lab-01")).toMatchObject({ openclaw: "v1.2.3", healthy: true });
    await labFault(lab.dir, "lab-01", "clear");
  });

  it("degrade:3: healthy after the upgrade, unhealthy 3 s later, healthy again after clear", async () => {
    await labFault(lab.dir, "lab-03", "degrade:3");
    const result = await ssh("lab-03", remoteUpgrade("lab-03", "v1.2.5", "v0.5.0"));
    expect(result.code, result.stderr).toBe(0);
    await pollUntil("lab-03 to degrade", async () => (await health("lab-03"))?.status === 503, { timeoutMs: 10_000 });
    expect((await health("lab-03"))?.body).toMatchObject({ status: "unhealthy" });
    await labFault(lab.dir, "lab-03", "clear");
    expect((await health("lab-03"))?.status).toBe(200);
  });

  it("slow:1: the pull takes at least a second longer", async () => {
    await labFault(lab.dir, "lab-02", "slow:1");
    const result = await ssh("lab-02", remoteUpgrade("lab-02", "v1.3.0", "v0.5.2"));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).durationMs).toBeGreaterThanOrEqual(1000);
    await labFault(lab.dir, "lab-02", "clear");
    expect(countUpgrades(findHost(lab, "lab-02").root)).toBe(2);
  });

  it("the CLI: status --json, bad runtime or fault kind exit 2", async () => {
    const write = process.stdout.write.bind(process.stdout);
    let captured = "";
    process.stdout.write = ((chunk: string) => {
      captured += chunk;
      return true;
    }) as typeof process.stdout.write;
    try {
      expect(await main(["status", "--json", "--dir", lab.dir])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(JSON.parse(captured).hosts).toHaveLength(3);
    expect(await main(["fault", "lab-09", "crash", "--dir", lab.dir])).toBe(2);
    expect(await main(["fault", "lab-01", "explode", "--dir", lab.dir])).toBe(2);
    expect(await main(["up", "--hosts", "0", "--dir", lab.dir])).toBe(2);
    expect(await main(["up", "--hosts", "1", "--dir", lab.dir, "--project", dir, "--no-pulumi"])).toBe(1); // already running
  });

  it("down stops every process, verified gone, and is idempotent", async () => {
    const pids = lab.hosts.map((h) => sshdPid(findHost(lab, h.runtime)));
    expect(pids.every((p) => p !== null)).toBe(true);
    expect(labProcesses(lab.dir).length).toBe(6);
    await labDown(lab.dir);
    expect(labProcesses(lab.dir)).toEqual([]);
    for (const h of lab.hosts) {
      expect(runtimePid(findHost(lab, h.runtime))).toBeNull();
      expect(sshdPid(findHost(lab, h.runtime))).toBeNull();
    }
    expect(await labDown(lab.dir)).toEqual({ stopped: 0 });
    expect((await labStatus(lab.dir)).hosts.every((h) => !h.healthy && h.openclaw === null)).toBe(true);
  });
});

describe("fleet-lab with several runtimes per host (one pool process and one sshd per host)", () => {
  let dir: string;
  let lab: LabRecord;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-lab-pool-e2e-"));
    process.env.FLEET_LAB_NET = "127.0.42";
    const result = await labUp({ hosts: 2, dir: join(dir, "lab"), projectDir: dir, configureStack: false, runtimesPerHost: 3 });
    lab = result.lab;
  });

  afterAll(async () => {
    delete process.env.FLEET_LAB_NET;
    await labDown(join(dir, "lab")).catch(() => undefined);
    await killProcessesUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves every runtime on its own health port, upgrades and crashes one without the others", async () => {
    expect(lab.hosts).toHaveLength(6);
    const status = async (runtime: string) => (await labStatus(lab.dir)).hosts.find((h) => h.runtime === runtime);
    const all = (await labStatus(lab.dir)).hosts;
    expect(all.map((h) => h.healthy)).toEqual(Array(6).fill(true));
    expect(new Set(lab.hosts.map((h) => `${h.address}:${h.healthPort}`)).size).toBe(6);
    expect(labProcesses(lab.dir)).toHaveLength(4); // two pools, two sshds
    const target = findHost(lab, "lab-02");
    const r = await run("ssh", [...sshArgs(target, lab.keys, lab.user), `${target.root}/bin/fleet-upgrade`, "upgrade", "--openclaw", "v1.2.5", "--runtime-service", "v0.5.0"], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(await status("lab-02")).toMatchObject({ openclaw: "v1.2.5", healthy: true, upgrades: 1 });
    expect(await status("lab-01")).toMatchObject({ openclaw: "v1.2.3", healthy: true, upgrades: 0 });
    await labFault(lab.dir, "lab-03", "crash");
    await pollUntil("lab-03 down", async () => (await status("lab-03"))?.healthy === false, { timeoutMs: 15_000, intervalMs: 100 });
    expect((await labStatus(lab.dir)).hosts.filter((h) => h.healthy).map((h) => h.runtime)).toEqual(["lab-01", "lab-02", "lab-04", "lab-05", "lab-06"]);
    await labDown(lab.dir);
    expect(labProcesses(lab.dir)).toEqual([]);
  });
});
