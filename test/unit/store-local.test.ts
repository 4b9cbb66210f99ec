import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chooseStore, openStore } from "../../store/index";
import { LocalFleetStore, StoreError } from "../../store/local";

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

describe("machine events survive a restart (the embedded endpoint's seen ids and signatures)", () => {
  it("claims an event id once, returns the first result to a repeat, also after reopening", async () => {
    const path = join(dir, "events.db");
    let t = 1_750_000_000_000;
    const first = new LocalFleetStore({ path, now: () => t });
    expect(await first.claimEvent("ev-1", "runtime.upsert")).toEqual({ fresh: true });
    expect(await first.claimEvent("ev-1", "runtime.upsert")).toEqual({ fresh: false });
    await first.recordEventResult("ev-1", '{"count":1}');
    expect(await first.claimSignature("ab12", t)).toBe(true);
    await first.close();
    const reopened = new LocalFleetStore({ path, now: () => t });
    expect(await reopened.claimEvent("ev-1", "runtime.upsert")).toEqual({ fresh: false, result: '{"count":1}' });
    expect(await reopened.claimSignature("ab12", t + 1_000)).toBe(false);
    expect(await reopened.claimSignature("cd34", t + 1_000)).toBe(true);
    // Old rows are purged: a signature past twice the clock skew, an event id past a week.
    expect(await reopened.claimSignature("ab12", t + 11 * 60_000)).toBe(true);
    // A claimed event whose apply failed is released for its retry; one with a result is not.
    expect(await reopened.claimEvent("ev-2", "upgrade.result")).toEqual({ fresh: true });
    await reopened.forgetEvent("ev-2");
    await reopened.forgetEvent("ev-1");
    expect(await reopened.claimEvent("ev-2", "upgrade.result")).toEqual({ fresh: true });
    expect(await reopened.claimEvent("ev-1", "runtime.upsert")).toEqual({ fresh: false, result: '{"count":1}' });
    t += 8 * 86_400_000;
    expect(await reopened.claimEvent("ev-1", "runtime.upsert")).toEqual({ fresh: true });
    await reopened.close();
  });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Makes `paths` immutable for the test's duration: `chattr +i` (root ignores file modes), or
 * modes without write permission when not root. Returns the undo.
 */
function makeReadOnly(paths: string[]): () => void {
  const root = process.getuid?.() === 0;
  for (const p of paths) {
    if (root) execFileSync("chattr", ["+i", p]);
    else chmodSync(p, statSync(p).isDirectory() ? 0o555 : 0o444);
  }
  return () => {
    for (const p of paths) {
      if (root) execFileSync("chattr", ["-i", p]);
      else chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
    }
  };
}

describe("a read-only store", () => {
  // chattr needs a filesystem with inode flags (ext4 here); as root it is what stops a write.
  const base = mkdtempSync(join(tmpdir(), "fleet-ro-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  async function seeded(name: string) {
    const path = join(base, name, "prod.db");
    const s = new LocalFleetStore({ path });
    await s.upsertRuntimes([{ stack: "prod", accountId: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }]);
    await s.close();
    return path;
  }

  it("refuses to open for writing when the database file is immutable, naming the file, and changes nothing", async () => {
    const path = await seeded("file");
    const before = readFileSync(path);
    const undo = makeReadOnly([path]);
    try {
      let error: unknown;
      try {
        new LocalFleetStore({ path });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(new RegExp(`^store ${escape(path)} is not writable \\(E[A-Z]+\\): nothing was recorded$`));
      expect((error as StoreError).kind).toBe("io");
    } finally {
      undo();
    }
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("refuses when the directory and its files are immutable (no -wal to write through), naming the directory", async () => {
    const path = await seeded("dir");
    const undo = makeReadOnly([path, dirname(path)]);
    try {
      expect(() => new LocalFleetStore({ path })).toThrow(new RegExp(`^store (directory )?${escape(dirname(path))}\\S* is not writable`));
    } finally {
      undo();
    }
  });

  it("writes without a shared-memory map when only the directory is not writable", async () => {
    const path = await seeded("noshm");
    const shm = `${path}-shm`;
    expect(existsSync(shm)).toBe(false);
    // The files SQLite needs exist and are writable (an empty WAL: the last close checkpointed it).
    writeFileSync(`${path}-wal`, "");
    const undo = makeReadOnly([dirname(path)]);
    try {
      const s = new LocalFleetStore({ path });
      await s.upsertRuntimes([{ stack: "prod", accountId: "gamma", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }]);
      expect((await s.listRuntimes()).map((r) => r.accountId)).toEqual(["acme", "gamma"]);
      expect(existsSync(shm)).toBe(false);
      await s.close();
    } finally {
      undo();
    }
  });

  it("names the file in a storage error", async () => {
    const path = await seeded("io");
    const s = new LocalFleetStore({ path });
    await s.listRuntimes();
    const undo = makeReadOnly([path, `${path}-wal`]);
    try {
      // The database and its WAL made immutable after opening (mid-rollout): the write fails in
      // SQLite, and the error says which store.
      await expect(s.upsertRuntimes([{ stack: "prod", accountId: "late", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }])).rejects.toThrow(path);
    } finally {
      undo();
      await s.close();
    }
  });
});
