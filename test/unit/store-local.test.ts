import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chooseStore, openStore } from "../../store/index";
import { LocalFleetStore } from "../../store/local";

const dir = mkdtempSync(join(tmpdir(), "fleet-local-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("openStore", () => {
  it("chooses Convex only when FLEET_CONVEX_URL is set, else the local file (FLEET_STORE_PATH wins)", () => {
    expect(chooseStore({ localPath: ".fleet/prod.db", env: {} })).toEqual({ kind: "local", location: ".fleet/prod.db" });
    expect(chooseStore({ localPath: ".fleet/prod.db", env: { FLEET_STORE_PATH: "/tmp/x.db" } })).toEqual({ kind: "local", location: "/tmp/x.db" });
    expect(chooseStore({ localPath: ".fleet/prod.db", env: { FLEET_CONVEX_URL: "https://a-b-123.convex.cloud", FLEET_HMAC_SECRET: "s" } })).toEqual({ kind: "convex", location: "https://a-b-123.convex.cloud" });
  });
  it("refuses a Convex URL without the HMAC secret", async () => {
    await expect(openStore({ localPath: "x", env: { FLEET_CONVEX_URL: "https://a-b-123.convex.cloud" } })).rejects.toThrow(/FLEET_HMAC_SECRET/);
  });
  it("opens the local store, creating its directory", async () => {
    const store = await openStore({ localPath: join(dir, "nested", ".fleet", "prod.db"), env: {} });
    expect(store.kind).toBe("local");
    expect((await store.overview()).total).toBe(0);
    await store.close();
  });
});

describe("local store at fleet scale", () => {
  it("upserts 10,000 runtimes and computes the overview quickly", async () => {
    const store = new LocalFleetStore({ path: join(dir, "big.db") });
    const all = Array.from({ length: 10_000 }, (_, i) => ({
      stack: "prod",
      accountId: `acct-${i}`,
      openclawVersion: i % 4 === 0 ? "v1.1.5" : "v1.2.5",
      runtimeServiceVersion: "v0.5.2",
      status: i % 10 === 0 ? ("offline" as const) : ("online" as const),
    }));
    const t0 = Date.now();
    await store.upsertRuntimes(all);
    const t1 = Date.now();
    await store.setConfig("min_supported_openclaw", "v1.2.0", "test");
    const o = await store.overview({ stack: "prod" });
    const t2 = Date.now();
    expect(o.total).toBe(10_000);
    expect(o.byOpenclawVersion.map((r) => [r.label, r.count, r.belowMinimum])).toEqual([
      ["v1.2.5", 7500, false],
      ["v1.1.x", 2500, true],
    ]);
    expect(t1 - t0).toBeLessThan(10_000);
    expect(t2 - t1).toBeLessThan(1_000);
    expect(store.integrityCheck()).toBe("ok");
    await store.close();
  });
});
