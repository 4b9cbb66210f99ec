// The agent's pieces that need no host: the per-runtime credential and its scope, the deferral
// rule, the unit/install rendering, and the Runtime component's wiring under Pulumi mocks.
import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { agentEventProblem, agentKeyId, agentSecret, parseAgentKeyId, secretForKey } from "../../protocol/credential";
import { shouldDefer } from "../../agent/agent";
import { agentInstallCommand, agentSettingsFromEnv, agentUnitFile } from "../../components/agent";
import { isWrappedSecret, runProgram, unwrapSecret, type MockResource } from "../support/pulumiMocks";
import { prodStackConfig, runtimesOf } from "../support/fixtures";

describe("agent credentials", () => {
  it("derive as HMAC-SHA256(FLEET_HMAC_SECRET, 'agent:' + stack/accountId), one per runtime of one stack", async () => {
    expect(await agentSecret("s3cret", "prod", "acc-1")).toBe(createHmac("sha256", "s3cret").update("agent:prod/acc-1").digest("hex"));
    expect(await agentSecret("s3cret", "prod", "acc-1")).not.toBe(await agentSecret("s3cret", "prod", "acc-2"));
    // The same runtime name in another stack is another key (issue 18, defect 2).
    expect(await agentSecret("s3cret", "prod", "acc-1")).not.toBe(await agentSecret("s3cret", "lab", "acc-1"));
    expect(agentKeyId("prod", "acc-1")).toBe("prod/acc-1");
    expect(parseAgentKeyId("prod/acc-1")).toEqual({ stack: "prod", accountId: "acc-1" });
    expect(await secretForKey("s3cret", null)).toBe("s3cret");
    expect(await secretForKey("s3cret", "default")).toBe("s3cret");
    expect(await secretForKey("s3cret", "prod/acc-1")).toBe(await agentSecret("s3cret", "prod", "acc-1"));
    // A bare account id (the unscoped keys of before) is no key any more.
    expect(await secretForKey("s3cret", "acc-1")).toBeNull();
    expect(await secretForKey("s3cret", "Not An Id!")).toBeNull();
    expect(await secretForKey("s3cret", "../x/acc-1")).toBeNull();
    expect(await secretForKey(undefined, "prod/acc-1")).toBeNull();
  });

  it("an agent may post only its own heartbeat and upgrade events, of its own stack", () => {
    const key = { stack: "prod", accountId: "a" };
    const hb = (id: string, stack = "prod") => ({ type: "runtime.upsert", runtimes: [{ stack, accountId: id }] });
    expect(agentEventProblem(key, hb("a"))).toBeNull();
    expect(agentEventProblem(key, hb("b"))).toMatch(/only its own runtime/);
    expect(agentEventProblem(key, hb("a", "lab"))).toBe("agent prod/a may report only its own runtime (got lab/a)");
    expect(agentEventProblem(key, { type: "runtime.upsert", runtimes: [{ stack: "prod", accountId: "a" }, { stack: "prod", accountId: "b" }] })).not.toBeNull();
    expect(agentEventProblem(key, { type: "upgrade.started", stack: "prod", accountId: "a" })).toBeNull();
    expect(agentEventProblem(key, { type: "upgrade.started", stack: "lab", accountId: "a" })).toMatch(/prod\/a .*lab\/a/);
    expect(agentEventProblem(key, { type: "upgrade.started", stack: "prod", accountId: "b" })).not.toBeNull();
    expect(agentEventProblem(key, { type: "upgrade.result", upgrade: { stack: "prod", accountId: "a", executor: "agent" } })).toBeNull();
    expect(agentEventProblem(key, { type: "upgrade.result", upgrade: { stack: "other", accountId: "a", executor: "agent" } })).not.toBeNull();
    expect(agentEventProblem(key, { type: "upgrade.result", upgrade: { stack: "prod", accountId: "a", executor: "pulumi" } })).not.toBeNull();
    for (const type of ["runtime.pending", "alert.open", "rollout.lock", "activity"]) expect(agentEventProblem(key, { type, stack: "prod", accountId: "a" })).toMatch(/may post only/);
  });
});

describe("deferral", () => {
  it("defers only while busy and before the deadline; without a deadline it never defers", () => {
    expect(shouldDefer({ deadline: 2000 }, 3, 1000)).toBe(true);
    expect(shouldDefer({ deadline: 2000 }, 3, 2000)).toBe(false);
    expect(shouldDefer({ deadline: 2000 }, 0, 1000)).toBe(false);
    expect(shouldDefer({}, 5, 1000)).toBe(false);
  });
});

