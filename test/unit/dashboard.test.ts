// The dashboard server in-process (loopback HTTP, a temp stack config, the real local store):
// who gets in, what is refused as cross-site, bad input, an empty fleet, a store that is down.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crossSiteProblem, Sessions, sameSecret, tokenAuthenticator } from "../../dashboard/auth";
import { DashboardFleet } from "../../dashboard/fleet";
import { startDashboardServer } from "../../dashboard/server";
import { makeOutput, type CommandContext } from "../../cli/cli";
import { stackContext } from "../../control/context";
import { LocalFleetStore } from "../../store/local";
import type { IncomingMessage } from "node:http";
import { unitRuntimes, unitStackYaml } from "../support/fixtures";

const TOKEN = "unit-test-token-0123456789abcdef";

const stackYaml = (runtimes: string) => unitStackYaml(runtimes);

const RUNTIMES = unitRuntimes(["acme", "globex", "initech"]);

describe("dashboard auth helpers", () => {
  it("compares secrets of any length", () => {
    expect(sameSecret("abc", "abc")).toBe(true);
    expect(sameSecret("abc", "abcd")).toBe(false);
  });
  it("judges Origin and Sec-Fetch-Site", () => {
    const allowed = new Set(["http://127.0.0.1:9"]);
    const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
    expect(crossSiteProblem(req({ origin: "http://127.0.0.1:9", "sec-fetch-site": "same-origin" }), allowed)).toBeNull();
    expect(crossSiteProblem(req({ origin: "http://evil.example" }), allowed)).toMatch(/is not this dashboard/);
    expect(crossSiteProblem(req({ origin: "http://127.0.0.1:9", "sec-fetch-site": "cross-site" }), allowed)).toMatch(/Sec-Fetch-Site/);
    expect(crossSiteProblem(req({}), allowed)).toMatch(/no Origin/);
  });
  it("expires sessions", () => {
    const sessions = new Sessions();
    const s = sessions.create({ user: "u", store: {} as never }, 0);
    expect(sessions.get(s.id, 1)?.csrf).toBe(s.csrf);
    expect(sessions.get(s.id, 13 * 3600 * 1000)).toBeNull();
    expect(sessions.get("nope")).toBeNull();
  });
  it("refuses short tokens", () => {
    expect(() => tokenAuthenticator("short", {} as never, "u")).toThrow(/at least 16/);
  });
});

async function serve(runtimes: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-dash-unit-"));
  writeFileSync(path.join(dir, "Pulumi.unit.yaml"), stackYaml(runtimes));
  const ctx: CommandContext = { globals: { stack: "unit" }, out: makeOutput(true, { write: () => true }, { write: () => true }), projectDir: dir };
  const sc = await stackContext(ctx);
  const store = new LocalFleetStore({ path: path.join(dir, "store.db") });
  const fleet = new DashboardFleet({ ctx, sc });
  const running = await startDashboardServer({ fleet, auth: tokenAuthenticator(TOKEN, store, "unit@test"), host: "127.0.0.1", port: 0 });
  return { dir, store, running };
}

