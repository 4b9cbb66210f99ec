// Issue 18 defect 1: a signed request captured and replayed after `fleet endpoint` restarts.
// Before, the endpoint remembered signatures and event ids in memory only: the replay got
// `200 {"duplicate":false}` and put the runtime back to `error`. Now the embedded store keeps the
// endpoint's ledger, and an older observation never overwrites a newer one.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalFleetStore } from "../../store/local";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import { EVENTS_PATH, signedHeaders } from "../../protocol/signature";

const SECRET = "endpoint-restart-secret";
const T0 = 1_760_000_000_000;

describe("the embedded endpoint across a restart", () => {
  let dir: string;
  let store: LocalFleetStore;
  let endpoint: Endpoint;
  let clock = T0;
  const open = async () => {
    store = new LocalFleetStore({ path: join(dir, "store.db"), now: () => clock });
    endpoint = await startEndpoint({ store, hmacSecret: SECRET, now: () => clock });
  };
  const close = async () => {
    await endpoint.close();
    await store.close();
  };
  const post = async (body: string, headers: Record<string, string>) => {
    const res = await fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers });
    return { status: res.status, json: (await res.json()) as { ok: boolean; duplicate?: boolean; error?: string } };
  };
  const upsert = (id: string, status: string, observedAt: number) =>
    JSON.stringify({ id, type: "runtime.upsert", runtimes: [{ stack: "lab", accountId: "lab-01", status, observedAt, openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }] });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-endpoint-restart-"));
    clock = T0;
    await open();
  });
  afterEach(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a captured request replayed after the restart, and the runtime keeps its newer status", async () => {
    const captured = upsert("ev-error-1", "error", T0);
    const capturedHeaders = await signedHeaders(SECRET, captured, clock);
    expect((await post(captured, capturedHeaders)).status).toBe(200);
    clock += 10_000;
    const newer = upsert("ev-online-2", "online", clock);
    expect((await post(newer, await signedHeaders(SECRET, newer, clock))).status).toBe(200);
    expect((await store.getRuntime("lab", "lab-01"))?.status).toBe("online");

    await close(); // `fleet endpoint` restarts
    clock += 1_000; // still inside the signature's time window
    await open();

    const replay = await post(captured, capturedHeaders);
    expect(replay.status).toBe(409);
    expect(replay.json).toMatchObject({ ok: false, kind: "conflict", error: "replayed request" });
    // Re-signed (a new signature) under the same event id: answered as a repeat, not applied again.
    const resigned = await post(captured, await signedHeaders(SECRET, captured, clock));
    expect(resigned).toMatchObject({ status: 200, json: { ok: true, duplicate: true } });
    // A new id carrying the old observation: the older observedAt does not overwrite the newer one.
    const stale = upsert("ev-error-3", "error", T0);
    expect((await post(stale, await signedHeaders(SECRET, stale, clock))).status).toBe(200);
    expect((await store.getRuntime("lab", "lab-01"))?.status).toBe("online");
  });
});
