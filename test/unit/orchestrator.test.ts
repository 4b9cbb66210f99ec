// The orchestrator's decisions with the engine and the hosts stood in by a simulated fleet
// (no processes): what a rollout deploys, when it halts, pauses, rolls back and resumes.
// The real engine on the lab is exercised in test/e2e/rollout.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseFleetConfig, type FleetConfig, type ResolvedRuntime } from "../../fleet/config";
import { planRollout, type PlanOptions } from "../../fleet/plan";
import { LocalFleetStore } from "../../store/local";
import type { EngineRunResult, StackEngine } from "../../control/engine";
import { Orchestrator, type Clock, type ProgressEvent, type RolloutSettings } from "../../control/orchestrator";
import type { ProbeResult, ProbeTarget } from "../../control/probe";
import { OperationError } from "../../control/errors";
import { LeaseLostError } from "../../control/lease";
import type { AnalysisRequest, Analyzer } from "../../control/analysis";
import type { AnalysisResult } from "../../protocol/analysis";
import { pauseOf } from "../../fleet/steps";
import { rolloutLines, rolloutView } from "../../cli/commands/status";

const N = 10;

function stackYaml(): string {
  return stringify({
    config: {
      "fleet:release": { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
      "fleet:policy": { minSupportedOpenclaw: "v1.1.0", strategy: "canary", batchPercent: 25 },
      "fleet:defaults": { provider: "existing" },
      "fleet:sshPrivateKey": { secure: "v1:abc" },
      "fleet:runtimes": Array.from({ length: N }, (_, i) => ({
        accountId: `r${String(i + 1).padStart(2, "0")}`,
        host: `127.0.0.${11 + i}`,
        openclaw: "v1.2.3",
        runtimeService: "v0.5.0",
        ...(i === 0 ? { canary: true } : {}),
      })),
    },
  });
}

/** Hosts as the fake engine leaves them: a deploy moves a host to its config versions unless it fails. */
class SimFleet implements StackEngine {
  readonly hosts = new Map<string, { openclaw: string; runtimeService: string; upgrades: number }>();
  readonly failDeploy = new Set<string>();
  /** Deploys that fail before the host changes, with this engine error text. */
  readonly neverReached = new Map<string, string>();
  /** Unhealthy on any version other than these (a release that breaks it). */
  readonly breaksOn = new Map<string, string>();
  /** Deploys whose SSH connection drops once after the host upgraded: no result line, and the engine keeps the old state. */
  readonly dropOnce = new Set<string>();
  /** What the engine's state says a host runs, where it differs from the host (after a dropped deploy). */
  readonly stateSays = new Map<string, { openclaw: string; runtimeService: string }>();
  readonly ups: string[][] = [];
  onUp?: (ids: string[]) => Promise<void> | void;

  constructor(private readonly configFile: string) {
    for (let i = 1; i <= N; i++) this.hosts.set(`r${String(i).padStart(2, "0")}`, { openclaw: "v1.2.3", runtimeService: "v0.5.0", upgrades: 0 });
  }

  private config(): FleetConfig {
    const r = parseFleetConfig((parse(readFileSync(this.configFile, "utf8")) as { config: Record<string, unknown> }).config);
    if (!r.ok) throw new Error("bad config in test");
    return r.config;
  }

  async up(targets: readonly Pick<ResolvedRuntime, "accountId" | "provider">[]): Promise<EngineRunResult> {
    const ids = targets.map((t) => t.accountId);
    this.ups.push(ids);
    await this.onUp?.(ids);
    const runtimes = new Map<string, { accountId: string; ok: boolean; deployOps: string[]; errors: string[] }>();
    for (const r of this.config().runtimes.filter((x) => ids.includes(x.accountId))) {
      const host = this.hosts.get(r.accountId)!;
      const state = this.stateSays.get(r.accountId) ?? host;
      // The engine diffs its state against the config; the script on the host diffs the host.
      const changes = state.openclaw !== r.openclaw || state.runtimeService !== r.runtimeService;
      const onHost = host.openclaw !== r.openclaw || host.runtimeService !== r.runtimeService;
      if (changes && this.dropOnce.delete(r.accountId)) {
        this.hosts.set(r.accountId, { openclaw: r.openclaw, runtimeService: r.runtimeService, upgrades: host.upgrades + 1 });
        this.stateSays.set(r.accountId, { openclaw: state.openclaw, runtimeService: state.runtimeService });
        runtimes.set(r.accountId, { accountId: r.accountId, ok: false, deployOps: ["update"], errors: ["error: wait: remote command exited without exit status or exit signal"] });
        continue;
      }
      if (changes) this.stateSays.delete(r.accountId);
      if (changes && !onHost) {
        runtimes.set(r.accountId, { accountId: r.accountId, ok: true, deployOps: ["update"], errors: [] }); // the script's noop
        continue;
      }
      const untouched = this.neverReached.get(r.accountId);
      if (changes && untouched !== undefined) {
        runtimes.set(r.accountId, { accountId: r.accountId, ok: false, deployOps: ["update"], errors: [untouched] });
        continue;
      }
      if (changes && this.failDeploy.has(r.accountId)) {
        runtimes.set(r.accountId, { accountId: r.accountId, ok: false, deployOps: ["update"], errors: ['{"status":"rolled_back","error":"compose pull failed"}'] });
        continue;
      }
      if (changes) this.hosts.set(r.accountId, { openclaw: r.openclaw, runtimeService: r.runtimeService, upgrades: host.upgrades + 1 });
      runtimes.set(r.accountId, { accountId: r.accountId, ok: true, deployOps: changes ? ["update"] : [], errors: [] });
    }
    return { ok: [...runtimes.values()].every((r) => r.ok), runtimes, generalErrors: [], outputs: {} };
  }

  async preview() {
    return { changes: [], ok: true, errors: [] };
  }
  async outputs() {
    return {};
  }
  async clearStaleLock() {}

  probe = async (targets: ProbeTarget[]): Promise<ProbeResult[]> =>
    targets.map((t) => {
      const h = this.hosts.get(t.accountId)!;
      const breaks = this.breaksOn.get(t.accountId);
      const healthy = breaks === undefined || h.openclaw !== breaks;
      return { accountId: t.accountId, at: 0, reachable: true, healthy, latencyMs: 5, version: { openclaw: h.openclaw, runtimeService: h.runtimeService }, ...(healthy ? {} : { error: "/health answered 503" }) };
    });
}

/** The stack config as the orchestrator reads it (fresh each time). */
function fleetOf(configFile: string): FleetConfig {
  const r = parseFleetConfig((parse(readFileSync(configFile, "utf8")) as { config: Record<string, unknown> }).config);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

class FakeClock implements Clock {
  t = 1_800_000_000_000;
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += ms;
  };
}

const settings = (over: Partial<RolloutSettings["thresholds"]> = {}, s: Partial<RolloutSettings> = {}): RolloutSettings => ({
  waitSeconds: 60,
  bakeMinutes: 30,
  bakeProbeSeconds: 60,
  healthRecheckSeconds: 30,
  maxHealthWaits: 3,
  thresholds: { maxBatchFailurePercent: 20, pauseOnFailurePercent: 5, minHealthyPercent: 95, autoRollback: true, ...over },
  ...s,
});

describe("the rollout orchestrator", () => {
  let dir: string;
  let configFile: string;
  let store: LocalFleetStore;
  let sim: SimFleet;
  let clock: FakeClock;
  let events: ProgressEvent[];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "fleet-orch-"));
    configFile = path.join(dir, "Pulumi.test.yaml");
    writeFileSync(configFile, stackYaml());
    store = new LocalFleetStore({ path: path.join(dir, "store.db") });
    sim = new SimFleet(configFile);
    clock = new FakeClock();
    events = [];
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const loadFleet = () => fleetOf(configFile);
  const orchestrator = (holder = { pid: 4242, host: "ci", user: "test" }) =>
    new Orchestrator({ store, engine: sim, stack: "test", configFile, loadFleet, probe: sim.probe, clock, progress: (e) => events.push(e), holder });
  const plan = (o: Partial<PlanOptions> = {}) =>
    planRollout(loadFleet().runtimes, { strategy: "canary", target: { openclaw: "v1.2.5", runtimeService: "v0.5.0" }, batchPercent: 25, minSupportedOpenclaw: "v1.1.0", ...o });
  const start = (id: string, o: Partial<PlanOptions> = {}, s = settings()) =>
    orchestrator().start({ rolloutId: id, plan: plan(o), settings: s, initiatedBy: "ana", reason: "test" });
  const versions = () => Object.fromEntries([...sim.hosts].map(([id, h]) => [id, h.openclaw]));

  it("runs the canary alone, bakes it, then the batches: every runtime on the target, recorded", async () => {
    const out = await start("ro_happy0001");
    expect(out).toMatchObject({ status: "completed", failed: [] });
    expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"], ["r05", "r06", "r07"], ["r08", "r09", "r10"]]);
    expect(new Set(Object.values(versions()))).toEqual(new Set(["v1.2.5"]));
    const record = await store.getRollout("ro_happy0001");
    expect(record).toMatchObject({ status: "completed", currentBatch: 4, counts: { succeeded: 10, failed: 0 }, reason: "test", statusReason: "every runtime upgraded" });
    expect(record!.gates.map((g) => g.decision)).toEqual(["go", "go", "go", "go"]);
    // the stack's release follows the fleet once every runtime runs it
    expect((parse(readFileSync(configFile, "utf8")) as { config: Record<string, { openclaw: string }> }).config["fleet:release"]!.openclaw).toBe("v1.2.5");
    expect(await store.getLock("test")).toBeNull();
    // the bake was probed through its 30 minutes on the injected clock, not slept
    expect(events.filter((e) => e.type === "bake").length).toBeGreaterThanOrEqual(30);
  });

  it("halts when the canary turns unhealthy in the bake: canary restored, nobody else touched", async () => {
    sim.breaksOn.set("r01", "v1.2.5");
    const out = await start("ro_canary001");
    expect(out.status).toBe("halted");
    expect(out.reason).toMatch(/canary failed: r01/);
    expect(sim.ups).toEqual([["r01"], ["r01"]]); // the deploy, then the rollback
    expect(versions()).toEqual(Object.fromEntries([...sim.hosts.keys()].map((id) => [id, "v1.2.3"])));
    const record = await store.getRollout("ro_canary001");
    expect(record!.runtimes.find((r) => r.accountId === "r01")!.state).toBe("rolled_back");
    expect(record!.runtimes.filter((r) => r.state === "pending")).toHaveLength(9);
    expect(loadFleet().runtimes[0]!.openclaw).toBe("v1.2.3"); // config restored too
  });

  it("halts after a batch whose failure rate exceeds --max-batch-failure; later batches untouched", async () => {
    sim.failDeploy.add("r03");
    const out = await start("ro_batch0001", { strategy: "rolling", ramp: [{ count: 4 }] }, settings({ maxBatchFailurePercent: 20 }));
    expect(out.status).toBe("halted");
    expect(out.failed).toEqual(["r03"]);
    expect(sim.ups[0]).toEqual(["r01", "r02", "r03", "r04"]);
    expect(sim.ups.slice(1)).toEqual([["r03"]]); // only the rollback followed
    expect(versions()).toMatchObject({ r01: "v1.2.5", r02: "v1.2.5", r03: "v1.2.3", r04: "v1.2.5", r05: "v1.2.3", r10: "v1.2.3" });
    expect(loadFleet().runtimes.find((r) => r.accountId === "r03")!.openclaw).toBe("v1.2.3");
  });

  it("never marks a host rolled back that its failed deploy never touched (unreachable, state not writable)", async () => {
    sim.neverReached.set("r02", "error: failed to dial 127.0.0.12:2222: after 3 failed attempts: dial tcp 127.0.0.12:2222: connect: connection refused");
    const result = { status: "failed", from: null, to: null, durationMs: 0, error: "state directory /opt/runtime-fleet/state is not writable (Operation not permitted): nothing was changed" };
    sim.neverReached.set("r03", `Process exited with status 1: running "...":\n${JSON.stringify(result)}`);
    sim.failDeploy.add("r04"); // its script restored the previous versions: that one was rolled back
    const out = await start("ro_untouch01", { strategy: "rolling", ramp: [{ count: 4 }] }, settings({ maxBatchFailurePercent: 20 }));
    expect(out.status).toBe("halted");
    const record = await store.getRollout("ro_untouch01");
    const state = (id: string) => record!.runtimes.find((r) => r.accountId === id);
    expect(state("r02")).toMatchObject({ state: "failed", error: "unreachable: no SSH connection to 127.0.0.12:2222 after 3 attempts (connect: connection refused)" });
    expect(state("r03")).toMatchObject({ state: "failed", error: result.error });
    expect(state("r04")).toMatchObject({ state: "rolled_back" });
    const shown = events.filter((e) => e.type === "runtime" && e.state === "rolled_back").map((e) => (e as { accountId: string }).accountId);
    expect(shown).toEqual(["r04"]);
    expect(versions()).toMatchObject({ r02: "v1.2.3", r03: "v1.2.3", r04: "v1.2.3" });
  });

  it("a deploy whose SSH connection dropped after the host upgraded is run once more: the host answers for itself, upgraded once", async () => {
    sim.dropOnce.add("r01");
    const out = await start("ro_dropssh01", {}, settings({}, { bakeMinutes: 0 }));
    expect(out).toMatchObject({ status: "completed", failed: [] });
    expect(sim.ups.slice(0, 2)).toEqual([["r01"], ["r01"]]); // the dropped deploy, then the same one again
    expect(sim.hosts.get("r01")).toMatchObject({ openclaw: "v1.2.5", upgrades: 1 });
    expect(sim.stateSays.size).toBe(0); // the engine's state caught up with the host
    const record = await store.getRollout("ro_dropssh01");
    expect(record!.runtimes.find((r) => r.accountId === "r01")).toMatchObject({ state: "succeeded" });
    expect(loadFleet().runtimes[0]!.openclaw).toBe("v1.2.5");
  });

  it("a dropped deploy whose host then turns unhealthy is rolled back for real: the host serves the old release again", async () => {
    sim.dropOnce.add("r01");
    sim.breaksOn.set("r01", "v1.2.5");
    const out = await start("ro_dropssh02", {}, settings({}, { bakeMinutes: 1 }));
    expect(out.status).toBe("halted");
    expect(sim.hosts.get("r01")).toMatchObject({ openclaw: "v1.2.3" });
    const record = await store.getRollout("ro_dropssh02");
    expect(record!.runtimes.find((r) => r.accountId === "r01")).toMatchObject({ state: "rolled_back" });
    expect(loadFleet().runtimes[0]!.openclaw).toBe("v1.2.3");
  });

  it("a runtime edited by hand in the stack config mid-rollout halts it with one line naming the field; the edit is kept, nobody else deployed", async () => {
    const handEdit = () => {
      const doc = parse(readFileSync(configFile, "utf8")) as { config: { "fleet:runtimes": Array<{ openclaw: string }> } };
      doc.config["fleet:runtimes"][7]!.openclaw = "v1.2.1";
      writeFileSync(configFile, stringify(doc));
    };
    sim.onUp = (ids) => {
      if (ids.includes("r02")) handEdit(); // while batch 1 deploys: the wait after it sees the edit
    };
    const out = await start("ro_handedit1", {}, settings({}, { bakeMinutes: 0 }));
    const line = "fleet:runtimes[7] (r08) changed by hand since the rollout started (expected v1.2.3/v0.5.0 or v1.2.5/v0.5.0, found v1.2.1/v0.5.0); nothing overwritten";
    expect(out).toMatchObject({ status: "halted", reason: line });
    expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"]]);
    expect(loadFleet().runtimes[7]!.openclaw).toBe("v1.2.1");
    expect(sim.hosts.get("r08")).toMatchObject({ openclaw: "v1.2.3", upgrades: 0 });
    expect((await store.getRollout("ro_handedit1"))!.statusReason).toBe(line);
  });

  it("a batch rolled back after one of its runtimes was edited by hand: the others are restored, the edit is kept, and the rollout halts naming it", async () => {
    // r02 and r03 break on the target; while the batch deploys, a person sets r03 to v1.2.4 by hand.
    sim.breaksOn.set("r02", "v1.2.5");
    sim.breaksOn.set("r03", "v1.2.5");
    sim.onUp = (ids) => {
      if (ids.includes("r03") && ids.length === 3) {
        const doc = parse(readFileSync(configFile, "utf8")) as { config: { "fleet:runtimes": Array<{ openclaw: string }> } };
        doc.config["fleet:runtimes"][2]!.openclaw = "v1.2.4";
        writeFileSync(configFile, stringify(doc));
      }
    };
    const out = await start("ro_handedit3", {}, settings({ maxBatchFailurePercent: 50 }, { bakeMinutes: 0 }));
    const edit = "fleet:runtimes[2] (r03) changed by hand since the rollout started (expected v1.2.3/v0.5.0 or v1.2.5/v0.5.0, found v1.2.4/v0.5.0)";
    expect(out).toMatchObject({ status: "halted", reason: `${edit}; the rollback left it as edited` });
    // the batch, then the rollback of r02 alone
    expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"], ["r02"]]);
    expect(loadFleet().runtimes.find((r) => r.accountId === "r03")!.openclaw).toBe("v1.2.4");
    expect(loadFleet().runtimes.find((r) => r.accountId === "r02")!.openclaw).toBe("v1.2.3");
    const record = (await store.getRollout("ro_handedit3"))!;
    expect(record.runtimes.find((r) => r.accountId === "r02")).toMatchObject({ state: "rolled_back" });
    expect(record.runtimes.find((r) => r.accountId === "r03")).toMatchObject({ state: "failed", error: `not rolled back: ${edit}; the edit is kept` });
    expect(record.steps!.find((x) => x.kind === "rollback" && x.batch === 1)).toMatchObject({ state: "done", outcome: "1/2 restored; not rolled back, changed by hand: r03" });
  });

  it("a runtime of the next batch edited by hand after the wait's check: the batch's deploy refuses it before anything is written or run", async () => {
    let armed = false;
    sim.onUp = (ids) => {
      armed ||= ids.includes("r02");
    };
    const probe = sim.probe;
    // The wait after batch 1 probes the whole fleet after its own check: the edit lands then, and
    // 9/10 healthy passes --min-healthy 80%, so the next deploy is the first to see it.
    sim.probe = async (targets) => {
      if (armed && targets.length === N) {
        armed = false;
        const doc = parse(readFileSync(configFile, "utf8")) as { config: { "fleet:runtimes": Array<{ runtimeService: string }> } };
        doc.config["fleet:runtimes"][5]!.runtimeService = "v0.4.9";
        writeFileSync(configFile, stringify(doc));
      }
      return probe(targets);
    };
    const out = await start("ro_handedit2", {}, settings({ minHealthyPercent: 80 }, { bakeMinutes: 0 }));
    expect(out.status).toBe("halted");
    expect(out.reason).toBe("fleet:runtimes[5] (r06) changed by hand since the rollout started (expected v1.2.3/v0.5.0 or v1.2.5/v0.5.0, found v1.2.3/v0.4.9); nothing overwritten");
    expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"]]);
    const r = loadFleet().runtimes;
    expect(r.slice(4, 7).map((x) => `${x.openclaw}/${x.runtimeService}`)).toEqual(["v1.2.3/v0.5.0", "v1.2.3/v0.4.9", "v1.2.3/v0.5.0"]);
    const record = await store.getRollout("ro_handedit2");
    expect(record!.gates.map((g) => g.decision)).toEqual(["go", "go"]); // the wait's health gate passed: the deploy refused
    expect(record!.runtimes.filter((x) => x.state === "pending").map((x) => x.accountId)).toEqual(["r05", "r06", "r07", "r08", "r09", "r10"]);
  });

  it("goes on at --max-batch-failure 30% and reports the one failure at the end", async () => {
    sim.failDeploy.add("r03");
    const out = await start("ro_batch0002", { strategy: "rolling", ramp: [{ count: 4 }] }, settings({ maxBatchFailurePercent: 30, pauseOnFailurePercent: 50 }));
    expect(out).toMatchObject({ status: "completed", failed: ["r03"] });
    expect(out.reason).toMatch(/completed with 1 failed: r03/);
    expect(versions()).toMatchObject({ r03: "v1.2.3", r05: "v1.2.5", r10: "v1.2.5" });
    // one runtime still on the old release: the stack's release is left alone
    expect((parse(readFileSync(configFile, "utf8")) as { config: Record<string, { openclaw: string }> }).config["fleet:release"]!.openclaw).toBe("v1.2.3");
  });

  it("pauses when asked by another process, and resumes without upgrading anyone twice", async () => {
    sim.onUp = async (ids) => {
      if (ids.includes("r05")) await store.updateRollout("ro_pause0001", { status: "paused" });
    };
    const first = await start("ro_pause0001", {}, settings({}, { bakeMinutes: 0 }));
    expect(first.status).toBe("paused");
    expect((await store.getRollout("ro_pause0001"))!.currentBatch).toBe(3);
    sim.onUp = undefined;
    const resumed = await orchestrator().resume("ro_pause0001", settings({}, { bakeMinutes: 0 }));
    expect(resumed.status).toBe("completed");
    expect([...sim.hosts.values()].every((h) => h.upgrades === 1)).toBe(true);
    expect(sim.ups.flat().filter((id) => id === "r02")).toHaveLength(1);
  });

  it("a pause asked for in the canary's bake: resumed, the canary bakes the rest of its 30 minutes before the next batch", async () => {
    let bakeFrom: number | undefined;
    let asked = false;
    const upsAt: number[] = [];
    sim.onUp = () => {
      upsAt.push(clock.now());
    };
    const probe = async (targets: ProbeTarget[]) => {
      if (upsAt.length === 1) bakeFrom ??= clock.now();
      if (bakeFrom !== undefined && !asked && clock.now() >= bakeFrom + 10 * 60_000) {
        asked = true;
        await store.updateRollout("ro_pausebake1", { status: "paused", statusReason: "paused by ana", at: clock.now() });
      }
      return sim.probe(targets);
    };
    const orch = new Orchestrator({ store, engine: sim, stack: "test", configFile, loadFleet, probe, clock, progress: (e) => events.push(e), holder: { pid: 4242, host: "ci", user: "test" } });
    const first = await orch.start({ rolloutId: "ro_pausebake1", plan: plan(), settings: settings({}, { waitSeconds: 0 }), initiatedBy: "ana" });
    expect(first.status).toBe("paused");
    expect(upsAt).toHaveLength(1);
    clock.t += 60 * 60_000; // resumed an hour later
    const resumedAt = clock.now();
    const out = await orch.resume("ro_pausebake1", settings({}, { waitSeconds: 0 }));
    expect(out.status).toBe("completed");
    // the second batch waited for the 20 minutes of bake the pause had left
    expect(upsAt[1]! - resumedAt).toBeGreaterThanOrEqual(20 * 60_000);
    expect(upsAt[1]! - resumedAt).toBeLessThan(21 * 60_000);
  });

  it("a pause asked for during the last batch yields to the rollout's own end: completed, not an error", async () => {
    sim.onUp = async (ids) => {
      if (ids.includes("r10")) await store.updateRollout("ro_pauselast1", { status: "paused", statusReason: "paused by ana" });
    };
    const out = await start("ro_pauselast1", {}, settings({}, { bakeMinutes: 0 }));
    expect(out.status).toBe("completed");
    expect((await store.getRollout("ro_pauselast1"))!.status).toBe("completed");
    expect([...sim.hosts.values()].every((h) => h.openclaw === "v1.2.5")).toBe(true);
  });

  it("a store that cannot be written at the end says the lock stays behind and how to take it over (issue 18 defect 7)", async () => {
    const release = store.releaseLock.bind(store);
    store.releaseLock = async () => {
      throw new Error(`store ${path.join(dir, "store.db")}: attempt to write a readonly database`);
    };
    sim.onUp = async (ids) => {
      if (ids.includes("r02")) throw new Error(`store ${path.join(dir, "store.db")}: disk I/O error`);
    };
    const failed = start("ro_readonly1", {}, settings({}, { bakeMinutes: 0 }));
    await expect(failed).rejects.toThrow(OperationError);
    await expect(failed).rejects.toThrow(
      new RegExp(`disk I/O error; the lock of stack test could not be released \\(store .*store\\.db: attempt to write a readonly database\\): once the store is writable again, \`fleet rollout resume ro_readonly1 --break-lock\` takes it over`),
    );
    // The lock is still there (the store refused to drop it): resume --break-lock is the way on.
    expect((await store.getLock("test"))?.rolloutId).toBe("ro_readonly1");
    store.releaseLock = release;
  });

  it("stops at an abort and never runs another batch", async () => {
    sim.onUp = async (ids) => {
      if (ids.includes("r02")) await store.updateRollout("ro_abort0001", { status: "aborted" });
    };
    const out = await start("ro_abort0001", {}, settings({}, { bakeMinutes: 0 }));
    expect(out.status).toBe("aborted");
    expect(sim.ups).toHaveLength(2);
    await expect(orchestrator().resume("ro_abort0001", settings())).rejects.toThrow(/already ended \(aborted\)/);
  });

  it("holds the next batch while the fleet is unhealthy, then halts", async () => {
    sim.breaksOn.set("r09", "v1.2.3"); // a runtime outside the batch is unhealthy on its current version
    const out = await start("ro_health001", { strategy: "rolling" }, settings({ minHealthyPercent: 95 }, { maxHealthWaits: 2 }));
    expect(out.status).toBe("halted");
    expect(out.reason).toMatch(/fleet health 90% \(9\/10\) is below --min-healthy 95% after 2 checks/);
    expect(sim.ups).toHaveLength(1);
    const gates = (await store.getRollout("ro_health001"))!.gates.map((g) => g.decision);
    expect(gates).toEqual(["go", "wait", "wait", "halt"]);
  });

  it("fleet gate: a runtime answering 200 on the wrong runtime service is not healthy", async () => {
    // r09 is outside the first batch; its host runs a runtime service its config does not say.
    sim.hosts.set("r09", { openclaw: "v1.2.3", runtimeService: "v0.4.0", upgrades: 0 });
    const out = await start("ro_health002", { strategy: "rolling" }, settings({ minHealthyPercent: 95 }, { maxHealthWaits: 1 }));
    expect(out.status).toBe("halted");
    expect(out.reason).toMatch(/fleet health 90% \(9\/10\) is below --min-healthy 95%/);
    expect(sim.ups).toHaveLength(1);
  });

  it("fleet gate: runtimes not reached yet are healthy on their desired (old) versions, not the target", async () => {
    // At --min-healthy 100% every runtime counts: those still on v1.2.3 are on target for now.
    const out = await start("ro_health003", { strategy: "rolling" }, settings({ minHealthyPercent: 100 }, { maxHealthWaits: 1 }));
    expect(out).toMatchObject({ status: "completed", failed: [] });
    const gates = (await store.getRollout("ro_health003"))!.gates.map((g) => g.decision);
    expect(gates).toEqual(["go", "go", "go", "go"]);
  });

  it("bake: on target means both versions; a canary whose runtime service slips back fails the bake", async () => {
    let probes = 0;
    const probe = async (targets: ProbeTarget[]) => {
      const results = await sim.probe(targets);
      // The deploy check (first probe) sees both versions; from then on r01 serves the old runtime service.
      if (probes++ > 0) return results.map((p) => (p.accountId === "r01" ? { ...p, version: { openclaw: "v1.2.5", runtimeService: "v0.5.0" } } : p));
      return results;
    };
    const orch = new Orchestrator({ store, engine: sim, stack: "test", configFile, loadFleet, probe, clock, progress: (e) => events.push(e), holder: { pid: 4242, host: "ci", user: "test" } });
    const p = planRollout(loadFleet().runtimes, { strategy: "canary", target: { openclaw: "v1.2.5", runtimeService: "v0.6.0" }, batchPercent: 25, minSupportedOpenclaw: "v1.1.0" });
    const out = await orch.start({ rolloutId: "ro_bake00001", plan: p, settings: settings(), initiatedBy: "ana" });
    expect(out.status).toBe("halted");
    expect(out.reason).toMatch(/canary failed: r01: wrong version during the bake/);
    expect(sim.ups[0]).toEqual(["r01"]);
    expect(sim.ups.flat().filter((id) => id !== "r01")).toEqual([]);
  });

  it("refuses a second rollout on the stack, naming the holder and since when", async () => {
    await store.acquireLock("test", { pid: 999, host: "build-7", user: "ci", startedAt: 1_800_000_000_000, rolloutId: "ro_other0001" });
    await expect(start("ro_second001")).rejects.toThrow(
      new OperationError("stack test is held by ci@build-7 (pid 999, rollout ro_other0001, generation 1) since 2027-01-15T08:00:00.000Z"),
    );
    expect(sim.ups).toEqual([]);
  });

  it("refuses while a paused rollout waits on the stack", async () => {
    sim.onUp = async () => {
      await store.updateRollout("ro_first0001", { status: "paused" });
    };
    await start("ro_first0001", {}, settings({}, { bakeMinutes: 0 }));
    await expect(start("ro_second002")).rejects.toThrow(/already has rollout ro_first0001 \(paused/);
  });
});