describe("the agent's unit and install", () => {
  it("renders a restart-always unit and installs the credential root-only, read from stdin", () => {
    const unit = agentUnitFile({ hostRoot: "/opt/runtime-fleet" });
    expect(unit).toContain("Restart=always");
    expect(unit).toContain("--config /opt/runtime-fleet/etc/agent.json");
    const cmd = agentInstallCommand("/opt/runtime-fleet");
    expect(cmd.indexOf("umask 077")).toBeLessThan(cmd.indexOf("cat >"));
    expect(cmd).toContain("systemctl restart fleet-agent.service");
    expect(() => agentInstallCommand("/opt/x'; rm -rf /")).toThrow(/hostRoot/);
  });
  it("names what is missing from the environment", () => {
    expect(() => agentSettingsFromEnv({})).toThrow(/FLEET_HMAC_SECRET: missing/);
    expect(() => agentSettingsFromEnv({ FLEET_HMAC_SECRET: "x", FLEET_AGENT_ENDPOINT: "ftp://nope" })).toThrow(/FLEET_AGENT_ENDPOINT: "ftp:\/\/nope"/);
  });
});

describe("the Runtime component with executor agent", () => {
  const FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----";
  beforeEach(() => {
    vi.resetModules();
    process.env.FLEET_HMAC_SECRET = "unit-fleet-secret";
    process.env.FLEET_AGENT_ENDPOINT = "https://fleet.example.convex.site";
  });
  afterEach(() => {
    delete process.env.FLEET_HMAC_SECRET;
    delete process.env.FLEET_AGENT_ENDPOINT;
  });

  it("installs the agent instead of the deploy command: no version in its inputs, the credential a secret on stdin", async () => {
    const config = prodStackConfig();
    runtimesOf(config)[1]!.executor = "agent";
    const id = String(runtimesOf(config)[1]!.accountId);
    const { resources } = await runProgram({ ...config, "fleet:sshPrivateKey": FAKE_KEY }, () => import("../../index"));
    const cmds = resources.filter((r) => r.type === "command:remote:Command");
    const named = (suffix: string) => cmds.filter((r: MockResource) => r.name === `${id}${suffix}`);
    expect(named("-deploy")).toHaveLength(0);
    const [agent] = named("-agent");
    expect(agent).toBeDefined();
    expect(isWrappedSecret(agent!.inputs.stdin)).toBe(true);
    const payload = JSON.parse(unwrapSecret<string>(agent!.inputs.stdin)) as { credential: string; config: Record<string, unknown>; unit: string };
    expect(payload.credential).toBe(await agentSecret("unit-fleet-secret", String(payload.config.stack), id));
    expect(payload.config).toMatchObject({ accountId: id, endpoint: "https://fleet.example.convex.site" });
    expect(String(agent!.inputs.create)).not.toContain(payload.credential);
    expect(JSON.stringify(agent!.inputs.stdin)).not.toMatch(/v\d+\.\d+\.\d+/); // no version: a rollout never re-runs it
    // the other runtimes keep their deploy commands
    expect(cmds.filter((r) => r.name.endsWith("-deploy"))).toHaveLength(runtimesOf(config).length - 1);
    // only the agent runtime reads its versions back with a verify (a deploy's result line carries them)
    expect(cmds.filter((r) => r.name.endsWith("-verify")).map((r) => r.name)).toEqual([`${id}-verify`]);
  });

  it("copies the agent's bundle by path and digest with the script: the runtime's inputs stay small, the agent restarts on a new bundle", async () => {
    const { agentBundleFile } = await import("../../components/agentBundle");
    const bundle = agentBundleFile();
    const config = prodStackConfig();
    runtimesOf(config)[1]!.executor = "agent";
    const id = String(runtimesOf(config)[1]!.accountId);
    const { resources } = await runProgram({ ...config, "fleet:sshPrivateKey": FAKE_KEY }, () => import("../../index"));
    const own = resources.filter((r) => r.name === id || r.name.startsWith(`${id}-`));
    const install = own.find((r) => r.type === "command:local:Command" && r.name === `${id}-install`)!;
    const env = install.inputs.environment as Record<string, string>;
    expect(env.FLEET_AGENT_FILE).toBe(bundle.path);
    expect(env.FLEET_AGENT_INSTALL).toContain(bundle.sha256);
    const agent = own.find((r) => r.name === `${id}-agent`)!;
    expect(JSON.parse(unwrapSecret<string>(agent.inputs.stdin))).toMatchObject({ bundle: bundle.sha256 });
    // the droplet's user data counts too; the bundle itself (about 140 KiB) is in none of them
    expect(JSON.stringify(own.map((r) => r.inputs)).length).toBeLessThan(8 * 1024);
  });
});
