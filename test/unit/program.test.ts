// The Pulumi program under mocks: what a `pulumi up` of a stack would create.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { hooks, isWrappedSecret, runProgram, unwrapSecret, type MockResource } from "../support/pulumiMocks";
import { prodStackConfig, runtimesOf } from "../support/fixtures";

const FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----";

function withKey(config: Record<string, unknown>): Record<string, unknown> {
  return { ...config, "fleet:sshPrivateKey": FAKE_KEY };
}

async function run(config: Record<string, unknown>) {
  vi.resetModules();
  return runProgram(withKey(config), () => import("../../index"));
}

const byType = (resources: MockResource[], type: string) => resources.filter((r) => r.type === type);
const commands = (resources: MockResource[], suffix: string) =>
  byType(resources, "command:remote:Command").filter((r) => r.name.endsWith(suffix));

describe("the fleet program", () => {
  beforeEach(() => vi.resetModules());

  it("installs the on-host script by path and digest: no runtime's inputs carry its text, the key is the install's secret stdin", async () => {
    const { upgradeScript, scriptSha256, SCRIPT_PATH } = await import("../../components/onhost");
    const { resources } = await run(prodStackConfig());
    const installs = byType(resources, "command:local:Command").filter((r) => r.name.endsWith("-install"));
    expect(installs).toHaveLength(5);
    const line = upgradeScript().split("\n").find((l) => l.length > 40 && !l.startsWith("#"))!;
    for (const r of resources) expect(JSON.stringify(r.inputs), r.name).not.toContain(JSON.stringify(line).slice(1, -1));
    for (const i of installs) {
      const env = i.inputs.environment as Record<string, string>;
      expect(env.FLEET_SCRIPT_FILE).toBe(SCRIPT_PATH);
      expect(env.FLEET_SCRIPT_INSTALL).toContain(scriptSha256());
      expect(isWrappedSecret(i.inputs.stdin)).toBe(true);
      expect(unwrapSecret(i.inputs.stdin)).toBe(FAKE_KEY);
      expect(JSON.stringify(env)).not.toContain("PRIVATE KEY");
    }
    // Each runtime's registered inputs stay small (they are its state).
    const perRuntime = JSON.stringify(resources.map((r) => r.inputs)).length / 5;
    expect(perRuntime).toBeLessThan(8 * 1024);
  });

  it("registers only the engine's batch when FLEET_ENGINE_TARGETS names it, and keeps the others' stack outputs", async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "fleet-unit-")), "outputs.json");
    writeFileSync(file, JSON.stringify({ "acc-abc123": { address: "203.0.113.7" }, "acc-gone": { address: "x" } }));
    vi.stubEnv("FLEET_ENGINE_TARGETS", "acc-def456");
    vi.stubEnv("FLEET_ENGINE_OUTPUTS_FILE", file);
    try {
      const { resources, exports } = await run(prodStackConfig());
      expect(byType(resources, "runtime-fleet:index:Runtime").map((r) => r.name)).toEqual(["acc-def456"]);
      const outputs = exports.fleetRuntimes as Record<string, unknown>;
      expect(Object.keys(outputs).sort()).toEqual(["acc-abc123", "acc-def456"]); // a runtime no longer in the fleet is dropped
      expect(outputs["acc-abc123"]).toEqual({ address: "203.0.113.7" });
      vi.stubEnv("FLEET_ENGINE_TARGETS", "acc-def456,acc-nope");
      await expect(run(prodStackConfig())).rejects.toThrow(/FLEET_ENGINE_TARGETS: "acc-nope" is not in fleet:runtimes/);
      // left in a shell after the engine's run (its file gone): refused, never a narrowed program
      vi.stubEnv("FLEET_ENGINE_TARGETS", "acc-def456");
      vi.stubEnv("FLEET_ENGINE_OUTPUTS_FILE", `${file}.gone`);
      await expect(run(prodStackConfig())).rejects.toThrow(/FLEET_ENGINE_TARGETS: set outside a run of the fleet's engine/);
    } finally {
      vi.unstubAllEnvs();
      rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it("gives a droplet per DigitalOcean runtime, tagged with its account id, monitoring on", async () => {
    const config = prodStackConfig();
    runtimesOf(config).splice(4); // the 4-runtime stack
    const { resources } = await run(config);
    const droplets = byType(resources, "digitalocean:index/droplet:Droplet");
    expect(droplets).toHaveLength(4);
    const tags = droplets.map((d) => d.inputs.tags as string[]);
    expect(tags.map((t) => t.find((x) => x.startsWith("account:")))).toEqual([
      "account:internal-canary",
      "account:acc-abc123",
      "account:acc-def456",
      "account:acc-ghi789",
    ]);
    for (const d of droplets) {
      expect(d.inputs.monitoring).toBe(true);
      expect(d.inputs.backups).toBe(true); // prod stack: production: true
      expect(d.inputs.sshKeys).toEqual(["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]);
      expect(String(d.inputs.userData)).toContain("#cloud-config");
      expect(String(d.inputs.userData)).not.toMatch(/v\d+\.\d+\.\d+/); // no version in user data
    }
    expect(byType(resources, "runtime-fleet:index:Runtime")).toHaveLength(4);
    // post-deploy hooks are registered for the deploys (they record each runtime's result)
    expect(new Set(hooks)).toEqual(new Set(["fleet-record-deploy", "fleet-record-deploy-failure"]));
  });

  it("keeps the SSH key secret in every command connection", async () => {
    const { resources } = await run(prodStackConfig());
    const cmds = byType(resources, "command:remote:Command");
    // One remote command per runtime: the deploy reads the versions back itself (no verify).
    expect(cmds).toHaveLength(5);
    expect(commands(resources, "-verify")).toEqual([]);
    for (const c of cmds) {
      expect(isWrappedSecret(c.inputs.connection), `${c.name} connection is secret`).toBe(true);
      const conn = unwrapSecret<Record<string, unknown>>(c.inputs.connection);
      expect(conn.privateKey).toBe(FAKE_KEY);
      expect(JSON.stringify(c.inputs.create)).not.toContain("PRIVATE KEY");
      expect(JSON.stringify(c.inputs.stdin ?? "")).not.toContain("PRIVATE KEY");
    }
  });

  it("changes only that runtime's deploy inputs when one runtime's openclaw version changes", async () => {
    const before = await run(prodStackConfig());
    const changed = prodStackConfig();
    runtimesOf(changed)[2]!.openclaw = "v1.3.0";
    const after = await run(changed);
    expect(after.resources.map((r) => r.name)).toEqual(before.resources.map((r) => r.name));
    const differing = after.resources
      .filter((r, i) => JSON.stringify(r.inputs) !== JSON.stringify(before.resources[i]!.inputs))
      .map((r) => r.name);
    // Nothing but that runtime's deploy moves.
    expect(differing).toEqual(["acc-def456-deploy"]);
    const deploy = commands(after.resources, "acc-def456-deploy")[0]!;
    // The stack's snapshot policy (defaults here) travels with the versions.
    expect(JSON.parse(String(deploy.inputs.stdin))).toEqual({ openclaw: "v1.3.0", runtimeService: "v0.5.2", snapshots: { keep: 3, budgetBytes: 1024 ** 3 } });
    expect(String(deploy.inputs.create)).not.toContain("v1.3.0"); // versions travel on stdin only
  });

  it("does not touch any deploy when an unrelated field (a runtime's name) changes", async () => {
    const before = await run(prodStackConfig());
    const changed = prodStackConfig();
    runtimesOf(changed)[1]!.name = "Acme Corporation";
    const after = await run(changed);
    const deploys = (rs: MockResource[]) => commands(rs, "-deploy").map((r) => JSON.stringify(r.inputs));
    expect(deploys(after.resources)).toEqual(deploys(before.resources));
  });

  it("creates no droplet for an existing-host runtime, and connects to its address", async () => {
    const config = prodStackConfig();
    runtimesOf(config).push({
      accountId: "acc-onprem",
      provider: "existing",
      host: "127.0.0.9",
      port: 2222,
      openclaw: "v1.2.5",
      runtimeService: "v0.5.2",
    });
    const { resources } = await run(config);
    expect(byType(resources, "digitalocean:index/droplet:Droplet")).toHaveLength(5);
    expect(byType(resources, "digitalocean:index/droplet:Droplet").some((d) => d.name.startsWith("acc-onprem"))).toBe(false);
    const deploy = commands(resources, "acc-onprem-deploy")[0]!;
    const conn = unwrapSecret<Record<string, unknown>>(deploy.inputs.connection);
    expect(conn.host).toBe("127.0.0.9");
    expect(conn.port).toBe(2222);
  });

  it("refuses an invalid stack with every error named, before creating anything", async () => {
    const config = prodStackConfig();
    runtimesOf(config)[1]!.openclaw = "v1.2.3; rm -rf /";
    runtimesOf(config)[3]!.openclaw = "latest";
    await expect(run(config)).rejects.toThrow(
      /fleet:runtimes\[1\]\.openclaw: "v1.2.3; rm -rf \/" is not a release tag[\s\S]*fleet:runtimes\[3\]\.openclaw: "latest"/,
    );
  });
  it("sends fleet:policy.snapshots to every host with its versions", async () => {
    const config = prodStackConfig();
    (config["fleet:policy"] as Record<string, unknown>).snapshots = { keep: 5, budgetBytes: 50_000_000 };
    const { resources } = await run(config);
    for (const d of commands(resources, "-deploy")) {
      expect(JSON.parse(String(d.inputs.stdin)), d.name).toMatchObject({ snapshots: { keep: 5, budgetBytes: 50_000_000 } });
    }
  });

  it("snapshots a droplet before its deploy of a new openclaw major when the policy asks (and only then)", async () => {
    const off = await run(prodStackConfig());
    expect(byType(off.resources, "digitalocean:index/dropletSnapshot:DropletSnapshot")).toEqual([]);
    const config = prodStackConfig();
    (config["fleet:policy"] as Record<string, unknown>).snapshots = { dropletSnapshotOnMajor: true };
    const { resources } = await run(config);
    const snaps = byType(resources, "digitalocean:index/dropletSnapshot:DropletSnapshot");
    const droplets = byType(resources, "digitalocean:index/droplet:Droplet");
    expect(snaps).toHaveLength(droplets.length);
    expect(snaps.map((x) => x.name)).toContain("acc-abc123-before-openclaw-v1");
    expect(snaps.find((x) => x.name === "acc-abc123-before-openclaw-v1")?.inputs.name).toBe("runtime-acc-abc123-before-openclaw-v1");
    // A new major is a new snapshot resource (the old one is retained, never deleted).
    const next = prodStackConfig();
    (next["fleet:policy"] as Record<string, unknown>).snapshots = { dropletSnapshotOnMajor: true };
    runtimesOf(next)[1]!.openclaw = "v2.0.0";
    const after = await run(next);
    const names = byType(after.resources, "digitalocean:index/dropletSnapshot:DropletSnapshot").map((x) => x.name);
    expect(names).toContain("acc-abc123-before-openclaw-v2");
    expect(names).not.toContain("acc-abc123-before-openclaw-v1");
  });
  it("turns OpenClaw's own updater off: cloud-init of a new droplet and every script install", async () => {
    const { resources } = await run(prodStackConfig());
    const installs = byType(resources, "command:local:Command").filter((r) => r.name.endsWith("-install"));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) expect(String((i.inputs.environment as Record<string, unknown>).FLEET_SCRIPT_INSTALL)).toMatch(/'\/[^']+\/bin\/fleet-upgrade' updater-off/);
    // A new droplet's install waits for cloud-init (the OpenClaw checkout) before it turns the updater off.
    for (const i of installs) expect(String((i.inputs.environment as Record<string, unknown>).FLEET_SCRIPT_INSTALL)).toMatch(/^set -eu; cloud-init status --wait/);
  });
});
