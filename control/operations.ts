// The operations between the orchestrator and its callers (the `fleet` CLI and the dashboard):
// plan, start, resume, pause, abort, roll back one runtime and upgrade one. Each holds its guards
// (from store/domain/lifecycle.ts), its lock handling and its activity here, once; the callers
// parse, call and print or answer. Every input is checked before the store is opened, so refused
// input changes nothing, not even a store file.
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { needsStackOutputs, probeTargets } from "../fleet/addresses";
import type { FleetConfig, ResolvedRuntime } from "../fleet/config";
import { isRolloutId } from "../fleet/ids";
import { migratingCrossings, planRollout as planBatches, type RolloutPlan } from "../fleet/plan";
import { formatDuration } from "../fleet/units";
import { isReleaseTag, isSupported, releaseTagProblem } from "../fleet/versions";
import { applyAction, RolloutTransitionError, type RolloutAction } from "../store/domain/lifecycle";
import type { FleetStore, Release, RolloutRecord } from "../store/types";
import { createEngine, engineEnv, probe, type StackContext, type Where } from "./context";
import { processAlive, type ChangeSummary, type StackEngine } from "./engine";
import { OperationError, UsageError } from "./errors";
import type { ProbeTarget } from "./probe";
import { newRolloutId, Orchestrator, refuseActiveRollout, systemClock, type ProgressEvent, type RolloutOutcome, type RolloutSettings } from "./orchestrator";
import { currentHolder, heldBy, Lease, leaseSeconds, takeover } from "./lease";
import { leaseExpired } from "../store/domain/lease";
import { createAnalyzer, type Analyzer } from "./analysis";
import { resolveRolloutOptions, settingsFor, type ResolvedRolloutOptions, type RolloutCliOptions } from "./options";
import { lsRemoteTags, openclawReleases, redactRemote } from "./releases";
import { writeRuntimeVersions } from "./stackConfig";
import { thresholdsOf } from "../fleet/gates";
import { isOnTarget } from "../fleet/health";

/** Who runs an operation, where, and how it reaches the store and reports progress. */
export interface Operator {
  where: Where;
  sc: StackContext;
  /** Opened only once the input has been checked (the CLI opens it lazily; the dashboard has one). */
  store: () => Promise<FleetStore>;
  /** Recorded as the actor of activities and the initiator of rollouts. */
  actor: string;
  /** Said in activities: "on request" (the CLI), "from the dashboard". */
  via: string;
  progress?: (e: ProgressEvent) => void;
  /** The openclaw release tags of a source (the dashboard passes its cache); default `git ls-remote`. */
  releaseTags?: (source: string) => Promise<string[]>;
  /** The canary analysis a rollout with --analysis observe|enforce asks (none: its steps are skipped). */
  analyze?: Analyzer;
}

/** A rollout id, or the rollout given, that is not on this stack: the dashboard answers 404. */
export class RolloutNotFoundError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = "RolloutNotFoundError";
  }
}

// Plans -------------------------------------------------------------------------------------

export interface PreparedRollout {
  fleet: FleetConfig;
  resolved: ResolvedRolloutOptions;
  plan: RolloutPlan;
}

/** What `fleet plan` and the dashboard's "Preview Upgrade Plan" show; bad input throws. */
export function planRollout(sc: StackContext, opts: RolloutCliOptions): PreparedRollout {
  const fleet = sc.loadFleet();
  const resolved = resolveRolloutOptions(opts, fleet);
  const plan = planBatches(fleet.runtimes, resolved.plan);
  return { fleet, resolved, plan };
}

export function describePlan(stack: string, plan: RolloutPlan): string {
  const lines = [
    `${plan.strategy} rollout of ${stack} to openclaw ${plan.target.openclaw}${plan.target.runtimeService ? `, runtime service ${plan.target.runtimeService}` : ""}`,
  ];
  plan.batches.forEach((b, i) => lines.push(`  batch ${i + 1}/${plan.batches.length}${b.kind === "canary" ? " (canary)" : ""}: ${b.accountIds.join(", ")}`));
  for (const s of plan.skipped) lines.push(`  skipped ${s.accountId}: ${s.detail}`);
  lines.push(`  ${Object.keys(plan.moves).length} runtimes, estimated ${formatDuration(plan.estimatedSeconds)}`);
  return lines.join("\n");
}

