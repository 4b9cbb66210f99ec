// The self-upgrade agent on lab hosts (FLEET_LAB_NET=127.0.2) against the embedded store's
// signed endpoint, and against the Convex deployment's /fleet/events (the stand-in): a pending upgrade applied and reported; the broken release restored and
// reported rolled back; deferral while the runtime is busy, until the deadline; forged and
// replayed posts refused.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { agentSecret } from "../../protocol/credential";
import { EVENTS_PATH, signedHeaders } from "../../protocol/signature";
import { findHost, labDown, labUp, readLab, type LabRecord } from "../../lab/lab";
import { hostStatus, readUpgradeLog, setActivity } from "../../lab/kit";
import { pollUntil } from "../../lab/procs";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import { deployViaAgents } from "../../control/agentExecutor";
import type { FleetStore } from "../../store/types";
import { killProcessesUnder } from "./helpers/lab-hosts";
import { STORE_KINDS, useStore, type StoreKind } from "./helpers/stores";

const REPO = path.resolve(__dirname, "..", "..");
const SECRET = "e2e-fleet-hmac-secret-not-real";
const STACK = "lab";

let dir: string;
let labDir: string;
let lab: LabRecord;
let store: FleetStore;
let endpoint: Endpoint | undefined;
/** Where the agents post (the embedded endpoint, or the Convex deployment's site) and their shared secret. */
let endpointUrl: string;
let secret: string;
const agents: { child: ChildProcess; log: string[]; exit: Promise<number> }[] = [];

/** Starts the agent as systemd would (its launcher, its config file). */
function startAgent(runtime: string) {
  const host = lab.hosts.find((h) => h.runtime === runtime)!;
  const child = spawn(process.execPath, [path.join(REPO, "agent", "fleet-agent.cjs"), "--config", path.join(host.root, "etc", "agent.json")], { stdio: ["ignore", "ignore", "pipe"] });
  const log: string[] = [];
  child.stderr!.on("data", (c: Buffer) => log.push(...c.toString().split("\n").filter(Boolean)));
  const exit = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  const a = { child, log, exit };
  agents.push(a);
  return a;
}

