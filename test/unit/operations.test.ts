// The operations layer as the CLI and the dashboard reach it: one guard for abort/pause (a finished
// rollout stays as it ended), one release check before anything is recorded, one success rate.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { stackContext } from "../../control/context";
import { DashboardFleet, HttpError } from "../../dashboard/fleet";
import { LocalFleetStore } from "../../store/local";
import { fleet } from "../support/cli";
import { leaseSeconds, takeover } from "../../control/lease";
import { UsageError } from "../../control/errors";
import type { LockHolder } from "../../store/types";

let dir: string;
let file: string;
const storePath = () => path.join(dir, "store", "store.db");

function writeStack(extra: Record<string, unknown> = {}) {
  writeFileSync(
    file,
    stringify({
      config: {
        "fleet:release": { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
        "fleet:policy": { minSupportedOpenclaw: "v1.1.0", strategy: "rolling", batchPercent: 50 },
        "fleet:defaults": { provider: "existing" },
        "fleet:sshPrivateKey": { secure: "v1:abc" },
        "fleet:runtimes": [
          { accountId: "a1", host: "127.0.0.11", openclaw: "v1.2.3", runtimeService: "v0.5.0" },
          { accountId: "a2", host: "127.0.0.12", openclaw: "v1.2.3", runtimeService: "v0.5.0" },
        ],
        ...extra,
      },
    }),
  );
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-ops-"));
  file = path.join(dir, "Pulumi.test.yaml");
  writeStack();
  process.env.FLEET_STORE_PATH = storePath();
});
afterEach(() => {
  delete process.env.FLEET_STORE_PATH;
  rmSync(dir, { recursive: true, force: true });
});

async function seedRollout(id: string, end: "completed" | "halted" | "paused") {
  mkdirSync(path.dirname(storePath()), { recursive: true });
  const store = new LocalFleetStore({ path: storePath() });
  await store.createRollout({
    rolloutId: id,
    stack: "test",
    target: { openclaw: "v1.2.5", runtimeService: "v0.5.0" },
    strategy: "rolling",
    options: {},
    initiatedBy: "ana",
    batches: [["a1"], ["a2"]],
    previous: [[{ openclaw: "v1.2.3", runtimeService: "v0.5.0" }], [{ openclaw: "v1.2.3", runtimeService: "v0.5.0" }]],
    status: "running",
    createdAt: 1_800_000_000_000,
  });
  await store.updateRollout(id, { status: end, statusReason: "seeded", at: 1_800_000_100_000 });
  const record = await store.getRollout(id);
  await store.close();
  return record!;
}

async function readBack<T>(fn: (store: LocalFleetStore) => Promise<T>): Promise<T> {
  const store = new LocalFleetStore({ path: storePath() });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe("abort and pause: the lifecycle's one guard", () => {
  it("refuses `fleet rollout abort` of a completed rollout: exit 1, the rollout, its status and the action named, record unchanged", async () => {
    const before = await seedRollout("ro_done00001", "completed");
    const activitiesBefore = await readBack((s) => s.listActivities({ stack: "test" }));
    const r = await fleet("--project", dir, "--stack", "test", "rollout", "abort", "ro_done00001");
    expect(r.code).toBe(1); // refused operation, not bad input
    expect(r.stderr.trim()).toBe("fleet: rollout ro_done00001 already ended (completed): cannot abort it");
    const after = await readBack((s) => s.getRollout("ro_done00001"));
    expect(after).toEqual(before);
    expect(await readBack((s) => s.listActivities({ stack: "test" }))).toEqual(activitiesBefore);
  });

  it("refuses pausing a halted rollout the same way, and the dashboard answers 409 with the same words", async () => {
    await seedRollout("ro_halt00001", "halted");
    const r = await fleet("--project", dir, "--stack", "test", "rollout", "pause", "ro_halt00001");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rollout ro_halt00001 already ended \(halted\): cannot pause it/);
    const sc = await stackContext({ globals: { stack: "test" }, projectDir: dir });
    const dash = new DashboardFleet({ ctx: { globals: { stack: "test" }, projectDir: dir }, sc });
    await readBack(async (store) => {
      const refused = await dash.pauseOrAbort(store, "admin", "ro_halt00001", "aborted").catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toBe("rollout ro_halt00001 already ended (halted): cannot abort it");
      expect((await store.getRollout("ro_halt00001"))!.status).toBe("halted");
      const missing = await dash.pauseOrAbort(store, "admin", "ro_none00001", "paused").catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(HttpError);
      expect((missing as HttpError).status).toBe(404);
    });
  });

  it("aborts a paused rollout and records who did it", async () => {
    await seedRollout("ro_wait00001", "paused");
    const r = await fleet("--project", dir, "--stack", "test", "--json", "rollout", "abort", "ro_wait00001");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ rolloutId: "ro_wait00001", status: "aborted" });
    const acts = await readBack((s) => s.listActivities({ stack: "test" }));
    expect(acts.filter((a) => a.action === "rollout.aborted").map((a) => a.message)).toEqual(["aborted on request"]);
    expect((await readBack((s) => s.getRollout("ro_wait00001")))!.status).toBe("aborted");
  });
});

