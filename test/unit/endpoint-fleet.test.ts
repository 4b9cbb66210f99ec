// Issue 18 defect 3, the unknown runtime: a shared-key `runtime.upsert` for `ghost-98`, a runtime
// no stack config has, was created and counted ("3 runtimes observed (4 configured)"). The
// embedded endpoint now serves its stack's fleet: an event about any other runtime is refused
// with 404 and nothing is created; a runtime added to the stack config is known at once.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configuredRuntimes } from "../../cli/commands/monitor";
import { stackContext } from "../../control/context";
import { LocalFleetStore } from "../../store/local";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import { EVENTS_PATH, signedHeaders } from "../../protocol/signature";

const SECRET = "endpoint-fleet-secret";
const STACK = `config:
  fleet:release: {openclaw: v1.2.3, runtimeService: v0.5.0}
  fleet:policy: {minSupportedOpenclaw: v1.1.0}
  fleet:defaults: {provider: existing}
  fleet:sshPrivateKey: {secure: "v1:abc"}
  fleet:runtimes:
    - {accountId: lab-01, host: 127.0.0.11, openclaw: v1.2.3, runtimeService: v0.5.0}
    - {accountId: lab-02, host: 127.0.0.12, openclaw: v1.2.3, runtimeService: v0.5.0}
`;

describe("the embedded endpoint knows its fleet", () => {
  let dir: string;
  let store: LocalFleetStore;
  let endpoint: Endpoint;
  const post = async (event: Record<string, unknown>) => {
    const body = JSON.stringify(event);
    const res = await fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signedHeaders(SECRET, body, Date.now()) });
    return { status: res.status, json: (await res.json()) as { ok: boolean; error?: string } };
  };
  const upsert = (id: string, stack: string, accountId: string) => ({ id, type: "runtime.upsert", runtimes: [{ stack, accountId, status: "online", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }] });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-endpoint-fleet-"));
    writeFileSync(join(dir, "Pulumi.lab.yaml"), STACK);
    const sc = await stackContext({ globals: { stack: "lab" }, projectDir: dir });
    store = new LocalFleetStore({ path: join(dir, "store.db") });
    endpoint = await startEndpoint({ store, hmacSecret: SECRET, knows: configuredRuntimes(sc) });
  });
  afterEach(async () => {
    await endpoint.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a runtime that is not in the stack config, and one of another stack; creates nothing", async () => {
    expect((await post(upsert("ev-1", "lab", "lab-01"))).status).toBe(200);
    const ghost = await post(upsert("ev-2", "lab", "ghost-98"));
    expect(ghost).toMatchObject({ status: 404, json: { ok: false, kind: "not-found" } });
    expect(ghost.json.error).toBe("unknown runtime lab/ghost-98: it is not in the stack config this endpoint serves; nothing was changed");
    expect((await post(upsert("ev-3", "prod", "lab-02"))).status).toBe(404);
    const result = { id: "ev-4", type: "upgrade.result", upgrade: { eventId: "u-ghost", stack: "lab", accountId: "ghost-98", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", fromRuntimeService: "v0.5.0", toRuntimeService: "v0.5.0", status: "success", startedAt: Date.now(), initiatedBy: "x", executor: "agent" } };
    expect((await post(result)).status).toBe(404);
    expect((await store.listRuntimes()).map((r) => `${r.stack}/${r.accountId}`)).toEqual(["lab/lab-01"]);
    expect((await store.listUpgrades()).items).toEqual([]);
  });

  it("knows a runtime as soon as it is added to the stack config", async () => {
    expect((await post(upsert("ev-5", "lab", "lab-03"))).status).toBe(404);
    const file = join(dir, "Pulumi.lab.yaml");
    writeFileSync(file, `${readFileSync(file, "utf8")}    - {accountId: lab-03, host: 127.0.0.13, openclaw: v1.2.3, runtimeService: v0.5.0}\n`);
    expect((await post(upsert("ev-6", "lab", "lab-03"))).status).toBe(200);
  });
});
