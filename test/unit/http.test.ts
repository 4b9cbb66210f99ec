// The two HTTP servers (the dashboard, and the embedded store's signed events endpoint) on
// 127.0.0.1 port 0: one body-size limit, one JSON error shape, and the headers and cookies the
// dashboard promises (security headers, HttpOnly/SameSite cookie, content types, no-store).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOutput, type CommandContext } from "../../cli/cli";
import { stackContext } from "../../control/context";
import { EVENTS_PATH, signedHeaders } from "../../protocol/signature";
import { tokenAuthenticator } from "../../dashboard/auth";
import { DashboardFleet } from "../../dashboard/fleet";
import { startDashboardServer, type RunningDashboard } from "../../dashboard/server";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import { MAX_BODY_BYTES } from "../../store/http";
import { LocalFleetStore, StoreError } from "../../store/local";
import type { FleetStore } from "../../store/types";
import { unitStackYaml } from "../support/fixtures";

const TOKEN = "unit-test-token-0123456789abcdef";
const SECRET = "unit-fleet-hmac-secret-not-real";
const STACK_YAML = unitStackYaml(`\n    - accountId: acme\n      host: 127.0.0.1\n      openclaw: v1.2.3\n      runtimeService: v0.5.0`, "");

let dir: string;
let store: LocalFleetStore;
let dash: RunningDashboard;
let endpoint: Endpoint;
const logs: string[] = [];
const bearer = { Authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-http-unit-"));
  writeFileSync(path.join(dir, "Pulumi.unit.yaml"), STACK_YAML);
  const ctx: CommandContext = { globals: { stack: "unit" }, out: makeOutput(true, { write: () => true }, { write: () => true }), projectDir: dir };
  store = new LocalFleetStore({ path: path.join(dir, "store.db") });
  dash = await startDashboardServer({ fleet: new DashboardFleet({ ctx, sc: await stackContext(ctx) }), auth: tokenAuthenticator(TOKEN, store, "unit@test"), host: "127.0.0.1", port: 0 });
  endpoint = await startEndpoint({ store, hmacSecret: SECRET, log: (l) => logs.push(l) });
});

afterAll(async () => {
  await dash?.close();
  await endpoint?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw request; `chunked` streams the body without a Content-Length. */
function raw(url: string, method: string, headers: Record<string, string>, body?: string, chunked = false) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let data = "";
      res.on("data", (d: Buffer) => (data += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on("error", reject);
    if (body !== undefined && chunked) {
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half));
      req.end(body.slice(half));
    } else req.end(body);
  });
}

const json = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown>;
const eventsUrl = () => `${endpoint.url}${EVENTS_PATH}`;

describe("one body-size limit", () => {
  const oversized = JSON.stringify({ id: "ev-big", type: "activity", activity: { actor: "x", action: "x", message: "m".repeat(MAX_BODY_BYTES) } });

  it("both servers refuse a body over the limit with 413 and the shared error shape, whether it says its length or streams", async () => {
    const dashHeaders = { ...bearer, "Content-Type": "application/json" };
    const eventHeaders = await signedHeaders(SECRET, oversized, Date.now());
    for (const chunked of [false, true]) {
      const d = await raw(`${dash.url}api/plan`, "POST", dashHeaders, oversized, chunked);
      const e = await raw(eventsUrl(), "POST", eventHeaders, oversized, chunked);
      for (const r of [d, e]) {
        expect(r.status).toBe(413);
        expect(r.headers["content-type"]).toMatch(/^application\/json/);
        expect(json(r)).toEqual({ ok: false, kind: "too-large", error: `the request body is larger than ${MAX_BODY_BYTES} bytes; nothing was changed` });
      }
    }
    expect((await store.listActivities({ limit: 10 })).map((a) => a.message)).not.toContainEqual(expect.stringMatching(/^mmm/));
  });

  it("a keep-alive client's next request after a refused body still gets its answer", async () => {
    for (let i = 0; i < 3; i++) {
      const big = await fetch(`${dash.url}api/plan`, { method: "POST", headers: { ...bearer, "Content-Type": "application/json" }, body: oversized });
      expect(big.status).toBe(413);
      await big.body?.cancel();
      const small = await fetch(`${dash.url}api/plan`, { method: "POST", headers: { ...bearer, "Content-Type": "application/json" }, body: JSON.stringify({ to: "v1.2.4", strategy: "rolling" }) });
      expect(small.status).toBe(200);
      await small.body?.cancel();
    }
  });

  it("the dashboard takes a body the size the endpoint takes (the limit is one, not 64 KB)", async () => {
    const form = JSON.stringify({ to: "v1.2.4", strategy: "rolling", reason: "r", runtime: Array.from({ length: 5_000 }, (_, i) => `runtime-${i}`) });
    expect(form.length).toBeGreaterThan(64 * 1024);
    const r = await raw(`${dash.url}api/plan`, "POST", { ...bearer, "Content-Type": "application/json" }, form);
    expect(r.status).not.toBe(413);
    expect(json(r)).toMatchObject({ ok: false, kind: "bad-input" });
  });
});