describe("a rollout to a release the source does not have", () => {
  it("is refused before anything is recorded or touched: exit 2 naming the release and the source", async () => {
    const origin = path.join(dir, "origin");
    mkdirSync(origin);
    const git = (...args: string[]) => execFileSync("git", ["-C", origin, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { stdio: "pipe" });
    git("init", "-q");
    git("commit", "-q", "--allow-empty", "-m", "one");
    git("tag", "v1.2.3");
    git("tag", "v1.2.5");
    writeStack({ "fleet:releaseSource": { openclaw: origin } });
    const config = readFileSync(file, "utf8");
    const r = await fleet("--project", dir, "--stack", "test", "rollout", "--to", "v1.2.4", "--allow-downgrade");
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`fleet: --to: v1.2.4 is not a release tag of ${origin} (expected one of v1.2.3, v1.2.5)`);
    // No store at all: no rollout record, no activity; the stack config (the hosts' desired state) untouched.
    expect(existsSync(storePath())).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(config);
    // A tag the source has passes the check (and `fleet plan` shows the same plan without it).
    const plan = await fleet("--project", dir, "--stack", "test", "--json", "plan", "--to", "v1.2.5", "--no-preview");
    expect(plan.code).toBe(0);
    // A rollback to a release the source does not have: the same check, before the store is opened.
    const back = await fleet("--project", dir, "--stack", "test", "rollback", "--runtime", "a1", "--to", "v1.2.2");
    expect(back.code).toBe(2);
    expect(back.stderr.trim()).toBe(`fleet: --to: v1.2.2 is not a release tag of ${origin} (expected one of v1.2.3, v1.2.5)`);
    expect(existsSync(storePath())).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(config);
  });
});

describe("one success rate", () => {
  it("the history page shows a rollout's success rate as the overview does, with runtimes still pending", async () => {
    mkdirSync(path.dirname(storePath()), { recursive: true });
    const store = new LocalFleetStore({ path: storePath() });
    try {
      const ids = ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"];
      await store.createRollout({
        rolloutId: "ro_rate00001",
        stack: "test",
        target: { openclaw: "v1.2.5", runtimeService: "v0.5.0" },
        strategy: "rolling",
        options: {},
        initiatedBy: "ana",
        batches: [ids.slice(0, 4), ids.slice(4)],
        previous: [ids.slice(0, 4).map(() => ({ openclaw: "v1.2.3", runtimeService: "v0.5.0" })), ids.slice(4).map(() => ({ openclaw: "v1.2.3", runtimeService: "v0.5.0" }))],
        status: "running",
        createdAt: 1_800_000_000_000,
      });
      // 3 succeeded, 1 failed, 4 never reached (halted): 75% of those that finished.
      await store.updateRollout("ro_rate00001", {
        runtimeStates: [
          { accountId: "a1", state: "succeeded" },
          { accountId: "a2", state: "succeeded" },
          { accountId: "a3", state: "succeeded" },
          { accountId: "a4", state: "failed", error: "x" },
        ],
        at: 1_800_000_050_000,
      });
      await store.updateRollout("ro_rate00001", { status: "halted", statusReason: "batch failure", at: 1_800_000_100_000 });
      const sc = await stackContext({ globals: { stack: "test" }, projectDir: dir });
      const dash = new DashboardFleet({ ctx: { globals: { stack: "test" }, projectDir: dir }, sc });
      const page = await dash.history(store, {});
      const overview = await store.overview({ stack: "test", recentRollouts: 5 });
      const row = page.rollouts.find((r) => r.rolloutId === "ro_rate00001")!;
      const summary = overview.recentRollouts.find((r) => r.rolloutId === "ro_rate00001")!;
      expect({ successRate: row.successRate, failureRate: row.failureRate }).toEqual({ successRate: 75, failureRate: 25 });
      expect({ successRate: row.successRate, failureRate: row.failureRate }).toEqual({ successRate: summary.successRate, failureRate: summary.failureRate });
    } finally {
      await store.close();
    }
  });
});

