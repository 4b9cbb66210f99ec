// The pieces of `npm run bench:rollout` on a 2-host lab (no timings asserted: a benchmark's
// figures are never pass/fail): the generated inventory as Ansible reads it, the playbook
// upgrading host by host with its health check, the parallel-SSH floor, and both refusing to
// count a host whose upgrade failed.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAnsible, writeAnsibleFiles, type AnsibleFiles } from "../../bench/ansible";
import { runFloor } from "../../bench/floor";
import { labDown, labFault, labStatus, labUp, type LabRecord } from "../../lab/lab";
import { run } from "../../lab/procs";
import { killProcessesUnder } from "./helpers/lab-hosts";

describe("bench:rollout's harness on a 2-host lab", () => {
  let dir: string;
  let lab: LabRecord;
  let files: AnsibleFiles;
  let n = 0;
  const work = () => {
    const d = join(dir, `run-${n++}`);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const served = async () => Object.fromEntries((await labStatus(lab.dir)).hosts.map((h) => [h.runtime, h.healthy ? `${h.openclaw}/${h.runtimeService}` : "unhealthy"]));
  const upgrades = async () => Object.fromEntries((await labStatus(lab.dir)).hosts.map((h) => [h.runtime, h.upgrades]));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-bench-e2e-"));
    lab = (await labUp({ hosts: 2, dir: join(dir, "lab"), projectDir: dir, configureStack: false })).lab;
    files = writeAnsibleFiles(lab, work());
  });
  afterAll(async () => {
    await labDown(join(dir, "lab")).catch(() => undefined);
    await killProcessesUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the inventory parses: every lab host in group runtimes with its address, port, root and health port", async () => {
    const r = await run("ansible-inventory", ["-i", files.inventory, "--list"], { env: { ...process.env, ANSIBLE_CONFIG: files.config } });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { runtimes: { hosts: string[] }; _meta: { hostvars: Record<string, Record<string, unknown>> } };
    expect(doc.runtimes.hosts).toEqual(["lab-01", "lab-02"]);
    for (const h of lab.hosts) {
      expect(doc._meta.hostvars[h.runtime]).toMatchObject({ ansible_host: h.address, ansible_port: h.ssh.port, host_root: h.root, health_port: h.healthPort, ansible_user: lab.user });
    }
    const syntax = await run("ansible-playbook", ["-i", files.inventory, "--syntax-check", join(__dirname, "..", "..", "bench", "ansible", "upgrade.yml")], { env: { ...process.env, ANSIBLE_CONFIG: files.config } });
    expect(syntax.code, syntax.stdout + syntax.stderr).toBe(0);
  });

  it("the floor upgrades one batch after the other, each host's result line read back", async () => {
    const r = await runFloor(lab, { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, 1, work());
    expect(r.ok, r.stderr).toBe(true);
    expect(r.batches.map((b) => b.hosts.map((h) => h.name))).toEqual([["lab-01"], ["lab-02"]]);
    // one batch at a time: the second starts after the first ended
    expect(r.batches[1]!.startMs).toBeGreaterThanOrEqual(r.batches[0]!.endMs);
    for (const h of r.batches.flatMap((b) => b.hosts)) {
      expect(h.result).toMatchObject({ status: "success", to: { openclaw: "v1.2.5", runtimeService: "v0.5.2" } });
      expect(h.scriptMs).toBeGreaterThan(0);
      expect(h.wallMs).toBeGreaterThanOrEqual(h.scriptMs);
    }
    expect(await served()).toEqual({ "lab-01": "v1.2.5/v0.5.2", "lab-02": "v1.2.5/v0.5.2" });
  });

  it("the playbook upgrades serially with its health and version checks; versions reach the script as JSON", async () => {
    const r = await runAnsible(files, { openclaw: "v1.2.3", runtimeService: "v0.5.0" }, "1");
    expect(r.ok, r.tail.join("\n")).toBe(true);
    expect(r.batches).toHaveLength(2);
    expect(r.tail.join("\n")).toMatch(/lab-01 +: ok=3 +changed=1 .*failed=0/);
    expect(await served()).toEqual({ "lab-01": "v1.2.3/v0.5.0", "lab-02": "v1.2.3/v0.5.0" });
  });

  it("a failed upgrade fails the floor and stops the playbook after its batch", async () => {
    await labFault(lab.dir, "lab-01", "fail-upgrade");
    try {
      const floor = await runFloor(lab, { openclaw: "v1.2.5", runtimeService: "v0.5.0" }, 2, work());
      expect(floor.ok).toBe(false);
      expect(floor.batches[0]!.hosts.filter((h) => !h.ok).map((h) => h.name)).toEqual(["lab-01"]);
      expect(await served()).toEqual({ "lab-01": "v1.2.3/v0.5.0", "lab-02": "v1.2.5/v0.5.0" });
      // a release neither host runs: lab-01 (first batch) fails, so lab-02 is never reached
      const before = await upgrades();
      const ansible = await runAnsible(files, { openclaw: "v1.3.0", runtimeService: "v0.5.0" }, "1");
      expect(ansible.ok).toBe(false);
      expect(ansible.batches).toHaveLength(1);
      expect(await upgrades()).toEqual({ ...before, "lab-01": expect.any(Number) as unknown as number });
      expect(await served()).toEqual({ "lab-01": "v1.2.3/v0.5.0", "lab-02": "v1.2.5/v0.5.0" });
    } finally {
      await labFault(lab.dir, "lab-01", "clear");
    }
  });
});