describe("one JSON error shape", () => {
  it("the endpoint's refusals carry ok, error and kind, and are logged without the signature", async () => {
    const event = JSON.stringify({ id: "ev-shape-1", type: "alert.close", key: "k" });
    const good = await signedHeaders(SECRET, event, Date.now());
    const cases: Array<[Promise<{ status: number; body: string }>, number, string, string]> = [
      [raw(eventsUrl(), "POST", { "content-type": "application/json" }, event), 401, "unauthorized", "missing signature headers"],
      [raw(eventsUrl(), "POST", { ...good, "x-fleet-signature": "0".repeat(64) }, event), 401, "unauthorized", "bad signature"],
      [raw(eventsUrl(), "POST", { ...good, "x-fleet-timestamp": String(Date.now() - 3_600_000) }, event), 401, "unauthorized", "stale or invalid timestamp"],
      [raw(eventsUrl(), "POST", { ...good, "x-fleet-key-id": "Not A Key" }, event), 401, "unauthorized", "unknown key"],
      [raw(eventsUrl(), "GET", {}), 405, "not-allowed", "GET is not allowed here"],
      [raw(`${endpoint.url}/elsewhere`, "POST", {}, "{}"), 404, "not-found", "no such page or API: /elsewhere"],
    ];
    for (const [pending, status, kind, error] of cases) {
      const r = await pending;
      expect([r.status, json(r)]).toEqual([status, { ok: false, kind, error }]);
    }
    expect(logs.some((l) => l.includes("-> 401 bad signature"))).toBe(true);
    expect(logs.join("\n")).not.toContain(good["x-fleet-signature"]);
  });

  it("the endpoint applies a signed event once, refuses its replay and answers a re-sent id as a duplicate", async () => {
    const event = JSON.stringify({ id: "ev-once", type: "activity", activity: { actor: "unit", action: "note", message: "hello" } });
    const headers = await signedHeaders(SECRET, event, Date.now());
    expect(json(await raw(eventsUrl(), "POST", headers, event))).toEqual({ ok: true, duplicate: false, result: null });
    expect(json(await raw(eventsUrl(), "POST", headers, event))).toEqual({ ok: false, kind: "conflict", error: "replayed request" });
    const again = await raw(eventsUrl(), "POST", await signedHeaders(SECRET, event, Date.now() + 1), event);
    expect([again.status, json(again)]).toEqual([200, { ok: true, duplicate: true, result: null }]);
    const bad = JSON.stringify({ id: "ev-bad", type: "runtime.pending", stack: "unit" });
    const r = await raw(eventsUrl(), "POST", await signedHeaders(SECRET, bad, Date.now()), bad);
    expect(r.status).toBe(400);
    expect(json(r)).toMatchObject({ ok: false, kind: "bad-input", error: expect.stringMatching(/^invalid event: accountId/) });
  });

  it("the dashboard's refusals carry the same ok, error and kind", async () => {
    const cases: Array<[Promise<{ status: number; body: string }>, number, string]> = [
      [raw(`${dash.url}api/overview`, "GET", {}), 401, "unauthorized"],
      [raw(`${dash.url}api/nothing`, "GET", bearer), 404, "not-found"],
      [raw(`${dash.url}api/overview`, "POST", { ...bearer, "Content-Type": "application/json" }, "{}"), 405, "not-allowed"],
      [raw(`${dash.url}api/plan`, "POST", { ...bearer, "Content-Type": "application/json" }, "{nope"), 400, "bad-input"],
      [raw(`${dash.url}api/plan`, "POST", { ...bearer, "Content-Type": "text/plain" }, "{}"), 415, "bad-input"],
      [raw(`${dash.url}api/plan`, "POST", { ...bearer, Origin: "http://evil.example", "Content-Type": "application/json" }, "{}"), 403, "forbidden"],
      [raw(`${dash.url}api/overview`, "GET", { ...bearer, Host: "evil.example" }), 421, "misdirected"],
    ];
    for (const [pending, status, kind] of cases) {
      const r = await pending;
      expect([r.status, json(r).ok, json(r).kind]).toEqual([status, false, kind]);
      expect(json(r).error).toEqual(expect.any(String));
    }
  });
});