describe("resume takes the stack's lease over when its holder is provably gone", () => {
  const T = 1_800_000_000_000;
  const holder = (over: Partial<LockHolder> = {}): LockHolder => ({ pid: 4242, host: "build-7", user: "ci", startedAt: T, rolloutId: "ro_take00001", generation: 3, leaseSeconds: 60, expiresAt: T + 60_000, ...over });
  const at = (over: Partial<Parameters<typeof takeover>[2]> = {}) => ({ host: "build-7", alive: () => true, now: T + 1_000, breakLock: false, rolloutId: "ro_take00001", ...over });

  it("without flags: a holder on this host whose pid is gone, or any holder whose lease expired", () => {
    expect(takeover("prod", holder(), at({ alive: () => false }))).toEqual({ take: true, why: "its process is gone" });
    expect(takeover("prod", holder({ host: "elsewhere" }), at({ now: T + 60_000 }))).toEqual({ take: true, why: "its lease expired at 2027-01-15T08:01:00.000Z" });
  });

  it("refuses a live holder on this host even with --break-lock, naming it", () => {
    expect(takeover("prod", holder(), at({ breakLock: true }))).toEqual({
      take: false,
      refusal: "stack prod is held by ci@build-7 (pid 4242, rollout ro_take00001, generation 3) since 2027-01-15T08:00:00.000Z, lease until 2027-01-15T08:01:00.000Z: it is still running",
    });
  });

  it("a holder on another host with a running lease only with --break-lock, and the refusal says so", () => {
    const refused = takeover("prod", holder({ host: "elsewhere" }), at());
    expect(refused).toMatchObject({ take: false });
    expect((refused as { refusal: string }).refusal).toMatch(/it runs on another host and its lease has not expired; if it is gone, take over with `fleet rollout resume ro_take00001 --break-lock`$/);
    expect(takeover("prod", holder({ host: "elsewhere" }), at({ breakLock: true }))).toEqual({ take: true, why: "--break-lock" });
  });

  it("FLEET_LEASE_SECONDS: a bad value is refused with one line naming it; the default is 60", () => {
    expect(leaseSeconds({})).toBe(60);
    expect(leaseSeconds({ FLEET_LEASE_SECONDS: "6" })).toBe(6);
    expect(() => leaseSeconds({ FLEET_LEASE_SECONDS: "0" })).toThrow('FLEET_LEASE_SECONDS: "0" is not a lease length (expected seconds from 1 to 86400)');
    expect(() => leaseSeconds({ FLEET_LEASE_SECONDS: "1m" })).toThrow(UsageError);
  });

  it("`fleet rollout resume` with a bad FLEET_LEASE_SECONDS exits 2 and changes nothing", async () => {
    await seedRollout("ro_take00002", "paused");
    const before = await readBack((s) => s.getRollout("ro_take00002"));
    process.env.FLEET_LEASE_SECONDS = "-5";
    try {
      const r = await fleet("--project", dir, "--stack", "test", "rollout", "resume", "ro_take00002");
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe('fleet: FLEET_LEASE_SECONDS: "-5" is not a lease length (expected seconds from 1 to 86400)');
    } finally {
      delete process.env.FLEET_LEASE_SECONDS;
    }
    expect(await readBack((s) => s.getRollout("ro_take00002"))).toEqual(before);
  });
});