/** `pulumi preview` against a copy of the stack config with every planned version applied. */
export async function previewPlan(where: Where, sc: StackContext, fleet: FleetConfig, plan: RolloutPlan): Promise<{ ok: boolean; changes: ChangeSummary[]; errors: string[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-plan-"));
  try {
    const copy = path.join(dir, path.basename(sc.configFile));
    copyFileSync(sc.configFile, copy);
    const moved = fleet.runtimes.filter((r) => plan.moves[r.accountId]);
    writeRuntimeVersions(
      copy,
      moved.map((r) => ({ index: r.index, accountId: r.accountId, ...plan.moves[r.accountId]!.to })),
    );
    return await createEngine(where.projectDir, sc.stack).preview(undefined, {}, copy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The target must be one of the release source's tags (when fleet:releaseSource.openclaw is
 * configured): refused here, before anything is recorded or any host touched. A source that
 * cannot be read is not bad input: the host's own checkout still refuses a missing tag.
 */
export async function checkTargetRelease(fleet: FleetConfig, to: string, field: string, tagsOf?: (source: string) => Promise<string[]>): Promise<void> {
  const source = fleet.releaseSource?.openclaw;
  if (!source || !isReleaseTag(to)) return;
  const tags = await (tagsOf ?? defaultTags)(source).catch(() => undefined);
  if (tags && tags.length > 0 && !tags.includes(to)) {
    throw new UsageError(`${field}: ${to} is not a release tag of ${redactRemote(source)} (expected one of ${tags.slice(-10).join(", ")})`);
  }
}

async function defaultTags(source: string): Promise<string[]> {
  return openclawReleases(await lsRemoteTags(source, "fleet:releaseSource.openclaw", { timeoutMs: 20_000 }));
}

// Rollouts ------------------------------------------------------------------------------------

function makeOrchestrator(op: Operator, store: FleetStore): Orchestrator {
  const engine = createEngine(op.where.projectDir, op.sc.stack);
  return new Orchestrator({
    store,
    engine,
    stack: op.sc.stack,
    configFile: op.sc.configFile,
    loadFleet: op.sc.loadFleet,
    probe,
    engineEnv: engineEnv(op.where.projectDir),
    leaseSeconds: leaseSeconds(),
    ...(op.progress ? { progress: op.progress } : {}),
    analyze: op.analyze ?? stackAnalyzer(op, engine),
  });
}

/**
 * The canary analysis of the stack's runtimes: the stack policy's `analysis` settings, each runtime
 * scraped where its probes go (its host, else the stack's `fleetRuntimes` output) on its health port.
 * One analyzer per rollout run, so a runtime of a later batch is held against its own earlier window.
 */
function stackAnalyzer(op: Operator, engine: Pick<StackEngine, "outputs">): Analyzer {
  let where = new Map<string, ProbeTarget>();
  let analyzer: Analyzer | undefined;
  return async (req) => {
    const fleet = op.sc.loadFleet();
    const outputs = needsStackOutputs(fleet.runtimes) ? await engine.outputs().catch(() => null) : null;
    where = new Map(probeTargets(fleet.runtimes, outputs).map((t) => [t.accountId, t]));
    analyzer ??= createAnalyzer({
      policy: fleet.policy.analysis,
      targets: (ids) => ids.flatMap((id) => where.get(id) ?? []),
      clock: systemClock,
    });
    return analyzer(req);
  };
}

/** The settings a recorded rollout runs with when resumed (missing options at their defaults). */
function settingsFromRecord(record: RolloutRecord): RolloutSettings {
  const o = record.options;
  return settingsFor(o.waitSeconds ?? 60, o.bakeMinutes ?? 30, thresholdsOf(o), { analysis: o.analysis ?? "off", analysisWindowSeconds: o.analysisWindowSeconds ?? 0 });
}

/** Refuses (OperationError) while another rollout or a live lease holds the stack. */
async function refuseIfBusy(store: FleetStore, stack: string): Promise<void> {
  await refuseActiveRollout(store, stack);
  const holder = await store.getLock(stack);
  if (holder && !leaseExpired(holder, Date.now())) throw new OperationError(heldBy(stack, holder));
}

export interface StartRequest {
  options: RolloutCliOptions;
  /** Recorded with the rollout's options (the dashboard says "dashboard"). */
  source?: string;
  /** How the target is named in a refusal: `--to` on the CLI, `to` in the form. */
  field?: string;
  /** Checked after the input, before anything is recorded (the dashboard's stale-form check). */
  before?: (prepared: PreparedRollout) => void | Promise<void>;
}

export interface Started {
  rolloutId: string;
  prepared: PreparedRollout;
  /** Settles when the rollout ends (or is refused by the orchestrator). */
  outcome: Promise<RolloutOutcome>;
}

/** Checks everything (options, plan, release), then records the rollout and runs it. */
export async function startRollout(op: Operator, req: StartRequest): Promise<Started> {
  leaseSeconds();
  const prepared = planRollout(op.sc, req.options);
  await checkTargetRelease(prepared.fleet, prepared.plan.target.openclaw, req.field ?? "--to", op.releaseTags);
  await req.before?.(prepared);
  const store = await op.store();
  await refuseIfBusy(store, op.sc.stack);
  const rolloutId = newRolloutId();
  const { resolved, plan } = prepared;
  const outcome = makeOrchestrator(op, store).start({
    rolloutId,
    plan,
    settings: resolved.settings,
    initiatedBy: op.actor,
    ...(resolved.reason ? { reason: resolved.reason } : {}),
    extraOptions: { ...resolved.recorded, ...(req.source ? { source: req.source } : {}) },
  });
  return { rolloutId, prepared, outcome };
}

/** The rollout named (checked as an id first), else the stack's active one. */
export async function findRollout(store: FleetStore, stack: string, id: string | undefined): Promise<RolloutRecord> {
  if (id !== undefined) {
    checkRolloutId(id);
    const r = await store.getRollout(id);
    if (!r || r.stack !== stack) throw new RolloutNotFoundError(`rolloutId: no rollout ${id} on stack ${stack}`);
    return r;
  }
  const active = await store.activeRollout(stack);
  if (!active) throw new OperationError(`stack ${stack} has no rollout in progress`);
  return active;
}

export function checkRolloutId(id: string): void {
  if (!isRolloutId(id)) throw new UsageError(`rolloutId: ${JSON.stringify(id)} is not a rollout id (expected ro_...)`);
}

/** The lifecycle's guard; a refused action is a refused operation (exit 1, HTTP 409), not bad input. */
function guard(record: RolloutRecord, action: RolloutAction) {
  try {
    return applyAction(record, action);
  } catch (err) {
    if (err instanceof RolloutTransitionError) throw new OperationError(err.message);
    throw err;
  }
}

/** Asks the running rollout to pause after its current step, or ends it (abort). */
async function requestStop(op: Operator, id: string | undefined, action: "pause" | "abort") {
  if (id !== undefined) checkRolloutId(id);
  const store = await op.store();
  const record = await findRollout(store, op.sc.stack, id);
  const status = guard(record, action);
  await store.updateRollout(record.rolloutId, { status, statusReason: `${status} by ${op.actor}` });
  await store.appendActivity({ actor: op.actor, action: `rollout.${status}`, stack: op.sc.stack, rolloutId: record.rolloutId, message: `${status} ${op.via}` });
  return { rolloutId: record.rolloutId, status };
}

export const pauseRollout = (op: Operator, id?: string) => requestStop(op, id, "pause");
export const abortRollout = (op: Operator, id?: string) => requestStop(op, id, "abort");

/**
 * Continues a paused or crashed rollout from its record. The stack's lease is taken over without
 * flags when its holder is provably gone (this host, its pid not alive) or its lease expired;
 * a live holder elsewhere only with breakLock (a person who knows it is gone).
 */
export async function resumeRollout(op: Operator, id: string | undefined, opts: { breakLock?: boolean } = {}): Promise<{ rolloutId: string; outcome: Promise<RolloutOutcome> }> {
  if (id !== undefined) checkRolloutId(id);
  leaseSeconds();
  const store = await op.store();
  const record = await findRollout(store, op.sc.stack, id);
  guard(record, "resume");
  const holder = await store.getLock(op.sc.stack);
  if (holder) {
    const may = takeover(op.sc.stack, holder, { host: os.hostname(), alive: processAlive, now: Date.now(), breakLock: Boolean(opts.breakLock), rolloutId: record.rolloutId });
    if (!may.take) throw new OperationError(may.refusal);
    await store.breakLock(op.sc.stack, holder);
    // The gone orchestrator's `pulumi up` may have left the stack locked too.
    await createEngine(op.where.projectDir, op.sc.stack).clearStaleLock();
    await store.appendActivity({ actor: op.actor, action: "rollout.lock-broken", stack: op.sc.stack, rolloutId: record.rolloutId, message: `took over the lease of pid ${holder.pid} on ${holder.host} (${may.why})` });
  }
  await store.appendActivity({ actor: op.actor, action: "rollout.resumed", stack: op.sc.stack, rolloutId: record.rolloutId, message: `resumed ${op.via}` });
  return { rolloutId: record.rolloutId, outcome: makeOrchestrator(op, store).resume(record.rolloutId, settingsFromRecord(record)) };
}

/** Upgrade one runtime (the dashboard's button): a rolling rollout of just that runtime. */
export async function upgradeOne(op: Operator, accountId: string, to: string | undefined, req: Omit<StartRequest, "options"> = {}): Promise<Started> {
  const runtime = runtimeOf(op.sc, accountId);
  let target = to;
  if (target === undefined) {
    const latest = (await (await op.store()).getConfig()).find((e) => e.key === "latest_openclaw_version")?.value;
    if (typeof latest !== "string") throw new UsageError("to: no latest release recorded yet; press Check for Updates first");
    target = latest;
  }
  if (target === runtime.openclaw) throw new UsageError(`to: ${accountId} is already on ${target}`);
  return startRollout(op, {
    ...req,
    options: { to: target, strategy: "rolling", autoRollback: true, runtime: [accountId], reason: `upgrade of ${accountId} ${op.via}` },
  });
}

/** A runtime a running rollout holds is left alone (a restart would read as its upgrade failing). */
export async function refuseIfRolloutRuns(store: FleetStore, stack: string, accountId: string): Promise<void> {
  const active = await store.activeRollout(stack);
  if (active && active.status === "running" && active.batches.some((b) => b.includes(accountId))) {
    throw new OperationError(`${accountId} is part of running rollout ${active.rolloutId}; pause or abort it before restarting`);
  }
}

export interface RollbackRequest {
  runtime: string;
  to?: string;
  runtimeService?: string;
  reason?: string;
}

export interface RollbackResult {
  accountId: string;
  to: Release;
  ok: boolean;
  /** Migrating releases (fleet:policy.migratingReleases) this rollback goes back across. */
  crosses: string[];
  /** The host's own words when it did not go back (e.g. the snapshot a migrating release needs is missing). */
  reason?: string;
}

/**
 * Sets a runtime back to its previous (or a given) version and applies it, under the stack's lock.
 * Across a migrating release the host restores the snapshot of the state of the version it goes
 * back to, or refuses, untouched; then the stack config goes back too, so nothing changed.
 */
export async function rollbackRuntime(op: Operator, req: RollbackRequest): Promise<RollbackResult> {
  const fleet = op.sc.loadFleet();
  const runtime = fleet.runtimes.find((r) => r.accountId === req.runtime);
  if (!runtime) throw new UsageError(`--runtime: ${JSON.stringify(req.runtime)} is not a runtime of stack ${op.sc.stack}`);
  if (req.to !== undefined && !isReleaseTag(req.to)) throw new UsageError(`--to: ${releaseTagProblem(req.to)}`);
  if (req.runtimeService !== undefined && !isReleaseTag(req.runtimeService)) throw new UsageError(`--runtime-service: ${releaseTagProblem(req.runtimeService)}`);
  if (runtime.pin !== undefined) throw new UsageError(`--runtime: ${runtime.accountId} is pinned at ${runtime.pin}; unpin it first`);
  // A given target is checked before the store is opened; the previous one needs the history.
  if (req.to !== undefined) {
    checkRollbackTarget(fleet, runtime, { openclaw: req.to, runtimeService: req.runtimeService ?? runtime.runtimeService });
    // The same check a rollout's target gets: a release the source does not have touches nothing.
    await checkTargetRelease(fleet, req.to, "--to", op.releaseTags);
  }
  const store = await op.store();
  const target = await rollbackTarget(store, op.sc.stack, runtime, req);
  checkRollbackTarget(fleet, runtime, target);
  const active = await store.activeRollout(op.sc.stack);
  if (active) throw new OperationError(`rollout ${active.rolloutId} is ${active.status} on ${op.sc.stack}; abort it before rolling back by hand`);
  const crosses = migratingCrossings({ [runtime.accountId]: { from: runtime, to: target } }, fleet.policy.migratingReleases)
    .filter((c) => c.direction === "back")
    .map((c) => c.release);
  const lease = await Lease.take(store, op.sc.stack, currentHolder(), { seconds: leaseSeconds(), now: Date.now() });
  const holder = lease.holder;
  let failure: unknown;
  try {
    const snapshotNote = crosses.length > 0 ? ` (across migrating ${crosses.join(", ")}: restoring the snapshot of the ${target.openclaw}/${target.runtimeService} state)` : "";
    await store.appendActivity({
      actor: op.actor,
      action: "runtime.rollback",
      stack: op.sc.stack,
      accountId: runtime.accountId,
      message: `rollback ${runtime.accountId} ${runtime.openclaw} -> ${target.openclaw}${snapshotNote}${req.reason ? `: ${req.reason}` : ""}`,
    });
    const startedAt = Date.now();
    const restored = await makeOrchestrator(op, store).restore({ rolloutId: newRolloutId(), previous: { [runtime.accountId]: target } }, [runtime.accountId], req.reason);
    if (restored.has(runtime.accountId)) return { accountId: runtime.accountId, to: target, ok: true, crosses };
    // The host said why (its result line, recorded by the deploy's hook); a refused rollback left
    // the host as it was, so the stack config returns to what the host runs.
    const last = (await store.listUpgrades({ stack: op.sc.stack, accountId: runtime.accountId, limit: 1 })).items[0];
    const reason = last && (last.completedAt ?? 0) >= startedAt ? last.error : undefined;
    if (reason?.endsWith("nothing was changed")) {
      writeRuntimeVersions(op.sc.configFile, [{ index: runtime.index, accountId: runtime.accountId, openclaw: runtime.openclaw, runtimeService: runtime.runtimeService }]);
    }
    return { accountId: runtime.accountId, to: target, ok: false, crosses, ...(reason ? { reason } : {}) };
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    await releaseOrSay(lease, op.sc.stack, holder, failure);
  }
}

/**
 * Releases a lease taken here; when the store cannot be written, says so, with why the operation
 * stopped if it did, rather than hiding that behind the failed release.
 */
async function releaseOrSay(lease: Lease, stack: string, holder: { pid: number; host: string }, cause?: unknown): Promise<void> {
  try {
    await lease.release();
  } catch (e) {
    const why = cause !== undefined ? `${cause instanceof Error ? cause.message : String(cause)}; ` : "";
    throw new OperationError(`${why}the lock of stack ${stack} could not be released (${e instanceof Error ? e.message : String(e)}): the stack stays locked by pid ${holder.pid} on ${holder.host} until the store is writable again and that lock is broken`);
  }
}

function checkRollbackTarget(fleet: FleetConfig, runtime: ResolvedRuntime, target: Release): void {
  if (!isSupported(target.openclaw, fleet.policy.minSupportedOpenclaw)) {
    throw new UsageError(`--to: ${target.openclaw} is below the minimum supported ${fleet.policy.minSupportedOpenclaw}`);
  }
  if (isOnTarget(runtime, target)) {
    throw new UsageError(`--to: ${runtime.accountId} is already on ${target.openclaw}/${target.runtimeService}`);
  }
}

/** --to as given, else the versions this runtime ran before its last successful upgrade. */
async function rollbackTarget(store: FleetStore, stack: string, runtime: ResolvedRuntime, req: { to?: string; runtimeService?: string }): Promise<Release> {
  if (req.to !== undefined) return { openclaw: req.to, runtimeService: req.runtimeService ?? runtime.runtimeService };
  const history = await store.listUpgrades({ stack, accountId: runtime.accountId, limit: 50 });
  const last = history.items.find((e) => e.status === "success" && e.toOpenclaw === runtime.openclaw);
  if (!last) throw new UsageError(`--to: no earlier version of ${runtime.accountId} in its history; pass --to VERSION`);
  return { openclaw: last.fromOpenclaw, runtimeService: req.runtimeService ?? last.fromRuntimeService };
}

function runtimeOf(sc: StackContext, accountId: string): ResolvedRuntime {
  const r = sc.loadFleet().runtimes.find((x) => x.accountId === accountId);
  if (!r) throw new RolloutNotFoundError(`runtime: no runtime ${accountId} on stack ${sc.stack}`);
  return r;
}
