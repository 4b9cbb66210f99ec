// The rollout orchestrator: a fleet upgrade as a series of targeted `pulumi up` runs, one per
// batch, with the stack config as desired state and the store as the record. It takes the
// stack's lease, records the run, and hands it to the step machine (control/steps.ts), which
// reads the record, does the next step and records it, so a crashed or paused rollout continues
// from the record. The host work (deploy, restore, probe) lives here, in Hosts.
import { needsStackOutputs, probeTargets } from "../fleet/addresses";
import type { FleetConfig, ResolvedRuntime } from "../fleet/config";
import { runtimeFailed, type GateThresholds, type RuntimeOutcome } from "../fleet/gates";
import type { RolloutPlan } from "../fleet/plan";
import { assessHealth, judgeHealth, type HealthVerdict } from "../fleet/health";
import { resumedUntil, TIMED_STEPS } from "../fleet/steps";
import type { AnalysisMode } from "../protocol/analysis";
import { isTerminal } from "../store/domain/lifecycle";
import type { FleetStore, Release, RolloutDetail, RolloutStatus, RuntimeObservation, RuntimeRolloutState } from "../store/types";
import type { Analyzer } from "./analysis";
import type { EngineRunResult, StackEngine } from "./engine";
import { OperationError } from "./errors";
import { currentHolder, DEFAULT_LEASE_SECONDS, heldBy, Lease, LeaseLostError, type HolderId } from "./lease";
import { healthProbeOf, type ProbeResult, type ProbeTarget } from "./probe";
import { StepMachine } from "./steps";
import { checkRuntimeVersions, handEditedRuntimes, writeRuntimeVersions, type VersionExpectation, type VersionUpdate } from "./stackConfig";
import { deployViaAgents } from "./agentExecutor";
import { describeDeployFailure } from "../components/hooks";

export { currentHolder, heldBy };

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts (its timer cleared: nothing is left pending). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    }),
};

