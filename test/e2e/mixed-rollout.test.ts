// A rollout over a fleet where some runtimes are upgraded by Pulumi and some by their own agent:
// the same batches and gates, `pulumi up` for the first kind, pending upgrades for the second,
// and one history record per runtime. Lab on FLEET_LAB_NET=127.0.5; the agents report to the
// embedded store's signed endpoint, backed by the same store file the orchestrator uses, or to
// the Convex deployment (the stand-in) the orchestrator uses.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { agentSecret } from "../../protocol/credential";
import { agentBundleGzipBase64 } from "../../components/agentBundle";
import { run } from "../../lab/procs";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import type { FleetStore } from "../../store/types";
import { labProject, REPO, type LabProject } from "./helpers/labProject";
import { STORE_KINDS, useStore } from "./helpers/stores";

const SECRET = "e2e-mixed-hmac-secret-not-real";
const AGENT_RUNTIMES = ["lab-03", "lab-04"];

describe.each(STORE_KINDS)("a mixed rollout: Pulumi runtimes and agent runtimes (%s store)", (kind) => {
  const st = useStore(kind);
  let p: LabProject;
  let store: FleetStore;
  let endpoint: Endpoint | undefined;
  const agents: Array<{ child: ChildProcess; exit: Promise<number> }> = [];

  beforeAll(async () => {
    process.env.FLEET_LAB_NET = "127.0.5";
    p = await labProject(4);
    // Two runtimes are run by their agents.
    const doc = parseDocument(readFileSync(p.configFile, "utf8"));
    for (const [i, id] of ["lab-01", "lab-02", "lab-03", "lab-04"].entries()) {
      if (AGENT_RUNTIMES.includes(id)) doc.setIn(["config", "fleet:runtimes", i, "executor"], "agent");
    }
    writeFileSync(p.configFile, doc.toString());
    store = await st.open(p.storePath);
    const secret = kind === "convex" ? st.hmacSecret : SECRET;
    const endpointUrl = st.siteUrl ?? (endpoint = await startEndpoint({ store, hmacSecret: SECRET })).url;
    Object.assign(p.env, st.env, { FLEET_HMAC_SECRET: secret, FLEET_AGENT_ENDPOINT: endpointUrl });
    // The lab has no systemd: the agents are started here, as their unit would start them.
    for (const h of p.lab.hosts.filter((x) => AGENT_RUNTIMES.includes(x.runtime))) {
      writeFileSync(path.join(h.root, "etc", "agent.credential"), `${await agentSecret(secret, "lab", h.runtime)}\n`, { mode: 0o600 });
      const config = path.join(h.root, "etc", "agent.json");
      writeFileSync(config, JSON.stringify({ stack: "lab", accountId: h.runtime, endpoint: endpointUrl, hostRoot: h.root, healthUrl: `http://${h.address}:${h.healthPort}`, heartbeatSeconds: 0.5 }));
      // The agent as hosts get it: the bundled file the Runtime component ships.
      const launcher = path.join(h.root, "lib", "fleet-agent.cjs");
      mkdirSync(path.dirname(launcher), { recursive: true });
      writeFileSync(launcher, gunzipSync(Buffer.from(agentBundleGzipBase64(), "base64")));
      const child = spawn(process.execPath, [launcher, "--config", config], { stdio: "ignore" });
      agents.push({ child, exit: new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1))) });
    }
    // The Pulumi runtimes' first deploy (agent runtimes are not Pulumi's to deploy).
    Object.assign(process.env, p.env);
    const first = await p.engine().up(["lab-01", "lab-02"].map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(first.ok, first.generalErrors.join("\n")).toBe(true);
  });

  afterAll(async () => {
    for (const a of agents) {
      if (a.child.exitCode === null) a.child.kill("SIGTERM");
      await a.exit;
    }
    await endpoint?.close();
    await store?.close();
    delete process.env.FLEET_LAB_NET;
    await p?.down();
  });

  it("upgrades every runtime through its own executor, with one history record each", async () => {
    const r = await run(
      process.execPath,
      [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, "--stack", "lab", "rollout", "--to", "v1.2.5", "--strategy", "rolling", "--batch", "2", "--wait", "1s"],
      { cwd: REPO, env: { ...process.env, ...p.env }, timeoutMs: 5 * 60_000 },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const hosts = await p.status();
    expect(Object.fromEntries(hosts.map((h) => [h.runtime, h.openclaw]))).toEqual({ "lab-01": "v1.2.5", "lab-02": "v1.2.5", "lab-03": "v1.2.5", "lab-04": "v1.2.5" });
    expect(hosts.every((h) => h.upgrades === 1)).toBe(true);

    const [rollout] = await store.listRollouts({ stack: "lab", limit: 1 });
    expect(rollout).toMatchObject({ status: "completed", batches: [["lab-01", "lab-02"], ["lab-03", "lab-04"]] });
    const records = (await store.listUpgrades({ stack: "lab", rolloutId: rollout!.rolloutId, limit: 50 })).items;
    expect(records.map((e) => `${e.accountId}:${e.executor}:${e.status}`).sort()).toEqual([
      "lab-01:pulumi:success",
      "lab-02:pulumi:success",
      "lab-03:agent:success",
      "lab-04:agent:success",
    ]);
    // each agent exits after its upgrade, for its supervisor to start it on the new version
    expect(await Promise.all(agents.map((a) => a.exit))).toEqual([0, 0]);
  });
});