describe("one classification of errors, on both servers", () => {
  // A store whose next calls fail with `fault` (the ledger the endpoint keeps still works), so each
  // kind of failure reaches both servers' error handling as a real store would raise it.
  let fault: unknown = null;
  let faultyDir: string;
  let inner: LocalFleetStore;
  let faultyDash: RunningDashboard;
  let faultyEndpoint: Endpoint;
  const faultyLogs: string[] = [];
  const LEDGER = new Set(["claimSignature", "claimEvent", "recordEventResult", "forgetEvent"]);

  beforeAll(async () => {
    faultyDir = mkdtempSync(path.join(os.tmpdir(), "fleet-http-faults-"));
    writeFileSync(path.join(faultyDir, "Pulumi.unit.yaml"), STACK_YAML);
    inner = new LocalFleetStore({ path: path.join(faultyDir, "store.db") });
    const faulty = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (fault !== null && !LEDGER.has(String(prop))) throw fault;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as FleetStore;
    const ctx: CommandContext = { globals: { stack: "unit" }, out: makeOutput(true, { write: () => true }, { write: () => true }), projectDir: faultyDir };
    faultyDash = await startDashboardServer({ fleet: new DashboardFleet({ ctx, sc: await stackContext(ctx) }), auth: tokenAuthenticator(TOKEN, faulty, "unit@test"), host: "127.0.0.1", port: 0, log: (l) => faultyLogs.push(l) });
    faultyEndpoint = await startEndpoint({ store: faulty, hmacSecret: SECRET, log: (l) => faultyLogs.push(l) });
  });

  afterAll(async () => {
    await faultyDash?.close();
    await faultyEndpoint?.close();
    await inner?.close();
    rmSync(faultyDir, { recursive: true, force: true });
  });

  const file = "/var/lib/fleet/store.db";
  const cases: Array<[string, unknown, number, string, string]> = [
    ["a refused input", new StoreError('healthScore 150 is not within 0..100', "invalid"), 400, "bad-input", 'healthScore 150 is not within 0..100'],
    ["a missing record", new StoreError("no runtime unit/ghost", "not_found"), 404, "not-found", "no runtime unit/ghost"],
    ["an illegal transition", new StoreError("rollout ro_abc123 already ended (completed): cannot abort it", "transition"), 409, "conflict", "rollout ro_abc123 already ended (completed): cannot abort it"],
    ["a store that cannot be written", new StoreError(`store ${file} is not writable (EROFS): nothing was recorded`, "io", file), 503, "unavailable", `store ${file} is not writable (EROFS): nothing was recorded`],
    ["an unexpected error", new TypeError("Cannot read properties of undefined (reading 'token=hunter2')"), 500, "failed", "internal error"],
  ];

  for (const [what, error, status, kind, message] of cases) {
    it(`${what}: ${status} ${kind} from the dashboard and the endpoint alike`, async () => {
      faultyLogs.length = 0;
      const event = JSON.stringify({ id: `ev-fault-${status}`, type: "runtime.upsert", runtimes: [{ stack: "unit", accountId: "acme", status: "online" }] });
      const headers = await signedHeaders(SECRET, event, Date.now());
      fault = error;
      try {
        const d = await raw(`${faultyDash.url}api/overview`, "GET", bearer);
        const e = await raw(`${faultyEndpoint.url}${EVENTS_PATH}`, "POST", headers, event);
        for (const r of [d, e]) expect([r.status, json(r)]).toEqual([status, { ok: false, kind, error: message }]);
      } finally {
        fault = null;
      }
      if (status === 500) {
        // The detail is for the operator's log, never the caller.
        expect(faultyLogs.filter((l) => l.includes("token=hunter2"))).toHaveLength(2);
      }
    });
  }
});