export interface RolloutSettings {
  waitSeconds: number;
  bakeMinutes: number;
  thresholds: GateThresholds;
  /** Seconds between the canary's probes during the bake (and between stop checks in a wait). */
  bakeProbeSeconds: number;
  /** Health gate: seconds between re-checks, and how many before halting. */
  healthRecheckSeconds: number;
  maxHealthWaits: number;
  /** The canary analysis (off unless given) and its window for batches without a bake. */
  analysis?: AnalysisMode;
  analysisWindowSeconds?: number;
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
  holder?: HolderId;
  /** The lease's length (FLEET_LEASE_SECONDS; default 60); the heartbeat renews it every third. */
  leaseSeconds?: number;
  /** The canary analysis (issue 15); without it no analysis step runs. */
  analyze?: Analyzer;
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

/** Refuses (OperationError) while the stack has a rollout that is not over. */
export async function refuseActiveRollout(store: FleetStore, stack: string): Promise<void> {
  const active = await store.activeRollout(stack);
  if (active) {
    throw new OperationError(
      `stack ${stack} already has rollout ${active.rolloutId} (${active.status}, started ${new Date(active.createdAt).toISOString()} by ${active.initiatedBy}); resume or abort it first`,
    );
  }
}

export function newRolloutId(now = Date.now()): string {
  return `ro_${now.toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

export class Orchestrator {
  private readonly clock: Clock;
  private readonly emit: (e: ProgressEvent) => void;
  readonly hosts: Hosts;

  constructor(private readonly deps: OrchestratorDeps) {
    this.clock = deps.clock ?? systemClock;
    this.emit = deps.progress ?? (() => undefined);
    this.hosts = new Hosts(deps, this.clock);
  }

  /** Records a new rollout and runs it. Refused (OperationError) while another holds the stack. */
  async start(req: StartRequest): Promise<RolloutOutcome> {
    const { store, stack } = this.deps;
    await refuseActiveRollout(store, stack);
    const runtimeService = req.plan.target.runtimeService;
    if (runtimeService === undefined) throw new OperationError("a rollout needs a target runtime service release");
    const lease = await this.takeLease(req.rolloutId);
    return this.holding(lease, req.rolloutId, async () => {
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
        generation: lease.generation,
      });
      await store.appendActivity({
        actor: req.initiatedBy,
        action: "rollout.started",
        stack,
        rolloutId: req.rolloutId,
        message: `${req.plan.strategy} rollout to ${req.plan.target.openclaw} over ${batches.flat().length} runtimes in ${batches.length} batches${req.reason ? `: ${req.reason}` : ""}`,
      });
      return await this.machine(lease, req.settings, req.rolloutId).run(false);
    });
  }

  /**
   * Continues a paused or crashed rollout from its record. A timed step a pause stopped runs what
   * it had left at the pause; one a crash stopped keeps its recorded end.
   */
  async resume(rolloutId: string, settings: RolloutSettings): Promise<RolloutOutcome> {
    const record = await this.deps.store.getRollout(rolloutId);
    if (!record) throw new OperationError(`no rollout ${rolloutId}`);
    if (isTerminal(record.status)) throw new OperationError(`rollout ${rolloutId} already ended (${record.status})`);
    const lease = await this.takeLease(rolloutId);
    return this.holding(lease, rolloutId, async () => {
      const machine = this.machine(lease, settings, rolloutId);
      const now = this.clock.now();
      const pausedAt = record.status === "paused" ? record.pausedAt : undefined;
      await machine.write({ status: "running", statusReason: "resumed", at: now });
      for (const s of record.steps ?? []) {
        if (s.state !== "running" || !TIMED_STEPS.includes(s.kind)) continue;
        const until = resumedUntil(s, now, pausedAt);
        if (until !== undefined && until !== s.until) await machine.write({ step: { ...s, until }, at: now });
      }
      return await machine.run(true);
    });
  }

  private machine(lease: Lease, settings: RolloutSettings, rolloutId: string): StepMachine {
    return new StepMachine({ ...this.deps, clock: this.clock, emit: this.emit, hosts: this.hosts, lease, settings, rolloutId });
  }

  private async takeLease(rolloutId: string): Promise<Lease> {
    return Lease.take(this.deps.store, this.deps.stack, this.deps.holder ?? currentHolder(), {
      rolloutId,
      seconds: this.deps.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
      now: this.clock.now(),
    });
  }

  /** Runs `fn` under the lease and releases it after, whatever happened. */
  private async holding(lease: Lease, rolloutId: string, fn: () => Promise<RolloutOutcome>): Promise<RolloutOutcome> {
    let out: RolloutOutcome;
    try {
      out = await fn();
    } catch (e) {
      await this.unlock(lease, rolloutId, e);
      throw e;
    }
    await this.unlock(lease, rolloutId);
    return out;
  }

  /**
   * Releases the stack's lease. When the store cannot be written (read-only, gone), the lease
   * stays behind until it expires: the error says so, why the rollout stopped if it did, and the
   * one command that takes it over once the store is writable again.
   */
  private async unlock(lease: Lease, rolloutId: string, cause?: unknown): Promise<void> {
    if (cause instanceof LeaseLostError) return;
    try {
      await lease.release();
    } catch (e) {
      const why = cause !== undefined ? `${cause instanceof Error ? cause.message : String(cause)}; ` : "";
      throw new OperationError(
        `${why}the lock of stack ${this.deps.stack} could not be released (${e instanceof Error ? e.message : String(e)}): once the store is writable again, \`fleet rollout resume ${rolloutId} --break-lock\` takes it over`,
      );
    }
  }

  /** Sets runtimes back to their previous versions in the stack config and applies that. */
  async restore(record: { rolloutId: string; previous: Record<string, Release> }, ids: readonly string[], reason?: string): Promise<Set<string>> {
    return this.hosts.restore(record, ids, reason);
  }
}

/** The orchestrator's hands: what touches the stack config, the engine, the agents and the probes. */
export class Hosts {
  private readonly lastProbes = new Map<string, ProbeResult>();
  private cachedOutputs?: Record<string, unknown>;

  constructor(
    private readonly deps: OrchestratorDeps,
    private readonly clock: Clock,
  ) {}