describe("the step machine: resumed from the record, fenced by the lease, analysed", () => {
  let dir: string;
  let configFile: string;
  let store: LocalFleetStore;
  let sim: SimFleet;
  let clock: FakeClock;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "fleet-steps-"));
    configFile = path.join(dir, "Pulumi.test.yaml");
    writeFileSync(configFile, stackYaml());
    clock = new FakeClock();
    // The store's clock is the rollout's clock: a pause is measured on the same time line.
    store = new LocalFleetStore({ path: path.join(dir, "store.db"), now: () => clock.now() });
    sim = new SimFleet(configFile);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const loadFleet = () => fleetOf(configFile);
  const orchestrator = (over: Partial<ConstructorParameters<typeof Orchestrator>[0]> = {}, probe = sim.probe) =>
    new Orchestrator({ store, engine: sim, stack: "test", configFile, loadFleet, probe, clock, holder: { pid: 4242, host: "ci", user: "test" }, ...over });
  const plan = (o: Partial<PlanOptions> = {}) =>
    planRollout(loadFleet().runtimes, { strategy: "canary", target: { openclaw: "v1.2.5", runtimeService: "v0.5.0" }, batchPercent: 25, minSupportedOpenclaw: "v1.1.0", ...o });
  const stepOf = async (id: string, kind: string, batch = 0) => (await store.getRollout(id))!.steps!.find((s) => s.kind === kind && s.batch === batch)!;
  const MIN = 60_000;

  it("a rollout that died 20 minutes into a 30-minute bake bakes the 10 minutes left when resumed, from the recorded end", async () => {
    let died = false;
    let bakeStart = 0;
    const dying = async (targets: ProbeTarget[]) => {
      const bake = (await store.getRollout("ro_crash0001"))?.steps?.find((s) => s.kind === "bake");
      if (bake) bakeStart = bake.startedAt;
      if (bake && !died && clock.now() >= bake.startedAt + 20 * MIN) {
        died = true;
        throw new Error("killed");
      }
      return sim.probe(targets);
    };
    await expect(orchestrator({}, dying).start({ rolloutId: "ro_crash0001", plan: plan(), settings: settings(), initiatedBy: "ana" })).rejects.toThrow("killed");
    expect(await store.getRollout("ro_crash0001")).toMatchObject({ status: "running", stepIndex: 1 });
    expect(await stepOf("ro_crash0001", "bake")).toMatchObject({ state: "running", until: bakeStart + 30 * MIN });
    clock.t = bakeStart + 20 * MIN;
    const out = await orchestrator({ holder: { pid: 5151, host: "ci", user: "test" } }).resume("ro_crash0001", settings());
    expect(out.status).toBe("completed");
    const bake = await stepOf("ro_crash0001", "bake");
    expect(bake).toMatchObject({ state: "done", startedAt: bakeStart, until: bakeStart + 30 * MIN, endedAt: bakeStart + 30 * MIN });
    // the canary was deployed once: the resumed rollout went on with the bake, not the deploy
    expect(sim.ups.filter((ids) => ids.includes("r01"))).toHaveLength(1);
    expect(sim.hosts.get("r01")!.upgrades).toBe(1);
  });

  it("a pause stops a timed step's clock: status says why, since when and what is left; resumed, it runs that much more", async () => {
    let asked = false;
    const pausing = async (targets: ProbeTarget[]) => {
      const bake = (await store.getRollout("ro_pause0002"))?.steps?.find((s) => s.kind === "bake");
      if (bake && !asked && clock.now() >= bake.startedAt + 10 * MIN) {
        asked = true;
        await store.updateRollout("ro_pause0002", { status: "paused", statusReason: "paused by ana@laptop" });
      }
      return sim.probe(targets);
    };
    const first = await orchestrator({}, pausing).start({ rolloutId: "ro_pause0002", plan: plan(), settings: settings(), initiatedBy: "ana" });
    expect(first).toMatchObject({ status: "paused", reason: "paused by ana@laptop" });
    const paused = (await store.getRollout("ro_pause0002"))!;
    const bake = await stepOf("ro_pause0002", "bake");
    expect(paused.pausedAt).toBe(bake.startedAt + 10 * MIN);
    expect(pauseOf(paused)).toEqual({ reason: "paused by ana@laptop", since: bake.startedAt + 10 * MIN, remainingSeconds: 20 * 60 });
    const view = rolloutView(paused);
    expect(view).toMatchObject({ pause: { reason: "paused by ana@laptop", since: bake.startedAt + 10 * MIN, remainingSeconds: 1200 }, step: { kind: "bake", state: "running" } });
    const text = rolloutLines(paused, bake.startedAt + 70 * MIN).join("\n");
    expect(text).toContain(`paused since ${new Date(bake.startedAt + 10 * MIN).toISOString()} (1h ago): paused by ana@laptop; 20m left of its bake when resumed`);
    expect(text).toContain("step: bake batch 1/4 (running until");
    // An hour later it is resumed: the bake runs the 20 minutes it had left, from then.
    clock.t = bake.startedAt + 70 * MIN;
    const out = await orchestrator().resume("ro_pause0002", settings());
    expect(out.status).toBe("completed");
    expect(await stepOf("ro_pause0002", "bake")).toMatchObject({ state: "done", until: bake.startedAt + 90 * MIN, endedAt: bake.startedAt + 90 * MIN });
    expect((await store.getRollout("ro_pause0002"))!.pausedAt).toBeUndefined();
  });

  it("a wait between batches is not restarted by a resume: it ends at its recorded time", async () => {
    let died = false;
    sim.onUp = (ids) => {
      if (ids.includes("r05") && !died) {
        died = true;
        throw new Error("killed");
      }
    };
    const s = settings({}, { bakeMinutes: 0, waitSeconds: 600 });
    await expect(orchestrator().start({ rolloutId: "ro_wait00001", plan: plan(), settings: s, initiatedBy: "ana" })).rejects.toThrow("killed");
    // died in the deploy of batch 3: the wait after batch 2 ended at its recorded time
    const wait = await stepOf("ro_wait00001", "wait", 1);
    expect(wait.endedAt).toBe(wait.until);
    expect(wait.until! - wait.startedAt).toBe(600_000);
    expect(await stepOf("ro_wait00001", "deploy", 2)).toMatchObject({ state: "running" });
    const out = await orchestrator({ holder: { pid: 5151, host: "ci", user: "test" } }).resume("ro_wait00001", s);
    expect(out.status).toBe("completed");
    // the half-applied batch was finished: every host upgraded exactly once
    expect([...sim.hosts.values()].every((h) => h.upgrades === 1)).toBe(true);
  });

  it("a stale orchestrator stops at its next write after a takeover, with one line, and touches no host after it", async () => {
    sim.onUp = async (ids) => {
      if (!ids.includes("r02")) return;
      // Meanwhile another process found this one gone and took the stack's lease over.
      expect(await store.breakLock("test", { pid: 4242, host: "ci" })).toBe(true);
      expect(await store.acquireLock("test", { pid: 5151, host: "other", user: "bob", startedAt: clock.now(), rolloutId: "ro_stale0001", leaseSeconds: 60 })).toMatchObject({ ok: true, holder: { generation: 2 } });
    };
    const s = settings({}, { bakeMinutes: 0 });
    const stale = orchestrator().start({ rolloutId: "ro_stale0001", plan: plan(), settings: s, initiatedBy: "ana" });
    await expect(stale).rejects.toThrow(LeaseLostError);
    await expect(stale).rejects.toThrow(
      "the lease of stack test (generation 1, pid 4242, rollout ro_stale0001) was taken over to generation 2 (bob@other, pid 5151): this orchestrator stopped and touched no host after that",
    );
    expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"]]);
    // Its refused write left the record as its successor found it, and the lease with the successor.
    const record = (await store.getRollout("ro_stale0001"))!;
    expect(record).toMatchObject({ status: "running", generation: 1 });
    expect(record.steps!.find((x) => x.kind === "deploy" && x.batch === 1)).toMatchObject({ state: "running" });
    expect(await store.getLock("test")).toMatchObject({ pid: 5151, generation: 2 });
    // The successor finishes the rollout; nobody was upgraded twice.
    sim.onUp = undefined;
    const out = await orchestrator({ holder: { pid: 5151, host: "other", user: "bob" } }).resume("ro_stale0001", s);
    expect(out.status).toBe("completed");
    expect([...sim.hosts.values()].every((h) => h.upgrades === 1)).toBe(true);
    expect((await store.getRollout("ro_stale0001"))!.generation).toBe(2);
  });

  describe("the canary analysis (a fake analyzer)", () => {
    const result = (req: AnalysisRequest, decision: AnalysisResult["decision"], reason = "error rate as the control's"): AnalysisResult => ({
      at: req.windowEnd,
      batch: req.batch,
      mode: req.mode,
      windowStart: req.windowStart,
      windowEnd: req.windowEnd,
      canary: req.canary,
      control: req.controlCandidates.slice(0, 3),
      metrics: [],
      score: decision === "go" ? 96 : 20,
      verdict: decision === "go" ? "pass" : "fail",
      decision,
      reason,
    });
    const analysed = (mode: "observe" | "enforce", window = 0, bakeMinutes = 30) => settings({}, { bakeMinutes, analysis: mode, analysisWindowSeconds: window });

    it("runs over the canary's bake, then analysisWindowSeconds after each later batch; observe records it and acts on nothing", async () => {
      const asked: AnalysisRequest[] = [];
      const analyze: Analyzer = async (req) => {
        asked.push(req);
        clock.t = Math.max(clock.t, req.windowEnd);
        return result(req, req.batch === 0 ? "halt" : "go");
      };
      const out = await orchestrator({ analyze }).start({ rolloutId: "ro_observe01", plan: plan(), settings: analysed("observe", 60), initiatedBy: "ana" });
      expect(out.status).toBe("completed");
      const bake = await stepOf("ro_observe01", "bake");
      expect(asked[0]).toMatchObject({ batch: 0, mode: "observe", canary: ["r01"], windowStart: bake.startedAt, windowEnd: bake.until });
      expect(asked[0]!.controlCandidates).toEqual(["r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10"]);
      expect(asked.slice(1).map((r) => [r.batch, r.windowEnd - r.windowStart, r.controlCandidates.length])).toEqual([
        [1, 60_000, 6],
        [2, 60_000, 3],
        [3, 60_000, 0],
      ]);
      const canary = await stepOf("ro_observe01", "analysis", 0);
      expect(canary).toMatchObject({ state: "done", outcome: "observed halt (score 20): error rate as the control's" });
      expect((await stepOf("ro_observe01", "analysis", 3)).analysis).toMatchObject({ decision: "go", batch: 3 });
      expect(new Set([...sim.hosts.values()].map((h) => h.openclaw))).toEqual(new Set(["v1.2.5"]));
    });

    it("enforce: a halt decision halts the canary's gate and rolls the canary back", async () => {
      const analyze: Analyzer = async (req) => result(req, "halt", "error rate 4x the control's (p=0.001)");
      const out = await orchestrator({ analyze }).start({ rolloutId: "ro_enforce01", plan: plan(), settings: analysed("enforce"), initiatedBy: "ana" });
      expect(out).toMatchObject({ status: "halted", reason: "canary analysis: error rate 4x the control's (p=0.001)" });
      expect(sim.ups).toEqual([["r01"], ["r01"]]);
      expect(sim.hosts.get("r01")).toMatchObject({ openclaw: "v1.2.3" });
      const record = (await store.getRollout("ro_enforce01"))!;
      expect(record.runtimes.find((r) => r.accountId === "r01")!.state).toBe("rolled_back");
      expect(record.gates.at(-1)).toMatchObject({ batch: 0, decision: "halt" });
    });

    it("a canary that fails its bake is rolled back at once, not after its analysis window", async () => {
      let probes = 0;
      // healthy at its deploy, unhealthy from the bake's second probe on
      const degrading = async (targets: ProbeTarget[]) => (await sim.probe(targets)).map((p) => (p.accountId === "r01" && probes++ >= 2 ? { ...p, healthy: false, error: "/health answered 503" } : p));
      const analyze: Analyzer = () => new Promise<AnalysisResult>(() => undefined); // still sampling
      const out = await orchestrator({ analyze }, degrading).start({ rolloutId: "ro_enforce03", plan: plan(), settings: analysed("enforce"), initiatedBy: "ana" });
      expect(out.status).toBe("halted");
      expect(out.reason).toMatch(/canary failed: r01: unhealthy during the bake|canary failed: r01: \/health answered 503 during the bake/);
      expect(sim.ups).toEqual([["r01"], ["r01"]]);
      expect(await stepOf("ro_enforce03", "analysis", 0)).toMatchObject({ state: "skipped", outcome: "the canary failed its bake before the window ended" });
    });

    /** An analyzer that samples until its rollout stops it (its signal), as createAnalyzer does. */
    const untilStopped = (seen: AnalysisRequest[], onAsk?: (req: AnalysisRequest) => Promise<void>): Analyzer => async (req) => {
      seen.push(req);
      await onAsk?.(req);
      return new Promise<AnalysisResult>((_, reject) => req.signal!.addEventListener("abort", () => reject(new Error("stopped")), { once: true }));
    };

    it("a pause asked for in an analysis window without a bake is taken within healthRecheckSeconds; resumed, the analysis keeps its recorded window", async () => {
      const seen: AnalysisRequest[] = [];
      let pausedAt = 0;
      let abortedAt = 0;
      const pausing = untilStopped(seen, async (req) => {
        if (req.batch === 1) {
          pausedAt = clock.now();
          req.signal!.addEventListener("abort", () => (abortedAt = clock.now()), { once: true });
          await store.updateRollout("ro_anpause01", { status: "paused", statusReason: "paused by ana", at: clock.now() });
        }
      });
      const first = await orchestrator({ analyze: async (req) => (req.batch === 0 ? result(req, "go") : pausing(req)) }).start({ rolloutId: "ro_anpause01", plan: plan(), settings: analysed("enforce", 600, 0), initiatedBy: "ana" });
      expect(first).toMatchObject({ status: "paused", reason: "paused by ana" });
      expect(seen.map((r) => r.batch)).toEqual([1]);
      expect(seen[0]!.signal!.aborted).toBe(true);
      // seen at the first recheck (healthRecheckSeconds), not at the window's end ten minutes on
      expect(abortedAt - pausedAt).toBe(30_000);
      expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"]]);
      const running = await stepOf("ro_anpause01", "analysis", 1);
      expect(running).toMatchObject({ state: "running" });

      await store.updateRollout("ro_anpause01", { status: "running", at: clock.now() });
      const asked: AnalysisRequest[] = [];
      const out = await orchestrator({ analyze: async (req) => (asked.push(req), result(req, "go")) }).resume("ro_anpause01", analysed("enforce", 600, 0));
      expect(out.status).toBe("completed");
      expect(asked[0]).toMatchObject({ batch: 1, windowStart: running.startedAt, windowEnd: running.until });
      expect(await stepOf("ro_anpause01", "analysis", 1)).toMatchObject({ state: "done", outcome: "decided go (score 96): error rate as the control's" });
      expect(sim.ups.flat().filter((id) => id === "r02")).toHaveLength(1);
    });

    it("a store that cannot be read during an analysis window stops the rollout with its error, and the analysis with it", async () => {
      const seen: AnalysisRequest[] = [];
      const getRollout = store.getRollout.bind(store);
      const failing = untilStopped(seen, async (req) => {
        if (req.batch === 1) store.getRollout = async () => Promise.reject(new Error("store unavailable: connection refused"));
      });
      const run = orchestrator({ analyze: async (req) => (req.batch === 0 ? result(req, "go") : failing(req)) }).start({ rolloutId: "ro_anfail001", plan: plan(), settings: analysed("enforce", 600, 0), initiatedBy: "ana" });
      await expect(run).rejects.toThrow("store unavailable: connection refused");
      store.getRollout = getRollout;
      expect(seen.map((r) => r.batch)).toEqual([1]);
      expect(seen[0]!.signal!.aborted).toBe(true);
    });

    it("a pause asked for in the canary's bake stops its analysis too; resumed, both go on to their recorded end", async () => {
      const seen: AnalysisRequest[] = [];
      let probes = 0;
      const probe = async (targets: ProbeTarget[]) => {
        if (++probes === 4) await store.updateRollout("ro_anpause02", { status: "paused", statusReason: "paused by ana", at: clock.now() });
        return sim.probe(targets);
      };
      const first = await orchestrator({ analyze: untilStopped(seen) }, probe).start({ rolloutId: "ro_anpause02", plan: plan(), settings: analysed("enforce"), initiatedBy: "ana" });
      expect(first.status).toBe("paused");
      expect(seen).toHaveLength(1);
      expect(seen[0]!.signal!.aborted).toBe(true);
      const bake = await stepOf("ro_anpause02", "bake");
      expect(bake).toMatchObject({ state: "running" });
      expect(await stepOf("ro_anpause02", "analysis", 0)).toMatchObject({ state: "running", until: bake.until });

      await store.updateRollout("ro_anpause02", { status: "running", at: clock.now() });
      const asked: AnalysisRequest[] = [];
      const out = await orchestrator({ analyze: async (req) => (asked.push(req), result(req, "go")) }).resume("ro_anpause02", analysed("enforce"));
      expect(out.status).toBe("completed");
      expect(asked[0]).toMatchObject({ batch: 0, windowStart: bake.startedAt, windowEnd: bake.until });
    });

    it("enforce: a pause decision pauses the rollout with the analysis's reason; go goes on", async () => {
      const analyze: Analyzer = async (req) => result(req, req.batch === 1 ? "pause" : "go", "latency p99 marginal against the control");
      const out = await orchestrator({ analyze }).start({ rolloutId: "ro_enforce02", plan: plan(), settings: analysed("enforce", 120, 0), initiatedBy: "ana" });
      expect(out).toMatchObject({ status: "paused", reason: "canary analysis: latency p99 marginal against the control" });
      expect(sim.ups).toEqual([["r01"], ["r02", "r03", "r04"]]);
      expect(pauseOf((await store.getRollout("ro_enforce02"))!)).toMatchObject({ reason: "canary analysis: latency p99 marginal against the control" });
    });
  });
});
