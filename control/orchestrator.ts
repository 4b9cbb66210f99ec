// The rollout orchestrator: a fleet upgrade as a series of targeted `pulumi up` runs, one per
// batch, with the stack config as desired state and the store as the record. Every step is
// recorded before it is acted on, so a crashed or paused rollout resumes from the record.
import os from "node:os";
import type { FleetConfig, ResolvedRuntime } from "../fleet/config";
import { bakeGate, batchGate, failureReason, healthGate, runtimeFailed, thresholdsOf, type BakeProbe, type GateDecision as FleetGateDecision, type GateThresholds, type RuntimeOutcome } from "../fleet/gates";
import type { RolloutPlan } from "../fleet/plan";
import { assessHealth, isOnTarget, judgeHealth, type HealthVerdict } from "../fleet/health";
import { isTerminal } from "../store/domain/lifecycle";
import type { FleetStore, LockHolder, Release, RolloutDetail, RolloutRecord, RolloutStatus, RuntimeObservation, RuntimeRolloutState } from "../store/types";
import type { EngineRunResult, StackEngine } from "./engine";
import { OperationError } from "./errors";
import { healthProbeOf, type ProbeResult, type ProbeTarget } from "./probe";
import { writeRelease, writeRuntimeVersions, type VersionUpdate } from "./stackConfig";
import { deployViaAgents } from "./agentExecutor";
import { describeDeployFailure } from "../components/hooks";

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early when `wake` says so (a pause or abort was requested). */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface RolloutSettings {
  waitSeconds: number;
  bakeMinutes: number;
  thresholds: GateThresholds;
  /** Seconds between the canary's probes during the bake. */
  bakeProbeSeconds: number;
  /** Health gate: seconds between re-checks, and how many before halting. */
  healthRecheckSeconds: number;
  maxHealthWaits: number;
}

export type ProgressEvent =
  | { type: "start"; rolloutId: string; stack: string; target: Release; strategy: string; batches: string[][]; resumed: boolean }
  | { type: "batch"; rolloutId: string; batch: number; batches: number; kind: "canary" | "batch"; accountIds: string[] }
  | { type: "runtime"; rolloutId: string; accountId: string; state: RuntimeRolloutState; detail?: string }
  | { type: "bake"; rolloutId: string; accountIds: string[]; untilMs: number; healthy: boolean }
  | { type: "gate"; rolloutId: string; batch: number; action: string; reason: string }
  | { type: "wait"; rolloutId: string; seconds: number; why: string }
  | { type: "end"; rolloutId: string; status: RolloutStatus; reason: string };

export interface OrchestratorDeps {
  store: FleetStore;
  engine: StackEngine;
  stack: string;
  configFile: string;
  /** Reads and validates the stack config (fresh each time: the file is the desired state). */
  loadFleet: () => FleetConfig;
  probe: (targets: ProbeTarget[]) => Promise<ProbeResult[]>;
  clock?: Clock;
  progress?: (event: ProgressEvent) => void;
  /** Extra environment for engine runs (the post-deploy hooks read the rollout id from it). */
  engineEnv?: Record<string, string>;
  /** How long agent-run runtimes get to report their upgrade (default 600 s). */
  agentTimeoutSeconds?: number;
  holder?: Omit<LockHolder, "startedAt" | "rolloutId">;
}

export interface StartRequest {
  rolloutId: string;
  plan: RolloutPlan;
  settings: RolloutSettings;
  initiatedBy: string;
  reason?: string;
  extraOptions?: Record<string, unknown>;
}

export interface RolloutOutcome {
  rolloutId: string;
  status: RolloutStatus;
  reason: string;
  failed: string[];
}

export function currentHolder(): Omit<LockHolder, "startedAt" | "rolloutId"> {
  return { pid: process.pid, host: os.hostname(), user: os.userInfo().username };
}

/** Refuses (OperationError) while the stack has a rollout that is not over. */
export async function refuseActiveRollout(store: FleetStore, stack: string): Promise<void> {
  const active = await store.activeRollout(stack);
  if (active) {
    throw new OperationError(
      `stack ${stack} already has rollout ${active.rolloutId} (${active.status}, started ${new Date(active.createdAt).toISOString()} by ${active.initiatedBy}); resume or abort it first`,
    );
  }
}