  loadFleet(): FleetConfig {
    return this.deps.loadFleet();
  }

  /** Writes the batch's target versions into the stack config, then `pulumi up` on the batch. */
  async deployBatch(record: RolloutDetail, ids: readonly string[]): Promise<DeployOutcome[]> {
    const fleet = this.deps.loadFleet();
    const runtimes = ids.map((id) => runtimeOf(fleet, id));
    const to = (r: ResolvedRuntime): Release => ({
      openclaw: record.target.openclaw,
      runtimeService: record.target.runtimeService || r.runtimeService,
    });
    const expected = rolloutWrote(record);
    return this.apply(record.rolloutId, fleet, runtimes, to, this.engineEnv(record.rolloutId, "upgrade", record.reason), record.initiatedBy, (r) => expected(r.accountId));
  }

  /**
   * Refuses (StackConfigConflict) when a runtime of the rollout holds, in the stack config,
   * versions the rollout neither found there nor wrote: a person changed it by hand.
   */
  refuseHandEdits(record: RolloutDetail): void {
    checkRuntimeVersions(this.deps.configFile, this.expectations(record, record.runtimes.map((r) => r.accountId)), SINCE_START);
  }

  /** The runtimes among `ids` changed by hand in the stack config since the rollout started, each with its one line. */
  handEdits(record: RolloutDetail, ids: readonly string[]): Map<string, string> {
    return handEditedRuntimes(this.deps.configFile, this.expectations(record, ids), SINCE_START);
  }

  /** What the stack config may hold for each of these runtimes of the rollout: the versions it found there, or the target it wrote. */
  private expectations(record: RolloutDetail, ids: readonly string[]): VersionExpectation[] {
    const expected = rolloutWrote(record);
    const wanted = new Set(ids);
    return this.deps.loadFleet().runtimes.filter((r) => wanted.has(r.accountId)).map((r) => ({ index: r.index, accountId: r.accountId, expected: expected(r.accountId) }));
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
    expected?: (r: ResolvedRuntime) => Release[],
  ): Promise<DeployOutcome[]> {
    writeRuntimeVersions(this.deps.configFile, runtimes.map((r) => ({ ...versionUpdate(r, want(r)), ...(expected ? { expected: expected(r) } : {}) })), SINCE_START);
    const viaPulumi = runtimes.filter((r) => r.executor !== "agent");
    const viaAgent = runtimes.filter((r) => r.executor === "agent");
    const noRun: EngineRunResult = { ok: true, runtimes: new Map(), generalErrors: [], outputs: {} };
    const [run, agentOutcomes] = await Promise.all([
      viaPulumi.length > 0 ? this.upAnswered(viaPulumi, env) : Promise.resolve(noRun),
      this.viaAgents(rolloutId, viaAgent, want, initiatedBy),
    ]);
    const probes = await this.probeRuntimes(fleet, runtimes, run);
    return runtimes.map((r) => {
      const agent = agentOutcomes.get(r.accountId);
      const probe = probes.get(r.accountId);
      return agent ? withProbe(agent, want(r), probe) : outcomeOf(r, want(r), run, probe);
    });
  }