/** The agent's exit code, or a failure naming its log when it did not exit in time. */
async function exitWithin(a: { exit: Promise<number>; log: string[] }, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`agent did not exit within ${ms} ms:\n${a.log.join("\n")}`)), ms)));
  try {
    return await Promise.race([a.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const pending = (to: string, rs: string, extra: { deadline?: number } = {}) => ({
  targetOpenclawVersion: to,
  targetRuntimeVersion: rs,
  initiatedAt: Date.now(),
  initiatedBy: "e2e@test",
  strategy: "rolling" as const,
  ...extra,
});

describe.each(STORE_KINDS)("the self-upgrade agent (%s store)", (kind: StoreKind) => {
  const st = useStore(kind);
  beforeAll(async () => {
    process.env.FLEET_LAB_NET = "127.0.2";
    dir = mkdtempSync(path.join(os.tmpdir(), "fleet-agent-e2e-"));
    labDir = path.join(dir, "lab");
    const projectDir = path.join(dir, "project");
    mkdirSync(projectDir);
    ({ lab } = await labUp({ hosts: 4, dir: labDir, projectDir, configureStack: false }));
    store = await st.open(path.join(dir, "store", "store.db"));
    secret = st.kind === "convex" ? st.hmacSecret : SECRET;
    endpointUrl = st.siteUrl ?? (endpoint = await startEndpoint({ store, hmacSecret: SECRET })).url;
    await store.upsertRuntimes(lab.hosts.map((h) => ({ stack: STACK, accountId: h.runtime, openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online" as const, ipAddress: h.address })));
    for (const h of lab.hosts) {
      writeFileSync(path.join(h.root, "etc", "agent.credential"), `${await agentSecret(secret, STACK, h.runtime)}\n`, { mode: 0o600 });
      writeFileSync(
        path.join(h.root, "etc", "agent.json"),
        JSON.stringify({ stack: STACK, accountId: h.runtime, endpoint: endpointUrl, hostRoot: h.root, healthUrl: `http://${h.address}:${h.healthPort}`, heartbeatSeconds: 0.2 }),
      );
    }
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) {
      if (a.child.exitCode === null) a.child.kill("SIGTERM");
      await a.exit;
    }
  });

  afterAll(async () => {
    await endpoint?.close();
    endpoint = undefined;
    await store?.close();
    await labDown(labDir).catch(() => undefined);
    await killProcessesUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies a pending upgrade, reports it under the script's result id, and exits; restarted, it reports the new version", async () => {
    const a = startAgent("lab-01");
    await pollUntil("a first heartbeat", async () => ((await store.getRuntime(STACK, "lab-01"))?.lastHealthCheck ?? 0) > 0, { timeoutMs: 20_000 });
    await store.setPendingUpgrade(STACK, "lab-01", pending("v1.2.5", "v0.5.2"));
    expect(await exitWithin(a, 60_000)).toBe(0);
    const host = findHost(readLab(labDir), "lab-01");
    expect(await hostStatus(host)).toMatchObject({ openclaw: "v1.2.5", runtimeService: "v0.5.2", healthy: true });
    const [record] = (await store.listUpgrades({ accountId: "lab-01" })).items;
    const onHost = readUpgradeLog(host.root).at(-1)!;
    expect(record).toMatchObject({ status: "success", executor: "agent", eventId: onHost.id, fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", toRuntimeService: "v0.5.2" });
    const rt = await store.getRuntime(STACK, "lab-01");
    expect(rt).toMatchObject({ openclawVersion: "v1.2.5", runtimeServiceVersion: "v0.5.2" });
    expect(rt?.pendingUpgrade).toBeUndefined();
    // systemd's restart: the new process heartbeats with the new version and does nothing more
    const before = rt!.updatedAt;
    startAgent("lab-01");
    await pollUntil("a heartbeat of the restarted agent", async () => ((await store.getRuntime(STACK, "lab-01"))?.updatedAt ?? 0) > before, { timeoutMs: 20_000 });
    expect(readUpgradeLog(host.root)).toHaveLength(1);
  });

  it("reports the broken release v1.2.6 as rolled back, with the host restored and healthy", async () => {
    const a = startAgent("lab-02");
    await store.setPendingUpgrade(STACK, "lab-02", pending("v1.2.6", "v0.5.0"));
    expect(await exitWithin(a, 90_000)).toBe(0);
    const [record] = (await store.listUpgrades({ accountId: "lab-02" })).items;
    expect(record).toMatchObject({ status: "rolled_back", executor: "agent", toOpenclaw: "v1.2.6" });
    expect(record?.error).toMatch(/not healthy/);
    expect(await hostStatus(findHost(readLab(labDir), "lab-02"))).toMatchObject({ openclaw: "v1.2.3", healthy: true });
    expect(await store.getRuntime(STACK, "lab-02")).toMatchObject({ openclawVersion: "v1.2.3" });
  });

  it("defers while the runtime reports active conversations, and proceeds at the deadline", async () => {
    const host = findHost(readLab(labDir), "lab-03");
    setActivity(host, 3);
    const a = startAgent("lab-03");
    const deadline = Date.now() + 5_000;
    await store.setPendingUpgrade(STACK, "lab-03", pending("v1.2.5", "v0.5.0", { deadline }));
    await pollUntil("the agent deferring", () => a.log.some((l) => l.includes("deferring")), { timeoutMs: 10_000 });
    // still deferring a few heartbeats later: nothing ran on the host
    await pollUntil("more heartbeats", async () => ((await store.getRuntime(STACK, "lab-03"))?.lastHealthCheck ?? 0) > Date.now() - 300 && Date.now() > deadline - 3_000, { timeoutMs: 10_000 });
    expect(readUpgradeLog(host.root)).toHaveLength(0);
    expect((await store.getRuntime(STACK, "lab-03"))?.status).not.toBe("upgrading");
    expect(await exitWithin(a, 60_000)).toBe(0);
    const [record] = (await store.listUpgrades({ accountId: "lab-03" })).items;
    expect(record).toMatchObject({ status: "success", executor: "agent" });
    expect(record!.startedAt).toBeGreaterThanOrEqual(deadline);
    setActivity(host, 0);
  });

  it("refuses forged, foreign and replayed posts", async () => {
    const post = async (body: string, headers: Record<string, string>) => {
      const res = await fetch(`${endpointUrl}${EVENTS_PATH}`, { method: "POST", body, headers });
      return { status: res.status, body: (await res.json()) as { ok: boolean; error?: string } };
    };
    const hb = (accountId: string) => JSON.stringify({ id: `hb-${accountId}-${Math.random()}`, type: "runtime.upsert", runtimes: [{ stack: STACK, accountId, lastHealthCheck: Date.now() }] });
    const own = await agentSecret(secret, STACK, "lab-04");
    const other = await agentSecret(secret, STACK, "lab-03");
    // a good heartbeat is accepted, and says whether an upgrade is pending
    const good = hb("lab-04");
    const goodHeaders = await signedHeaders(own, good, Date.now(), `${STACK}/lab-04`);
    expect(await post(good, goodHeaders)).toMatchObject({ status: 200, body: { ok: true, result: { count: 1, pendingUpgrade: null } } });
    // the same request again: a replay
    expect(await post(good, goodHeaders)).toMatchObject({ status: 409, body: { error: "replayed request" } });
    // signed with a made-up secret
    const forged = hb("lab-04");
    expect((await post(forged, await signedHeaders("0".repeat(64), forged, Date.now(), `${STACK}/lab-04`))).status).toBe(401);
    // another runtime's key claiming to be lab-04
    expect((await post(forged, await signedHeaders(other, forged, Date.now(), `${STACK}/lab-04`))).status).toBe(401);
    // lab-03's own key, writing about lab-04
    const foreign = hb("lab-04");
    const r = await post(foreign, await signedHeaders(other, foreign, Date.now(), `${STACK}/lab-03`));
    expect(r.status).toBe(403);
    expect(r.body.error).toMatch(/only its own runtime/);
    // an agent key may not post other kinds of events
    const alert = JSON.stringify({ id: "a1", type: "alert.close", key: "runtime_offline:lab/lab-04" });
    expect((await post(alert, await signedHeaders(own, alert, Date.now(), `${STACK}/lab-04`))).status).toBe(403);
    // a stale timestamp
    const stale = hb("lab-04");
    expect((await post(stale, await signedHeaders(own, stale, Date.now() - 10 * 60_000, `${STACK}/lab-04`))).status).toBe(401);
  });

  it("drives agent runtimes in a rollout: pending set, reports awaited, outcomes for the gates; a silent agent times out and stands down", async () => {
    startAgent("lab-04");
    const [ok] = await deployViaAgents(store, STACK, [{ accountId: "lab-04" }], { openclaw: "v1.3.0", runtimeService: "v0.5.0" }, "ro_agente2e01", { timeoutMs: 60_000, pollMs: 200 });
    expect(ok).toEqual({ accountId: "lab-04", deployed: true, versionMatches: true });
    expect((await store.listUpgrades({ rolloutId: "ro_agente2e01" })).items).toHaveLength(1);
    // lab-03's agent is not running: nobody answers
    const [silent] = await deployViaAgents(store, STACK, [{ accountId: "lab-03" }], { openclaw: "v1.3.0", runtimeService: "v0.5.0" }, "ro_agente2e02", { timeoutMs: 1_000, pollMs: 200 });
    expect(silent).toMatchObject({ accountId: "lab-03", deployed: false, error: expect.stringMatching(/no report from the agent/) });
    expect(await store.getPendingUpgrade(STACK, "lab-03")).toBeNull();
  });
});