/** Who holds the stack's lock and since when, as every refusal says it. */
export function heldBy(stack: string, h: LockHolder): string {
  return `stack ${stack} is held by ${h.user}@${h.host} (pid ${h.pid}${h.rolloutId ? `, rollout ${h.rolloutId}` : ""}) since ${new Date(h.startedAt).toISOString()}`;
}

export function newRolloutId(now = Date.now()): string {
  return `ro_${now.toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

export class Orchestrator {
  private readonly clock: Clock;
  private readonly emit: (e: ProgressEvent) => void;

  constructor(private readonly deps: OrchestratorDeps) {
    this.clock = deps.clock ?? systemClock;
    this.emit = deps.progress ?? (() => undefined);
  }

  /** Records a new rollout and runs it. Refused (OperationError) while another holds the stack. */
  async start(req: StartRequest): Promise<RolloutOutcome> {
    const { store, stack } = this.deps;
    await refuseActiveRollout(store, stack);
    const runtimeService = req.plan.target.runtimeService;
    if (runtimeService === undefined) throw new OperationError("a rollout needs a target runtime service release");
    const holder = await this.lock(req.rolloutId);
    try {
      const fleet = this.deps.loadFleet();
      const byId = new Map(fleet.runtimes.map((r) => [r.accountId, r]));
      const batches = req.plan.batches.map((b) => b.accountIds);
      await store.createRollout({
        rolloutId: req.rolloutId,
        stack,
        target: { openclaw: req.plan.target.openclaw, runtimeService },
        strategy: req.plan.strategy,
        options: {
          ...settingsToOptions(req.settings),
          ...(req.extraOptions ?? {}),
        },
        initiatedBy: req.initiatedBy,
        ...(req.reason ? { reason: req.reason } : {}),
        batches,
        previous: batches.map((ids) =>
          ids.map((id) => {
            const r = byId.get(id);
            if (!r) throw new OperationError(`runtime ${id} is not in the stack config`);
            return { openclaw: r.openclaw, runtimeService: r.runtimeService };
          }),
        ),
        status: "running",
        createdAt: this.clock.now(),
      });
      await store.appendActivity({
        actor: req.initiatedBy,
        action: "rollout.started",
        stack,
        rolloutId: req.rolloutId,
        message: `${req.plan.strategy} rollout to ${req.plan.target.openclaw} over ${batches.flat().length} runtimes in ${batches.length} batches${req.reason ? `: ${req.reason}` : ""}`,
      });
      return await this.run(req.rolloutId, req.settings, false);
    } catch (e) {
      await this.unlock(holder, req.rolloutId, e);
      throw e;
    } finally {
      await this.unlock(holder, req.rolloutId);
    }
  }

  /** Continues a paused or crashed rollout from its record. */
  async resume(rolloutId: string, settings: RolloutSettings): Promise<RolloutOutcome> {
    const record = await this.deps.store.getRollout(rolloutId);
    if (!record) throw new OperationError(`no rollout ${rolloutId}`);
    if (isTerminal(record.status)) throw new OperationError(`rollout ${rolloutId} already ended (${record.status})`);
    const holder = await this.lock(rolloutId);
    try {
      await this.deps.store.updateRollout(rolloutId, { status: "running", statusReason: "resumed", at: this.clock.now() });
      return await this.run(rolloutId, settings, true);
    } catch (e) {
      await this.unlock(holder, rolloutId, e);
      throw e;
    } finally {
      await this.unlock(holder, rolloutId);
    }
  }

  /**
   * Releases the stack's lock once (a second call does nothing). When the store cannot be written
   * (read-only, gone), the lock stays behind: the error says so, why the rollout stopped if it
   * did, and the one command that takes the lock over once the store is writable again.
   */
  private async unlock(holder: LockHolder, rolloutId: string, cause?: unknown): Promise<void> {
    if (this.released.has(holder)) return;
    this.released.add(holder);
    try {
      await this.deps.store.releaseLock(this.deps.stack, holder);
    } catch (e) {
      const why = cause !== undefined ? `${cause instanceof Error ? cause.message : String(cause)}; ` : "";
      throw new OperationError(
        `${why}the lock of stack ${this.deps.stack} could not be released (${e instanceof Error ? e.message : String(e)}): once the store is writable again, \`fleet rollout resume ${rolloutId} --break-lock\` takes it over`,
      );
    }
  }

  private readonly released = new WeakSet<LockHolder>();

  private async lock(rolloutId: string): Promise<LockHolder> {
    const holder: LockHolder = { ...(this.deps.holder ?? currentHolder()), startedAt: this.clock.now(), rolloutId };
    const got = await this.deps.store.acquireLock(this.deps.stack, holder);
    if (!got.ok) throw new OperationError(heldBy(this.deps.stack, got.holder));
    return holder;
  }

  private async run(rolloutId: string, settings: RolloutSettings, resumed: boolean): Promise<RolloutOutcome> {
    const { store } = this.deps;
    let record = await this.detail(rolloutId);
    this.emit({ type: "start", rolloutId, stack: record.stack, target: record.target, strategy: record.strategy, batches: record.batches, resumed });
    const failedAll = new Set(record.runtimes.filter((r) => r.state === "failed" || r.state === "rolled_back").map((r) => r.accountId));

    for (let b = record.currentBatch; b < record.batches.length; b++) {
      const stop = await this.requestedStop(rolloutId);
      if (stop) return this.finish(rolloutId, stop.status, stop.reason, [...failedAll]);
      const ids = record.batches[b]!;
      const kind: "canary" | "batch" = b === 0 && record.strategy === "canary" ? "canary" : "batch";
      await store.updateRollout(rolloutId, {
        currentBatch: b,
        runtimeStates: ids.map((accountId) => ({ accountId, state: "upgrading" as const })),
        at: this.clock.now(),
      });
      this.emit({ type: "batch", rolloutId, batch: b, batches: record.batches.length, kind, accountIds: ids });
      for (const id of ids) this.emit({ type: "runtime", rolloutId, accountId: id, state: "upgrading" });

      const outcomes = await this.deployBatch(record, ids);
      const processed = record.batches.slice(0, b + 1).flat().length;
      for (const o of outcomes) if (runtimeFailed(o)) failedAll.add(o.accountId);
      let decision = batchGate({ kind, outcomes, processed, failedSoFar: failedAll.size }, settings.thresholds);

      if (decision.action === "continue" && kind === "canary" && settings.bakeMinutes > 0) {
        const healthyIds = outcomes.filter((o) => !runtimeFailed(o)).map((o) => o.accountId);
        decision = await this.bake(record, healthyIds, settings);
        for (const id of decision.failed) failedAll.add(id);
      }
      await this.recordGate(rolloutId, b, decision);
      await this.settleBatch(record, outcomes, decision);
      await this.observe(outcomes);

      if (decision.action === "halt") return this.finish(rolloutId, "halted", decision.reason, [...failedAll]);
      if (decision.action === "pause") return this.finish(rolloutId, "paused", decision.reason, [...failedAll]);

      const last = b === record.batches.length - 1;
      await store.updateRollout(rolloutId, { currentBatch: b + 1, at: this.clock.now() });
      if (!last) {
        const held = await this.betweenBatches(rolloutId, b, settings);
        if (held) return this.finish(rolloutId, held.status, held.reason, [...failedAll]);
      }
      record = await this.detail(rolloutId);
    }
    const failures = failedAll.size;
    // Once every unpinned runtime runs the target, it is the stack's release: the config says
    // what the fleet runs (a rollout of a few runtimes leaves the release alone).
    const target = record.target;
    const onTarget = (r: ResolvedRuntime) => r.pin !== undefined || isOnTarget(r, target);
    if (failures === 0 && this.deps.loadFleet().runtimes.every(onTarget)) writeRelease(this.deps.configFile, target);
    const reason = failures === 0 ? "every runtime upgraded" : `completed with ${failures} failed: ${[...failedAll].join(", ")}`;
    return this.finish(rolloutId, "completed", reason, [...failedAll]);
  }

  /** Writes the batch's target versions into the stack config, then `pulumi up` on the batch. */
  private async deployBatch(record: RolloutDetail, ids: readonly string[]): Promise<RuntimeOutcome[]> {
    const fleet = this.deps.loadFleet();
    const runtimes = ids.map((id) => this.runtimeOf(fleet, id));
    const to = (r: ResolvedRuntime): Release => ({
      openclaw: record.target.openclaw,
      runtimeService: record.target.runtimeService || r.runtimeService,
    });
    return this.apply(record.rolloutId, fleet, runtimes, to, this.engineEnv(record.rolloutId, "upgrade", record.reason), record.initiatedBy);
  }

  /**
   * Moves runtimes to `want` as their executor does it: the stack config is written for all,
   * then `pulumi up` for the Pulumi-run ones and a pending upgrade for the agent-run ones (a
   * runtime is upgraded by one or the other, never both), in parallel; then every one is probed.
   */
  private async apply(
    rolloutId: string,
    fleet: FleetConfig,
    runtimes: readonly ResolvedRuntime[],
    want: (r: ResolvedRuntime) => Release,
    env: Record<string, string>,
    initiatedBy: string,
  ): Promise<RuntimeOutcome[]> {
    writeRuntimeVersions(this.deps.configFile, runtimes.map((r) => versionUpdate(r, want(r))));
    const viaPulumi = runtimes.filter((r) => r.executor !== "agent");
    const viaAgent = runtimes.filter((r) => r.executor === "agent");
    const noRun: EngineRunResult = { ok: true, runtimes: new Map(), generalErrors: [], outputs: {} };
    const [run, agentOutcomes] = await Promise.all([
      viaPulumi.length > 0 ? this.deps.engine.up(viaPulumi, env) : Promise.resolve(noRun),
      this.viaAgents(rolloutId, viaAgent, want, initiatedBy),
    ]);
    const probes = await this.probeRuntimes(fleet, runtimes, run);
    return runtimes.map((r) => {
      const agent = agentOutcomes.get(r.accountId);
      const probe = probes.get(r.accountId);
      return agent ? withProbe(agent, want(r), probe) : outcomeOf(r, want(r), run, probe);
    });
  }

  /** Agent runtimes, grouped by target (a rollback restores each to its own previous versions). */
  private async viaAgents(
    rolloutId: string,
    runtimes: readonly ResolvedRuntime[],
    want: (r: ResolvedRuntime) => Release,
    initiatedBy: string,
  ): Promise<Map<string, RuntimeOutcome>> {
    const groups = new Map<string, ResolvedRuntime[]>();
    for (const r of runtimes) {
      const key = `${want(r).openclaw}/${want(r).runtimeService}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const out = new Map<string, RuntimeOutcome>();
    for (const group of groups.values()) {
      const outcomes = await deployViaAgents(this.deps.store, this.deps.stack, group, want(group[0]!), rolloutId, {
        timeoutMs: (this.deps.agentTimeoutSeconds ?? 600) * 1000,
        clock: this.clock,
        initiatedBy,
      });
      for (const o of outcomes) out.set(o.accountId, o);
    }
    return out;
  }

  /** The canary's bake: probed at intervals; the first bad probe ends it. */
  private async bake(record: RolloutDetail, ids: readonly string[], settings: RolloutSettings): Promise<FleetGateDecision> {
    const until = this.clock.now() + settings.bakeMinutes * 60_000;
    const probes = new Map<string, BakeProbe[]>(ids.map((id) => [id, []]));
    const fleet = this.deps.loadFleet();
    const runtimes = ids.map((id) => this.runtimeOf(fleet, id));
    for (;;) {
      const results = await this.probeRuntimes(fleet, runtimes);
      let healthy = true;
      for (const r of runtimes) {
        const p = results.get(r.accountId);
        // On target means both versions, as after the deploy (not openclaw alone).
        const v = verdict(p, record.target);
        healthy &&= v.healthy;
        probes.get(r.accountId)!.push({ at: this.clock.now(), healthy: v.online, versionMatches: v.onTarget, ...(p?.error ? { error: p.error } : {}) });
      }
      this.emit({ type: "bake", rolloutId: record.rolloutId, accountIds: [...ids], untilMs: until, healthy });
      const decision = bakeGate(ids, probes, { ...settingsThresholds(record), autoRollback: settings.thresholds.autoRollback });
      if (decision.action !== "continue" || this.clock.now() >= until) return decision;
      const stop = await this.requestedStop(record.rolloutId);
      if (stop) return decision; // the loop in run() sees the stop before the next batch
      await this.clock.sleep(Math.min(settings.bakeProbeSeconds * 1000, Math.max(0, until - this.clock.now())));
    }
  }

  /** What the batch showed of each runtime goes to the store as observed state. */
  private async observe(outcomes: readonly RuntimeOutcome[]): Promise<void> {
    const seen = this.lastProbes;
    const observations = outcomes
      .map((o) => seen.get(o.accountId))
      .filter((p): p is ProbeResult => p !== undefined)
      .map((p) => observationOf(this.deps.stack, p));
    if (observations.length > 0) await this.deps.store.upsertRuntimes(observations);
  }

  /** Restores failed runtimes (when the gate says so) and records every runtime's state. */
  private async settleBatch(record: RolloutDetail, outcomes: readonly RuntimeOutcome[], decision: FleetGateDecision): Promise<void> {
    const { store } = this.deps;
    const states: { accountId: string; state: RuntimeRolloutState; error?: string }[] = [];
    for (const o of outcomes) {
      if (!decision.failed.includes(o.accountId) && !runtimeFailed(o)) states.push({ accountId: o.accountId, state: "succeeded" });
    }
    const failed = outcomes.filter((o) => runtimeFailed(o) || decision.failed.includes(o.accountId));
    for (const o of failed) {
      const error = failureReason(o) ?? decision.reason;
      states.push({ accountId: o.accountId, state: "failed", error });
    }
    await store.updateRollout(record.rolloutId, { runtimeStates: states, at: this.clock.now() });
    for (const s of states) this.emit({ type: "runtime", rolloutId: record.rolloutId, accountId: s.accountId, state: s.state, ...(s.error ? { detail: s.error } : {}) });
    if (decision.rollback.length > 0) {
      const restored = await this.restore({ rolloutId: record.rolloutId, previous: previousVersions(record) }, decision.rollback);
      // A host whose deploy failed without its script restoring anything (unreachable, refused
      // before it changed anything) was never touched: it stays "failed" with its own cause.
      const untouched = new Set(outcomes.filter((o) => (o as DeployOutcome).rolledBackOnHost === false).map((o) => o.accountId));
      const marked = decision.rollback.filter((id) => !untouched.has(id));
      await store.updateRollout(record.rolloutId, {
        runtimeStates: marked.map((accountId) =>
          restored.has(accountId)
            ? { accountId, state: "rolled_back" as const }
            : { accountId, state: "failed" as const, error: "rollback did not restore the previous version" },
        ),
        at: this.clock.now(),
      });
      for (const id of marked) {
        this.emit({ type: "runtime", rolloutId: record.rolloutId, accountId: id, state: restored.has(id) ? "rolled_back" : "failed" });
      }
    }
  }

  /** Sets runtimes back to their previous versions in the stack config and applies that. */
  async restore(record: { rolloutId: string; previous: Record<string, Release> }, ids: readonly string[], reason?: string): Promise<Set<string>> {
    const fleet = this.deps.loadFleet();
    const runtimes = ids.map((id) => this.runtimeOf(fleet, id));
    const previous = (r: ResolvedRuntime): Release => {
      const p = record.previous[r.accountId];
      if (!p || !p.openclaw) throw new OperationError(`no previous version recorded for ${r.accountId}`);
      return p;
    };
    const env = this.engineEnv(record.rolloutId, "rollback", reason ?? "automatic rollback");
    const outcomes = await this.apply(record.rolloutId, fleet, runtimes, previous, env, "fleet rollback");
    await this.observe(outcomes);
    return new Set(outcomes.filter((o) => !runtimeFailed(o)).map((o) => o.accountId));
  }

  /** Waits between batches, then holds the next batch until the fleet is healthy enough. */
  private async betweenBatches(rolloutId: string, batch: number, settings: RolloutSettings): Promise<{ status: RolloutStatus; reason: string } | undefined> {
    if (settings.waitSeconds > 0) {
      this.emit({ type: "wait", rolloutId, seconds: settings.waitSeconds, why: "between batches" });
      await this.clock.sleep(settings.waitSeconds * 1000);
    }
    for (let waits = 0; ; waits++) {
      const stop = await this.requestedStop(rolloutId);
      if (stop) return stop;
      const fleet = this.deps.loadFleet();
      const results = await this.probeRuntimes(fleet, fleet.runtimes);
      // Healthy = online and on the versions the stack config says it should run now: the target
      // for the batches done, its old versions for the runtimes not reached yet.
      const healthy = fleet.runtimes.filter((r) => verdict(results.get(r.accountId), r).healthy).length;
      const decision = healthGate({ healthy, total: fleet.runtimes.length, waits, maxWaits: settings.maxHealthWaits }, settings.thresholds);
      if (decision.action !== "continue") await this.recordGate(rolloutId, batch, decision);
      if (decision.action === "continue") return undefined;
      if (decision.action === "halt") return { status: "halted", reason: decision.reason };
      this.emit({ type: "wait", rolloutId, seconds: settings.healthRecheckSeconds, why: decision.reason });
      await this.clock.sleep(settings.healthRecheckSeconds * 1000);
    }
  }

  /** A pause or abort asked for by another process (`fleet rollout pause|abort`, the dashboard). */
  private async requestedStop(rolloutId: string): Promise<{ status: RolloutStatus; reason: string } | undefined> {
    const r = await this.deps.store.getRollout(rolloutId);
    if (r?.status === "paused") return { status: "paused", reason: "paused on request" };
    if (r?.status === "aborted") return { status: "aborted", reason: "aborted on request" };
    return undefined;
  }

  private async recordGate(rolloutId: string, batch: number, d: FleetGateDecision): Promise<void> {
    await this.deps.store.updateRollout(rolloutId, {
      gate: { at: this.clock.now(), batch, decision: d.action === "continue" ? "go" : d.action, reason: d.reason, measures: { failed: d.failed.length, rollback: d.rollback.length } },
      at: this.clock.now(),
    });
    this.emit({ type: "gate", rolloutId, batch, action: d.action === "continue" ? "go" : d.action, reason: d.reason });
  }

  private async finish(rolloutId: string, status: RolloutStatus, reason: string, failed: string[]): Promise<RolloutOutcome> {
    const current = await this.deps.store.getRollout(rolloutId);
    // An abort requested meanwhile wins over a pause or completion we were about to record.
    const final = current?.status === "aborted" ? "aborted" : status;
    await this.deps.store.updateRollout(rolloutId, { status: final, statusReason: reason, at: this.clock.now() });
    await this.deps.store.appendActivity({
      actor: current?.initiatedBy ?? "fleet",
      action: `rollout.${final}`,
      stack: this.deps.stack,
      rolloutId,
      message: reason,
    });
    this.emit({ type: "end", rolloutId, status: final, reason });
    return { rolloutId, status: final, reason, failed };
  }

  private async detail(rolloutId: string): Promise<RolloutDetail> {
    const d = await this.deps.store.getRollout(rolloutId);
    if (!d) throw new OperationError(`rollout ${rolloutId} is not in the store`);
    return d;
  }

  private runtimeOf(fleet: FleetConfig, id: string): ResolvedRuntime {
    const r = fleet.runtimes.find((x) => x.accountId === id);
    if (!r) throw new OperationError(`runtime ${id} is no longer in the stack config`);
    return r;
  }

  /** What the post-deploy hooks in the program record with each result: which rollout, what, why. */
  private engineEnv(rolloutId: string, operation: "upgrade" | "rollback", reason?: string): Record<string, string> {
    return {
      ...(this.deps.engineEnv ?? {}),
      FLEET_ROLLOUT_ID: rolloutId,
      FLEET_OPERATION: operation,
      ...(reason ? { FLEET_REASON: reason } : {}),
    };
  }

  private async probeRuntimes(fleet: FleetConfig, runtimes: readonly ResolvedRuntime[], run?: EngineRunResult): Promise<Map<string, ProbeResult>> {
    const addresses = await this.addresses(fleet, run);
    const targets: ProbeTarget[] = [];
    for (const r of runtimes) {
      const address = addresses.get(r.accountId);
      if (address) targets.push({ accountId: r.accountId, address, port: r.healthPort });
    }
    const results = await this.deps.probe(targets);
    for (const p of results) this.lastProbes.set(p.accountId, p);
    return new Map(results.map((p) => [p.accountId, p]));
  }

  private readonly lastProbes = new Map<string, ProbeResult>();

  private cachedOutputs?: Record<string, unknown>;
  private async addresses(fleet: FleetConfig, run?: EngineRunResult): Promise<Map<string, string>> {
    if (run) this.cachedOutputs = run.outputs;
    const out = new Map<string, string>();
    const needOutputs = fleet.runtimes.some((r) => !r.host);
    if (needOutputs && !this.cachedOutputs) this.cachedOutputs = await this.deps.engine.outputs().catch(() => ({}));
    const fromStack = (this.cachedOutputs?.fleetRuntimes ?? {}) as Record<string, { address?: string }>;
    for (const r of fleet.runtimes) {
      const address = r.host ?? fromStack[r.accountId]?.address;
      if (address) out.set(r.accountId, address);
    }
    return out;
  }
}

/** Each batched runtime's versions before the rollout, as recorded when it was created. */
function previousVersions(record: RolloutDetail): Record<string, Release> {
  const out: Record<string, Release> = {};
  for (const r of record.runtimes) if (r.from) out[r.accountId] = r.from;
  return out;
}

/** A probe as the store's observed state of a runtime (status and score by fleet/health). */
export function observationOf(stack: string, p: ProbeResult): RuntimeObservation {
  const { status, healthScore } = assessHealth({ probe: healthProbeOf(p), now: p.at });
  return {
    stack,
    accountId: p.accountId,
    status,
    healthScore,
    // "last health check" means the last one answered: the offline alert counts from it.
    ...(p.reachable ? { lastHealthCheck: p.at } : {}),
    observedAt: p.at,
    ...(p.version?.openclaw ? { openclawVersion: p.version.openclaw } : {}),
    ...(p.version?.runtimeService ? { runtimeServiceVersion: p.version.runtimeService, dockerImageTag: p.version.runtimeService } : {}),
  };
}

function versionUpdate(r: ResolvedRuntime, v: Release): VersionUpdate {
  return { index: r.index, accountId: r.accountId, openclaw: v.openclaw, runtimeService: v.runtimeService };
}

/** An agent's report, checked against what the runtime itself serves now. */
function withProbe(agent: RuntimeOutcome, want: Release, probe: ProbeResult | undefined): RuntimeOutcome {
  if (!agent.deployed) return agent;
  const v = verdict(probe, want);
  const healthy = v.online;
  const outcome: RuntimeOutcome = { ...agent, healthy, versionMatches: Boolean(agent.versionMatches) && v.onTarget };
  if (!healthy) outcome.error = `unhealthy after the upgrade (${probe?.error ?? "no answer"})`;
  else if (!outcome.versionMatches) outcome.error = agent.error ?? `serves ${probe?.version?.openclaw ?? "?"}/${probe?.version?.runtimeService ?? "?"}`;
  return outcome;
}

/** What a Pulumi deploy showed; `rolledBackOnHost` is known only for a failed deploy. */
type DeployOutcome = RuntimeOutcome & { rolledBackOnHost?: boolean };

function outcomeOf(r: ResolvedRuntime, want: Release, run: EngineRunResult, probe: ProbeResult | undefined): DeployOutcome {
  const engine = run.runtimes.get(r.accountId);
  const deployed = engine ? engine.ok : run.ok;
  const outcome: DeployOutcome = { accountId: r.accountId, deployed };
  if (!deployed) {
    const failure = describeDeployFailure(engine?.errors ?? run.generalErrors);
    outcome.error = failure.error;
    // A failed deploy leaves Pulumi's state on the previous versions, so restoring it is a no-op:
    // the host was rolled back only if its own script says so.
    outcome.rolledBackOnHost = failure.rolledBackOnHost;
    return outcome;
  }
  const v = verdict(probe, want);
  outcome.healthy = v.online;
  outcome.versionMatches = v.onTarget;
  if (!outcome.healthy) outcome.error = `unhealthy after the deploy (${probe?.error ?? "no answer"})`;
  else if (!outcome.versionMatches) {
    outcome.error = `reports ${probe?.version?.openclaw ?? "?"}/${probe?.version?.runtimeService ?? "?"}, expected ${want.openclaw}/${want.runtimeService}`;
  }
  return outcome;
}



function settingsToOptions(s: RolloutSettings) {
  return {
    waitSeconds: s.waitSeconds,
    bakeMinutes: s.bakeMinutes,
    maxBatchFailurePercent: s.thresholds.maxBatchFailurePercent,
    pauseOnFailurePercent: s.thresholds.pauseOnFailurePercent,
    minHealthyPercent: s.thresholds.minHealthyPercent,
    autoRollback: s.thresholds.autoRollback,
  };
}

function settingsThresholds(record: RolloutRecord): GateThresholds {
  return thresholdsOf(record.options);
}

/** A probe judged by fleet/health against what the runtime should run (no probe: not healthy). */
function verdict(p: ProbeResult | undefined, want: Release): HealthVerdict {
  return judgeHealth(p ? healthProbeOf(p) : undefined, want);
}