  /**
   * `pulumi up` on the runtimes, once more for those whose deploy failed without the on-host
   * script's result line (the connection was lost mid-run). Pulumi kept their old state, so a
   * rollback would be a no-op while the host may well be on the new versions: the second run sees
   * the diff again, and the script, under its lock, finds the host on target and hands over its
   * earlier result (a noop, never a second upgrade) or does the upgrade it never started.
   */
  private async upAnswered(runtimes: readonly ResolvedRuntime[], env: Record<string, string>): Promise<EngineRunResult> {
    const run = await this.deps.engine.up(runtimes, env);
    const lost = runtimes.filter((r) => {
      const e = run.runtimes.get(r.accountId);
      if (!e || e.ok) return false;
      const f = describeDeployFailure(e.errors);
      return !f.answered && !f.unreachable;
    });
    if (lost.length === 0) return run;
    const again = await this.deps.engine.up(lost, env);
    const merged = new Map(run.runtimes);
    for (const r of lost) {
      const e = again.runtimes.get(r.accountId);
      if (e) merged.set(r.accountId, e);
    }
    return {
      ok: [...merged.values()].every((e) => e.ok),
      runtimes: merged,
      generalErrors: again.generalErrors,
      outputs: Object.keys(again.outputs).length > 0 ? again.outputs : run.outputs,
      ...(run.timings ? { timings: run.timings } : {}),
    };
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

  /** What the batch showed of each runtime goes to the store as observed state. */
  async observe(ids: readonly string[]): Promise<void> {
    const observations = ids
      .map((id) => this.lastProbes.get(id))
      .filter((p): p is ProbeResult => p !== undefined)
      .map((p) => observationOf(this.deps.stack, p));
    if (observations.length > 0) await this.deps.store.upsertRuntimes(observations);
  }

  /** Sets runtimes back to their previous versions in the stack config and applies that. */
  async restore(record: { rolloutId: string; previous: Record<string, Release> }, ids: readonly string[], reason?: string): Promise<Set<string>> {
    const fleet = this.deps.loadFleet();
    const runtimes = ids.map((id) => runtimeOf(fleet, id));
    const previous = (r: ResolvedRuntime): Release => {
      const p = record.previous[r.accountId];
      if (!p || !p.openclaw) throw new OperationError(`no previous version recorded for ${r.accountId}`);
      return p;
    };
    const env = this.engineEnv(record.rolloutId, "rollback", reason ?? "automatic rollback");
    const outcomes = await this.apply(record.rolloutId, fleet, runtimes, previous, env, "fleet rollback");
    await this.observe(outcomes.map((o) => o.accountId));
    return new Set(outcomes.filter((o) => !runtimeFailed(o)).map((o) => o.accountId));
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

  async probeRuntimes(fleet: FleetConfig, runtimes: readonly ResolvedRuntime[], run?: EngineRunResult): Promise<Map<string, ProbeResult>> {
    const results = await this.deps.probe(probeTargets(runtimes, await this.stackOutputs(runtimes, run)));
    for (const p of results) this.lastProbes.set(p.accountId, p);
    return new Map(results.map((p) => [p.accountId, p]));
  }

  /** The stack's outputs for droplet addresses: the last run's, else read once (and only when a runtime needs them). */
  private async stackOutputs(runtimes: readonly ResolvedRuntime[], run?: EngineRunResult): Promise<Record<string, unknown> | undefined> {
    if (run) this.cachedOutputs = run.outputs;
    if (needsStackOutputs(runtimes) && !this.cachedOutputs) this.cachedOutputs = await this.deps.engine.outputs().catch(() => ({}));
    return this.cachedOutputs;
  }
}

export function runtimeOf(fleet: FleetConfig, id: string): ResolvedRuntime {
  const r = fleet.runtimes.find((x) => x.accountId === id);
  if (!r) throw new OperationError(`runtime ${id} is no longer in the stack config`);
  return r;
}

const SINCE_START = "the rollout started";

/** What the rollout expects each of its runtimes to hold in the stack config: the versions it found there, or the target it wrote. */
function rolloutWrote(record: RolloutDetail): (accountId: string) => Release[] {
  const previous = previousVersions(record);
  return (id) => {
    const from = previous[id];
    if (!from) return [];
    return [from, { openclaw: record.target.openclaw, runtimeService: record.target.runtimeService || from.runtimeService }];
  };
}

/** Each batched runtime's versions before the rollout, as recorded when it was created. */
export function previousVersions(record: RolloutDetail): Record<string, Release> {
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
export type DeployOutcome = RuntimeOutcome & { rolledBackOnHost?: boolean };

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
    ...(s.analysis !== undefined && s.analysis !== "off" ? { analysis: s.analysis, analysisWindowSeconds: s.analysisWindowSeconds ?? 0 } : {}),
  };
}

/** A probe judged by fleet/health against what the runtime should run (no probe: not healthy). */
export function verdict(p: ProbeResult | undefined, want: Release): HealthVerdict {
  return judgeHealth(p ? healthProbeOf(p) : undefined, want);
}