describe("dashboard server", () => {
  let s: Awaited<ReturnType<typeof serve>>;
  let base: string;
  const bearer = { Authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    s = await serve(RUNTIMES);
    base = s.running.url;
  });
  afterAll(async () => {
    await s.running.close();
    await s.store.close().catch(() => undefined);
    rmSync(s.dir, { recursive: true, force: true });
  });
  const login = async () => {
    const r = await fetch(`${base}?token=${TOKEN}`, { redirect: "manual" });
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("/");
    const cookie = r.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const c = cookie.split(";")[0]!;
    const session = (await (await fetch(`${base}api/session`, { headers: { Cookie: c } })).json()) as { csrf: string };
    return { cookie: c, csrf: session.csrf };
  };

  it("answers 401 without a credential, for pages, files and the API", async () => {
    for (const p of ["", "api/overview", "runtimes/acme", "static/app.js", "api/history"]) {
      const r = await fetch(`${base}${p}`);
      expect(r.status, p).toBe(401);
      expect(await r.text()).not.toMatch(/acme|globex/);
    }
  });

  it("serves the overview of a fleet nobody has observed yet (empty state)", async () => {
    const r = await fetch(`${base}api/overview`, { headers: bearer });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { overview: { total: number }; configured: number; versionStatus: Array<{ current: string }> };
    expect(body.overview.total).toBe(0);
    expect(body.configured).toBe(3);
    expect(body.versionStatus[0]!.current).toBe("v1.2.3");
  });

  it("previews a plan and refuses bad input with the fleet/ messages", async () => {
    const post = (p: string, body: unknown) => fetch(`${base}${p}`, { method: "POST", headers: { ...bearer, "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const ok = await post("api/plan", { to: "v1.2.5", strategy: "canary" });
    expect(ok.status).toBe(200);
    const plan = (await ok.json()) as { batches: Array<{ accountIds: string[] }> };
    expect(plan.batches[0]!.accountIds).toEqual(["acme"]);
    const bad = await post("api/plan", { to: "latest", strategy: "canary" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/"latest" is not a release tag \(expected vMAJOR\.MINOR\.PATCH\); nothing was changed/);
    const strat = await post("api/plan", { to: "v1.2.5", strategy: "yolo" });
    expect(((await strat.json()) as { error: string }).error).toMatch(/strategy: "yolo" is not a strategy/);
    const extra = await post("api/plan", { to: "v1.2.5", strategy: "rolling", command: "rm -rf /" });
    expect(extra.status).toBe(400);
    const below = await post("api/plan", { to: "v1.0.0", strategy: "rolling" });
    expect(((await below.json()) as { error: string }).error).toMatch(/minimum supported/);
    const runtime = await fetch(`${base}api/runtimes/..%2Fetc`, { headers: bearer });
    expect(runtime.status).toBe(400);
    expect((await fetch(`${base}api/runtimes/nobody`, { headers: bearer })).status).toBe(404);
  });

  it("with a session cookie, POST needs same-origin headers and the session's CSRF token", async () => {
    const { cookie, csrf } = await login();
    const origin = base.replace(/\/$/, "");
    const post = (headers: Record<string, string>) =>
      fetch(`${base}api/plan`, { method: "POST", headers: { Cookie: cookie, "Content-Type": "application/json", ...headers }, body: JSON.stringify({ to: "v1.2.5", strategy: "rolling" }) });
    expect((await post({ Origin: origin, "X-CSRF-Token": csrf })).status).toBe(200);
    expect((await post({ Origin: origin })).status).toBe(403);
    expect((await post({ Origin: origin, "X-CSRF-Token": "forged" })).status).toBe(403);
    expect((await post({ Origin: "http://evil.example", "X-CSRF-Token": csrf })).status).toBe(403);
    expect((await post({ "X-CSRF-Token": csrf })).status).toBe(403);
    const form = await fetch(`${base}api/plan`, { method: "POST", headers: { Cookie: cookie, Origin: origin, "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" }, body: "to=v1.2.5" });
    expect(form.status).toBe(415);
  });

  it("answers every bad query parameter or path segment with 400 naming it and its value", async () => {
    const get = async (p: string) => {
      const r = await fetch(`${base}${p}`, { headers: bearer });
      return { status: r.status, body: (await r.json()) as { ok: boolean; error: string; kind: string } };
    };
    const cases: Array<[string, RegExp]> = [
      ["api/history?limit=abc", /^limit: "abc" is not a number from 1 to 200/],
      ["api/history?limit=0", /^limit: 0 is not a number from 1 to 200/],
      ["api/history?limit=201", /^limit: 201 is not a number from 1 to 200/],
      ["api/history?limit=-5", /^limit: "?-5"? is not a number from 1 to 200/],
      ["api/history?limit=2.5", /^limit: "?2\.5"? is not a number from 1 to 200/],
      ["api/history?cursor=AAAA", /^cursor: "AAAA" is not a history cursor/],
      ["api/history?runtime=%E0%A4%A", /^runtime: "%E0%A4%A" is not an account id/],
      ["api/history?runtime=..%2Fx", /^runtime: "\.\.\/x" is not an account id/],
      ["api/runtimes/%E0%A4%A", /^runtime: "%E0%A4%A" is not an account id/],
      ["api/runtimes/%3Cb%3EX%3C%2Fb%3E", /^runtime: "<b>X<\/b>" is not an account id/],
      ["api/rollouts/%E0%A4%A", /^rolloutId: "%E0%A4%A" is not a rollout id/],
      ["api/rollouts/ro_", /^rolloutId: "ro_" is not a rollout id/],
    ];
    const answers = [];
    for (const [p] of cases) {
      const { status, body } = await get(p);
      answers.push({ p, status, kind: body.kind, error: body.error });
    }
    expect(answers).toEqual(cases.map(([p, message]) => ({ p, status: 400, kind: "bad-input", error: expect.stringMatching(message) })));
  });

  it("pages the history with the store's own cursors", async () => {
    for (let i = 0; i < 3; i++) {
      await s.store.recordUpgrade({
        eventId: `ev-page-${i}`,
        stack: "unit",
        accountId: "acme",
        fromOpenclaw: "v1.2.3",
        toOpenclaw: "v1.2.4",
        fromRuntimeService: "v0.5.0",
        toRuntimeService: "v0.5.0",
        status: "success",
        startedAt: 1_000 + i,
        initiatedBy: "unit",
        executor: "pulumi",
      });
    }
    const page = async (q: string) => (await (await fetch(`${base}api/history?${q}`, { headers: bearer })).json()) as { items: Array<{ eventId: string }>; cursor: string | null };
    const first = await page("limit=2&runtime=acme");
    expect(first.items.map((e) => e.eventId)).toEqual(["ev-page-2", "ev-page-1"]);
    const second = await page(`limit=2&runtime=acme&cursor=${encodeURIComponent(first.cursor!)}`);
    expect([second.items.map((e) => e.eventId), second.cursor]).toEqual([["ev-page-0"], null]);
  });

  it("says the store is unavailable (503) instead of showing partial data", async () => {
    await s.store.close();
    const r = await fetch(`${base}api/overview`, { headers: bearer });
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: string; kind: string }).kind).toBe("unavailable");
  });

  it("a store that is down is still 503 when the history is asked with a cursor (not a bad cursor)", async () => {
    const r = await fetch(`${base}api/history?cursor=${encodeURIComponent("1000:1")}`, { headers: bearer });
    expect([r.status, ((await r.json()) as { kind: string }).kind]).toEqual([503, "unavailable"]);
  });
});

describe("dashboard server, a fleet of zero runtimes", () => {
  it("shows an empty overview and refuses a plan with the planner's message", async () => {
    const s = await serve(" []");
    try {
      const headers = { Authorization: `Bearer ${TOKEN}` };
      const o = (await (await fetch(`${s.running.url}api/overview`, { headers })).json()) as { configured: number; overview: { total: number }; runtimes: unknown[] };
      expect([o.configured, o.overview.total, o.runtimes.length]).toEqual([0, 0, 0]);
      const r = await fetch(`${s.running.url}api/plan`, { method: "POST", headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify({ to: "v1.2.5", strategy: "rolling" }) });
      expect(r.status).toBe(400);
    } finally {
      await s.running.close();
      await s.store.close();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});
