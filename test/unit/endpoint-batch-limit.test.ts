// The embedded endpoint takes one event as one write, with the same per-write limit as Convex's
// (store/domain checkObservationBatch): convex/storeIds.test.ts posts the same event to Convex.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EVENTS_PATH, signedHeaders } from "../../protocol/signature";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import { LocalFleetStore } from "../../store/local";

const SECRET = "unit-fleet-hmac-secret-not-real";
let dir: string;
let store: LocalFleetStore;
let endpoint: Endpoint;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-batch-limit-"));
  store = new LocalFleetStore({ path: path.join(dir, "store.db") });
  endpoint = await startEndpoint({ store, hmacSecret: SECRET });
});

afterAll(async () => {
  await endpoint?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("refuses one event of more than 500 observations whole (400, naming the limit), as Convex does", async () => {
  const runtimes = Array.from({ length: 501 }, (_, i) => ({ stack: "prod", accountId: `acct-${i}`, openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online" }));
  const body = JSON.stringify({ id: "ev-big", type: "runtime.upsert", runtimes });
  const res = await fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signedHeaders(SECRET, body, Date.now()) });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ ok: false, kind: "bad-input", error: "runtimes: at most 500 runtimes per upsert (got 501)" });
  expect(await store.listRuntimes()).toEqual([]);
  // 500 is one write, accepted.
  const ok = JSON.stringify({ id: "ev-500", type: "runtime.upsert", runtimes: runtimes.slice(0, 500) });
  const res2 = await fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body: ok, headers: await signedHeaders(SECRET, ok, Date.now()) });
  expect(res2.status).toBe(200);
  expect(await store.listRuntimes()).toHaveLength(500);
});
