// The production path over the network: ConvexFleetStore with its HTTP transport (store/convex.ts
// `httpTransport`: ConvexHttpClient for queries and mutations, fetch for /fleet/events) against the
// local Convex stand-in (lab/convex/), which runs the project's own convex/ functions. Identity is a
// JWT from the lab issuer, checked as convex/auth.config.ts says.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError } from "convex/values";
import { storeContract } from "../../store/contract";
import { ConvexFleetStore, httpTransport } from "../../store/convex";
import type { MutationCtx } from "../../convex/_generated/server";
import { adjustCounters } from "../../convex/runtimes";
import { EVENTS_PATH, signedHeaders } from "../../protocol/signature";
import { CONVEX_DIR, convexModules, startConvexStandin, type ConvexStandin } from "../../lab/convex/standin";

const HMAC = "unit-hmac-secret-0123456789abcdef";
let standin: Promise<ConvexStandin> | undefined;
const deployment = () => (standin ??= startConvexStandin({ env: { FLEET_HMAC_SECRET: HMAC }, superAdmins: ["admin"] }));
afterAll(async () => {
  await (await standin)?.close();
});

async function storeAs(subject: string | null): Promise<ConvexFleetStore> {
  const d = await deployment();
  const authToken = subject === null ? undefined : await d.issuer.token(subject);
  const transport = await httpTransport({ url: d.url, siteUrl: d.siteUrl, ...(authToken ? { authToken } : {}) });
  return new ConvexFleetStore({ transport, hmacSecret: HMAC, retries: 0 });
}

storeContract("convex over HTTP (ConvexHttpClient + signed fetch, against the stand-in)", async () => {
  await (await deployment()).reset();
  return { store: await storeAs("admin"), cleanup: async () => {} };
});

type ValidatorJson = { type: string; value?: unknown; keys?: ValidatorJson };
/** The smallest value a function's args validator accepts, so every function can be called. */
function sample(v: ValidatorJson): unknown {
  switch (v.type) {
    case "object":
      return Object.fromEntries(
        Object.entries(v.value as Record<string, { fieldType: ValidatorJson; optional: boolean }>)
          .filter(([, f]) => !f.optional)
          .map(([k, f]) => [k, sample(f.fieldType)]),
      );
    case "string":
      return "x";
    case "number":
      return 1;
    case "bigint":
      return 1n;
    case "boolean":
      return false;
    case "null":
    case "any":
      return null;
    case "literal":
      return v.value;
    case "union":
      return sample((v.value as ValidatorJson[])[0]!);
    case "array":
      return [];
    case "record":
      return {};
    default:
      throw new Error(`no sample for validator ${v.type}`);
  }
}