describe("the dashboard's headers and cookies", () => {
  it("sends the security headers and no-store on pages, files, the API and refusals", async () => {
    const responses = await Promise.all([
      raw(`${dash.url}`, "GET", bearer),
      raw(`${dash.url}static/app.js`, "GET", bearer),
      raw(`${dash.url}api/session`, "GET", bearer),
      raw(`${dash.url}runtimes/acme`, "GET", {}),
      raw(`${dash.url}api/nothing`, "GET", bearer),
    ]);
    for (const r of responses) {
      expect(r.headers["content-security-policy"]).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect([r.headers["x-content-type-options"], r.headers["referrer-policy"], r.headers["x-frame-options"], r.headers["cache-control"]]).toEqual(["nosniff", "no-referrer", "DENY", "no-store"]);
    }
    const [page, script, session, signIn] = responses;
    expect([page!.status, page!.headers["content-type"]]).toEqual([200, "text/html; charset=utf-8"]);
    expect(page!.body).toMatch(/<script type="module" src="\/static\/app\.js">/);
    expect([script!.status, script!.headers["content-type"]]).toEqual([200, expect.stringMatching(/^(text|application)\/javascript; charset=utf-8$/)]);
    expect(session!.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect([signIn!.status, signIn!.headers["content-type"], signIn!.headers["www-authenticate"]]).toEqual([401, "text/html; charset=utf-8", 'Bearer realm="fleet dashboard"']);
    expect(signIn!.body).toMatch(/Sign in required/);
  });

  it("signs in with an HttpOnly, SameSite=Strict session cookie, and signs out by expiring it", async () => {
    const login = await raw(`${dash.url}history?token=${TOKEN}&x=1`, "GET", {});
    expect([login.status, login.headers.location]).toEqual([303, "/history?x=1"]);
    const set = String(login.headers["set-cookie"]);
    expect(set).toMatch(/^fleet_dashboard_session=[A-Za-z0-9_-]+;/);
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\//);
    expect(set).toMatch(/Max-Age=43200/);
    const cookie = set.split(";")[0]!;
    const session = JSON.parse((await raw(`${dash.url}api/session`, "GET", { Cookie: cookie })).body) as { csrf: string };
    const origin = dash.url.replace(/\/$/, "");
    const out = await raw(`${dash.url}api/logout`, "POST", { Cookie: cookie, Origin: origin, "X-CSRF-Token": session.csrf, "Content-Type": "application/json" }, "{}");
    expect([out.status, json(out)]).toEqual([200, { ok: true }]);
    expect(String(out.headers["set-cookie"])).toMatch(/^fleet_dashboard_session=;.*Max-Age=0/);
    expect((await raw(`${dash.url}api/session`, "GET", { Cookie: cookie })).status).toBe(401);
  });
});