/** Every public query and mutation of convex/, with arguments its validator accepts. */
async function publicFunctions() {
  const out: Array<{ kind: "query" | "mutation"; path: string; args: Record<string, unknown> }> = [];
  for (const [key, load] of Object.entries(convexModules(CONVEX_DIR))) {
    const file = key.replace(/^\.\/convex\//, "").replace(/\.[jt]s$/, "");
    if (file.startsWith("_generated")) continue;
    const mod = (await load()) as Record<string, { isPublic?: boolean; isQuery?: boolean; isMutation?: boolean; exportArgs?: () => string }>;
    for (const [name, fn] of Object.entries(mod)) {
      if (!fn?.isPublic || !(fn.isQuery || fn.isMutation)) continue;
      out.push({ kind: fn.isQuery ? "query" : "mutation", path: `${file}:${name}`, args: sample(JSON.parse(fn.exportArgs!()) as ValidatorJson) as Record<string, unknown> });
    }
  }
  return out;
}

async function refusal(client: ConvexHttpClient, fn: { kind: "query" | "mutation"; path: string; args: Record<string, unknown> }) {
  try {
    if (fn.kind === "query") await client.query(makeFunctionReference<"query">(fn.path), fn.args as never);
    else await client.mutation(makeFunctionReference<"mutation">(fn.path), fn.args as never);
    return "allowed";
  } catch (e) {
    if (e instanceof ConvexError) return (e.data as { code?: string }).code ?? "ConvexError";
    return (e as Error).message;
  }
}

describe("who may call the deployment over HTTP", () => {
  let d: ConvexStandin;
  let functions: Awaited<ReturnType<typeof publicFunctions>>;
  beforeAll(async () => {
    d = await deployment();
    functions = await publicFunctions();
  });

  it("a signed-in non-admin is refused (forbidden) by every public query and mutation; anonymous callers are unauthenticated", async () => {
    expect(functions.filter((f) => f.kind === "query").length).toBeGreaterThanOrEqual(10);
    const user = new ConvexHttpClient(d.url, { logger: false });
    user.setAuth(await d.issuer.token("someone-else"));
    const anonymous = new ConvexHttpClient(d.url, { logger: false });
    const results: Record<string, string[]> = {};
    for (const fn of functions) results[fn.path] = [await refusal(user, fn), await refusal(anonymous, fn)];
    expect(results).toEqual(Object.fromEntries(functions.map((f) => [f.path, ["forbidden", "unauthenticated"]])));
    // ...and the same calls as the admin get through the check (a refusal here would be the admin's).
    const admin = new ConvexHttpClient(d.url, { logger: false });
    admin.setAuth(await d.issuer.token("admin"));
    expect(await refusal(admin, functions.find((f) => f.path === "overview:get")!)).toBe("allowed");
  });

  it("a forged, expired or wrongly addressed token is refused before any function runs (HTTP 401)", async () => {
    for (const token of [await d.issuer.token("admin", { forged: true }), await d.issuer.token("admin", { expiresIn: -60 }), await d.issuer.token("admin", { audience: "another-app" })]) {
      const res = await fetch(`${d.url}/api/query`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ path: "overview:get", format: "convex_encoded_json", args: [{}] }),
      });
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/Unauthenticated/);
    }
  });

  it("internal functions cannot be called from outside, even by an admin", async () => {
    const admin = new ConvexHttpClient(d.url, { logger: false });
    admin.setAuth(await d.issuer.token("admin"));
    await expect(admin.mutation(makeFunctionReference<"mutation">("http:purge"), {})).rejects.toThrow(/Could not find public function for 'http:purge'/);
  });

  it("a forged, stale or replayed event is refused over HTTP; the genuine one is applied once", async () => {
    await d.reset();
    const body = JSON.stringify({ id: "ev-unit-1", type: "activity", activity: { actor: "unit", action: "note", message: "hello" } });
    const post = (headers: Record<string, string>) => fetch(`${d.siteUrl}${EVENTS_PATH}`, { method: "POST", body, headers });
    expect((await post(await signedHeaders("not-the-secret", body, Date.now()))).status).toBe(401);
    expect((await post(await signedHeaders(HMAC, body, Date.now() - 10 * 60_000))).status).toBe(401);
    const genuine = await signedHeaders(HMAC, body, Date.now());
    expect((await post(genuine)).status).toBe(200);
    const replay = await post(genuine);
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ ok: false, error: "replayed request" });
    const admin = await storeAs("admin");
    expect((await admin.listActivities({})).filter((a) => a.message === "hello")).toHaveLength(1);
  });

  it("a 10,000-runtime overview stays inside Convex's transaction limits, over the wire", { timeout: 60_000 }, async () => {
    await d.reset();
    const admin = await storeAs("admin");
    // Seeded in-process through the counters helper the write path uses, as convex/overview.test.ts
    // does (10,000 upserts through convex-test's scanned index lookups take about a minute).
    const now = Date.now();
    for (let start = 0; start < 10_000; start += 500) {
      await d.run(async (ctx: MutationCtx) => {
        for (let i = start; i < start + 500; i++) {
          const doc = {
            stack: "prod",
            accountId: `acct-${i}`,
            provider: "digitalocean" as const,
            providerId: String(100_000 + i),
            ipAddress: `10.0.${i >> 8}.${i & 255}`,
            region: "nyc1",
            status: i % 10 === 0 ? ("degraded" as const) : ("online" as const),
            openclawVersion: i % 2 === 0 ? "v1.2.3" : "v1.2.5",
            runtimeServiceVersion: "v0.5.0",
            dockerImageTag: "v0.5.0",
            isCanary: false,
            createdAt: now,
            updatedAt: now,
          };
          await ctx.db.insert("runtimes", doc);
          await adjustCounters(ctx, null, doc);
        }
      });
    }
    const overview = await admin.overview({ stack: "prod" });
    expect(overview.total).toBe(10_000);
    expect(overview.byStatus.find((s) => s.status === "degraded")?.count).toBe(1_000);
    expect(overview.byOpenclawVersion.map((v) => [v.label, v.count])).toEqual(expect.arrayContaining([["v1.2.3", 5_000], ["v1.2.5", 5_000]]));
  });

  it("crons run on demand: each registered cron's function runs once", async () => {
    const results = await d.runCrons();
    expect(Object.keys(results).sort()).toEqual(["evaluate rollout alerts", "evaluate runtime alerts", "purge replay nonces and old event ids"]);
  });

  it("a deployment unreachable for a while stalls reads and signed writes until it is back; each write is applied once", async () => {
    await d.reset();
    const admin = await storeAs("admin");
    await d.stop();
    const back = setTimeout(() => void d.start(), 1_500);
    try {
      const t0 = Date.now();
      const [, , activities] = await Promise.all([
        admin.appendActivity({ actor: "unit", action: "note", message: "during the outage" }),
        admin.recordUpgrade({ eventId: "up-outage-1", stack: "prod", accountId: "acme", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", fromRuntimeService: "v0.5.0", toRuntimeService: "v0.5.0", status: "success", executor: "pulumi", initiatedBy: "unit", startedAt: t0, completedAt: t0, durationMs: 1 }),
        admin.listActivities({}),
      ]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
      expect(Array.isArray(activities)).toBe(true);
    } finally {
      clearTimeout(back);
      await d.start();
    }
    expect((await admin.listActivities({})).filter((a) => a.message === "during the outage")).toHaveLength(1);
    expect((await admin.listUpgrades({ accountId: "acme" })).items.map((e) => e.eventId)).toEqual(["up-outage-1"]);
  });

  it("an outage longer than the retry window fails the call with the connection error", async () => {
    const transport = await httpTransport({ url: d.url, siteUrl: d.siteUrl, authToken: await d.issuer.token("admin"), retryForMs: 600 });
    await d.stop();
    try {
      const failed = transport.query("overview:get", {});
      // Said as the store being unavailable (503 on the dashboard), with the address and the cause.
      await expect(failed).rejects.toMatchObject({ name: "FleetStoreHttpError", status: 503 });
      await expect(failed).rejects.toThrow(new RegExp(`the Convex deployment ${d.url.replace(/[.]/g, "\\.")} cannot be reached: .*fetch failed`));
    } finally {
      await d.start();
    }
  });
});
