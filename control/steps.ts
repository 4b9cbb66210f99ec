// The rollout's step machine: a reconcile loop over the steps recorded in the rollout. Each turn
// reads the record, asks fleet/steps.ts for the next step, does it and records it, so a resumed
// rollout continues where the record says: a timed step (bake, analysis, wait) keeps its recorded
// end, a half-applied deploy is run again (the hosts answer for themselves through the on-host
// script's result ids), an ended step is not repeated. Every write carries the lease's
// generation; a write refused because a successor took over stops the machine before it
// touches another host (LeaseLostError).
import { batchGate, bakeGate, failureReason, healthGate, type BakeProbe, type GateDecision, type RuntimeOutcome } from "../fleet/gates";
import { isOnTarget } from "../fleet/health";
import type { ResolvedRuntime } from "../fleet/config";
import { deployIndex, nextStep, planSteps, type PlannedStep, type StepState } from "../fleet/steps";
import type { AnalysisResult } from "../protocol/analysis";
import { MAX_MESSAGE } from "../protocol/fields";
import type { RolloutDetail, RolloutPatch, RolloutRecord, RolloutRuntimeState, RolloutStatus, RolloutStep, RuntimeRolloutState } from "../store/types";
import { thresholdsOf } from "../fleet/gates";
import type { Analyzer } from "./analysis";
import { OperationError } from "./errors";
import type { Lease } from "./lease";
import { previousVersions, runtimeOf, verdict, type Clock, type Hosts, type OrchestratorDeps, type ProgressEvent, type RolloutOutcome, type RolloutSettings } from "./orchestrator";
import { StackConfigConflict, writeRelease } from "./stackConfig";

export interface MachineDeps extends OrchestratorDeps {
  clock: Clock;
  emit: (e: ProgressEvent) => void;
  hosts: Hosts;
  lease: Lease;
  settings: RolloutSettings;
  rolloutId: string;
}

type Stop = { status: RolloutStatus; reason: string };
/** How long a stopped analysis is given to let go: more than a scrape's timeout (control/analysis.ts, 3 s). */
const ANALYSIS_GRACE_MS = 5_000;

/** What an analysis came to: its result, or why there is none. */
type AnalysisOutcome = { result?: AnalysisResult; error?: string };

/** What a step leads to: the plan index of the next step, or the rollout's end (or pause). */
type Then = { next: number } | { stop: Stop };

const line = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 1)}…` : s);
const failedState = (s: RuntimeRolloutState) => s === "failed" || s === "rolled_back";

export class StepMachine {
  private plan: PlannedStep[] = [];

  constructor(private readonly d: MachineDeps) {}

  private get now(): number {
    return this.d.clock.now();
  }

  /** A write to the rollout, fenced by this orchestrator's generation. */
  async write(patch: RolloutPatch): Promise<RolloutRecord> {
    this.d.lease.check();
    try {
      return await this.d.store.updateRollout(this.d.rolloutId, { ...patch, generation: this.d.lease.generation });
    } catch (e) {
      return await this.d.lease.explain(e);
    }
  }

  private async detail(): Promise<RolloutDetail> {
    const r = await this.d.store.getRollout(this.d.rolloutId);
    if (!r) throw new OperationError(`rollout ${this.d.rolloutId} is not in the store`);
    return r;
  }

  async run(resumed: boolean): Promise<RolloutOutcome> {
    let record = await this.detail();
    const { settings } = this.d;
    this.d.emit({ type: "start", rolloutId: record.rolloutId, stack: record.stack, target: record.target, strategy: record.strategy, batches: record.batches, resumed });
    this.plan = planSteps({
      batches: record.batches.length,
      canary: record.strategy === "canary",
      bakeSeconds: settings.bakeMinutes * 60,
      waitSeconds: settings.waitSeconds,
      analysis: settings.analysis ?? "off",
      analysisWindowSeconds: settings.analysisWindowSeconds ?? 0,
    });
    // A record from before the steps were recorded resumes at its batch's deploy.
    let cursor = record.stepIndex ?? (record.currentBatch >= record.batches.length ? this.plan.length - 1 : deployIndex(this.plan, record.currentBatch));
    for (;;) {
      const next = nextStep(this.plan, cursor, record.steps ?? []);
      if (next === null) return this.finish(record, "completed", "every step done");
      // Between batches a pause or abort asked for by another process takes effect.
      if (next.planned.kind === "deploy" || next.planned.kind === "wait") {
        const stop = await this.requestedStop();
        if (stop) return this.finish(record, stop.status, stop.reason);
      }
      const then = await this.step(next.planned, next.index, next.recorded, record);
      record = await this.detail();
      if ("stop" in then) return this.finish(record, then.stop.status, then.stop.reason);
      cursor = then.next;
    }
  }

  private step(planned: PlannedStep, index: number, recorded: RolloutStep | undefined, record: RolloutDetail): Promise<Then> {
    switch (planned.kind) {
      case "deploy":
        return this.deploy(planned, index, recorded, record);
      case "bake":
        return this.bake(planned, index, recorded, record);
      case "analysis":
        return this.analysisAlone(planned, index, recorded, record);
      case "gate":
        return this.gate(planned, index, record);
      case "rollback":
        return this.rollback(planned, index, recorded, record);
      case "wait":
        return this.wait(planned, index, recorded, record);
      case "done":
        return this.done(planned, index, record);
    }
  }

  /** Records the step as running (a running one is resumed as recorded) with the rest of `patch`. */
  private async begin(planned: PlannedStep, recorded: RolloutStep | undefined, patch: Omit<RolloutPatch, "step"> = {}, over: Partial<RolloutStep> = {}): Promise<RolloutStep> {
    if (recorded?.state === "running") {
      if (Object.keys(patch).length > 0) await this.write({ ...patch, at: this.now });
      return recorded;
    }
    const at = this.now;
    const step: RolloutStep = { kind: planned.kind, batch: planned.batch, state: "running", startedAt: at, ...(planned.seconds !== undefined ? { until: at + planned.seconds * 1000 } : {}), ...over };
    await this.write({ ...patch, step, at });
    return step;
  }

  private async end(step: RolloutStep, state: StepState, outcome: string, next: number, patch: Omit<RolloutPatch, "step" | "stepIndex"> = {}, over: Partial<RolloutStep> = {}): Promise<void> {
    const at = this.now;
    await this.write({ ...patch, step: { ...step, ...over, state, endedAt: at, outcome: line(outcome) }, stepIndex: next, at });
  }

  private batchRows(record: RolloutDetail, b: number): RolloutRuntimeState[] {
    const ids = new Set(record.batches[b] ?? []);
    return record.runtimes.filter((r) => ids.has(r.accountId));
  }

  private recordedStep(record: RolloutDetail, kind: RolloutStep["kind"], batch: number): RolloutStep | undefined {
    return (record.steps ?? []).find((s) => s.kind === kind && s.batch === batch);
  }

  // Steps ---------------------------------------------------------------------------------------

  /** Writes the batch's versions into the stack config and runs `pulumi up` on it (again, if a crash cut it short). */
  private async deploy(planned: PlannedStep, index: number, recorded: RolloutStep | undefined, record: RolloutDetail): Promise<Then> {
    const b = planned.batch;
    const ids = record.batches[b]!;
    const kind: "canary" | "batch" = b === 0 && record.strategy === "canary" ? "canary" : "batch";
    const edited = this.handEdit(record);
    if (edited) return { stop: edited };
    const step = await this.begin(planned, recorded, { currentBatch: b, runtimeStates: ids.map((accountId) => ({ accountId, state: "upgrading" as const })) });
    this.d.emit({ type: "batch", rolloutId: record.rolloutId, batch: b, batches: record.batches.length, kind, accountIds: ids });
    for (const id of ids) this.d.emit({ type: "runtime", rolloutId: record.rolloutId, accountId: id, state: "upgrading" });
    let outcomes;
    try {
      outcomes = await this.d.hosts.deployBatch(record, ids);
    } catch (e) {
      // An edit made since the check above: the write refused it before anything was deployed.
      if (!(e instanceof StackConfigConflict)) throw e;
      await this.end(step, "failed", e.message, index, { runtimeStates: ids.map((accountId) => ({ accountId, state: "pending" as const })) });
      return { stop: { status: "halted", reason: e.message } };
    }
    const states = outcomes.map((o) => {
      const why = failureReason(o);
      return why === undefined ? { accountId: o.accountId, state: "succeeded" as const } : { accountId: o.accountId, state: "failed" as const, error: why };
    });
    // Hosts whose failed deploy never touched them: a rollback leaves them "failed" with their own cause.
    const untouched = outcomes.filter((o) => o.rolledBackOnHost === false).map((o) => o.accountId);
    const failed = states.filter((s) => s.state === "failed").length;
    await this.end(step, "done", `${ids.length - failed}/${ids.length} deployed`, index + 1, { runtimeStates: states }, untouched.length > 0 ? { accountIds: untouched } : {});
    await this.d.hosts.observe(ids);
    return { next: index + 1 };
  }

  /** The canary's bake, probed at intervals until its recorded end; the canary analysis runs over the same window. */
  private async bake(planned: PlannedStep, index: number, recorded: RolloutStep | undefined, record: RolloutDetail): Promise<Then> {
    const withAnalysis = this.plan[index + 1];
    const after = withAnalysis?.kind === "analysis" && withAnalysis.withBake ? index + 2 : index + 1;
    // A canary that failed its deploy halts at the gate: nothing to bake or analyse.
    const failed = this.batchRows(record, planned.batch).filter((r) => failedState(r.state));
    if (failed.length > 0) {
      const at = this.now;
      const skip = (kind: "bake" | "analysis") => ({ kind, batch: planned.batch, state: "skipped" as const, startedAt: at, endedAt: at, outcome: `the canary failed its deploy: ${failed.map((r) => r.accountId).join(", ")}` });
      if (after === index + 2) await this.write({ step: skip("analysis"), at });
      await this.write({ step: skip("bake"), stepIndex: after, at });
      return { next: after };
    }
    const step = await this.begin(planned, recorded);
    const until = step.until ?? this.now;
    let analysis: { step: RolloutStep; result: Promise<AnalysisOutcome>; stop: AbortController } | undefined;
    let next = index + 1;
    if (withAnalysis?.kind === "analysis" && withAnalysis.withBake) {
      next = index + 2;
      const recordedAnalysis = this.recordedStep(record, "analysis", planned.batch);
      if (recordedAnalysis?.state !== "done" && recordedAnalysis?.state !== "skipped") {
        const aStep = await this.begin(withAnalysis, recordedAnalysis, {}, { startedAt: step.startedAt, until });
        const stop = new AbortController();
        analysis = { step: aStep, result: this.analyse(record, planned.batch, aStep, stop.signal), stop };
      }
    }
    const healthy = this.batchRows(record, planned.batch).filter((r) => !failedState(r.state)).map((r) => r.accountId);
    const baked = await this.bakeLoop(record, healthy, until).catch(async (e: unknown) => {
      // the rollout stops on this error: its analysis stops with it
      if (analysis) await this.giveUp(analysis);
      throw e;
    });
    // A pause or abort leaves the bake (and its analysis) running in the record: resumed, both go
    // on to their recorded end. The analyzer stops sampling now: nothing outlives the stop.
    if ("stop" in baked) {
      if (analysis) await this.giveUp(analysis);
      return { stop: baked.stop };
    }
    const d = baked.decision;
    await this.end(step, d.action === "continue" ? "done" : "failed", d.reason, index + 1, {}, d.failed.length > 0 ? { accountIds: d.failed } : {});
    // A canary that failed its bake is rolled back now: its analysis is not waited for.
    if (analysis && d.action !== "continue") {
      await this.giveUp(analysis);
      await this.end(analysis.step, "skipped", "the canary failed its bake before the window ended", next);
    } else if (analysis) await this.endAnalysis({ step: analysis.step, ...(await analysis.result) }, next);
    else if (next !== index + 1) await this.write({ stepIndex: next, at: this.now });
    return { next };
  }

  private async bakeLoop(record: RolloutDetail, ids: readonly string[], until: number): Promise<{ decision: GateDecision } | { stop: Stop }> {
    const probes = new Map<string, BakeProbe[]>(ids.map((id) => [id, []]));
    const fleet = this.d.hosts.loadFleet();
    const runtimes = ids.map((id) => runtimeOf(fleet, id));
    for (;;) {
      const results = await this.d.hosts.probeRuntimes(fleet, runtimes);
      let healthy = true;
      for (const r of runtimes) {
        const p = results.get(r.accountId);
        // On target means both versions, as after the deploy (not openclaw alone).
        const v = verdict(p, record.target);
        healthy &&= v.healthy;
        probes.get(r.accountId)!.push({ at: this.now, healthy: v.online, versionMatches: v.onTarget, ...(p?.error ? { error: p.error } : {}) });
      }
      this.d.emit({ type: "bake", rolloutId: record.rolloutId, accountIds: [...ids], untilMs: until, healthy });
      const decision = bakeGate(ids, probes, thresholdsOf(record.options));
      if (decision.action !== "continue" || this.now >= until) return { decision };
      const stop = await this.requestedStop();
      if (stop) return { stop };
      await this.d.clock.sleep(Math.min(this.d.settings.bakeProbeSeconds * 1000, Math.max(0, until - this.now)));
    }
  }

  /**
   * An analysis step of its own (a batch without a bake): over analysisWindowSeconds from its
   * recorded start. A pause or abort asked for meanwhile is seen within healthRecheckSeconds, as in
   * a wait: the analyzer stops, and the step stays running in the record (resumed, it analyses
   * until its recorded end).
   */
  private async analysisAlone(planned: PlannedStep, index: number, recorded: RolloutStep | undefined, record: RolloutDetail): Promise<Then> {
    const step = await this.begin(planned, recorded);
    const stop = new AbortController();
    const result = this.analyse(record, planned.batch, step, stop.signal);
    for (;;) {
      const tick = new AbortController();
      const settled = await Promise.race([result, this.d.clock.sleep(this.d.settings.healthRecheckSeconds * 1000, tick.signal).then(() => undefined)]);
      tick.abort();
      if (settled !== undefined) {
        await this.endAnalysis({ step, ...settled }, index + 1);
        return { next: index + 1 };
      }
      const requested = await this.requestedStop().catch(async (e: unknown) => {
        await this.giveUp({ result, stop });
        throw e;
      });
      if (requested) {
        await this.giveUp({ result, stop });
        return { stop: requested };
      }
    }
  }

  /**
   * Stops an analysis that is no longer wanted and waits for it to let go (createAnalyzer does within
   * one scrape's timeout), at most ANALYSIS_GRACE_MS: an analyzer deaf to its signal does not hold the rollout.
   */
  private async giveUp(a: { result: Promise<AnalysisOutcome>; stop: AbortController }): Promise<void> {
    a.stop.abort();
    const grace = new AbortController();
    await Promise.race([a.result, this.d.clock.sleep(ANALYSIS_GRACE_MS, grace.signal)]);
    grace.abort();
  }

  /** Asks the analyzer about the batch's upgraded runtimes against those still on the old release (never rejects). */
  private async analyse(record: RolloutDetail, b: number, step: RolloutStep, signal: AbortSignal): Promise<AnalysisOutcome> {
    const analyze: Analyzer | undefined = this.d.analyze;
    const mode = this.d.settings.analysis ?? "off";
    if (analyze === undefined || mode === "off") return { error: "no analyzer configured" };
    const reached = new Set(record.batches.slice(0, b + 1).flat());
    try {
      const result = await analyze({
        rolloutId: record.rolloutId,
        stack: record.stack,
        batch: b,
        mode,
        canary: this.batchRows(record, b).filter((r) => !failedState(r.state)).map((r) => r.accountId),
        // The control cohort runs the old release over the same window: runtimes not reached yet
        // and not on the target already (a runtime upgraded by hand is no control).
        controlCandidates: this.d.hosts
          .loadFleet()
          .runtimes.filter((r) => !reached.has(r.accountId) && !isOnTarget(r, record.target))
          .map((r) => r.accountId),
        windowStart: step.startedAt,
        windowEnd: step.until ?? step.startedAt,
        signal,
      });
      return { result };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }

  private async endAnalysis(a: { step: RolloutStep } & AnalysisOutcome, next: number): Promise<void> {
    if (a.result === undefined) {
      await this.end(a.step, a.error === "no analyzer configured" ? "skipped" : "failed", `analysis: ${a.error ?? "no result"}`, next);
      return;
    }
    const verb = a.result.mode === "observe" ? "observed" : "decided";
    await this.end(a.step, "done", `${verb} ${a.result.decision} (score ${a.result.score}): ${a.result.reason}`, next, {}, { analysis: a.result });
  }

  /** The batch's gate: its deploy outcomes, its bake and (enforced) its analysis decide go on, pause or halt. */
  private async gate(planned: PlannedStep, index: number, record: RolloutDetail): Promise<Then> {
    const b = planned.batch;
    const step = await this.begin(planned, undefined);
    const thresholds = this.d.settings.thresholds;
    const rows = this.batchRows(record, b);
    const outcomes: RuntimeOutcome[] = rows.map((r) => (failedState(r.state) ? { accountId: r.accountId, deployed: false, ...(r.error ? { error: r.error } : {}) } : { accountId: r.accountId, deployed: true, healthy: true, versionMatches: true }));
    const reached = new Set(record.batches.slice(0, b + 1).flat());
    const failedSoFar = record.runtimes.filter((r) => reached.has(r.accountId) && failedState(r.state)).length;
    const kind = b === 0 && record.strategy === "canary" ? "canary" : "batch";
    let decision = batchGate({ kind, outcomes, processed: reached.size, failedSoFar }, thresholds);
    const bake = this.recordedStep(record, "bake", b);
    if (decision.action === "continue" && bake?.state === "failed") {
      const failed = bake.accountIds ?? [];
      decision = { action: "halt", reason: bake.outcome ?? "the canary failed its bake", rollback: thresholds.autoRollback ? failed : [], failed };
    }
    // A canary that baked well goes on for that reason ("canary stayed healthy through the bake").
    if (decision.action === "continue" && bake?.state === "done" && bake.outcome) decision = { ...decision, reason: bake.outcome };
    const analysis = this.recordedStep(record, "analysis", b);
    if (decision.action === "continue" && this.d.settings.analysis === "enforce" && analysis !== undefined) decision = analysisGate(decision, analysis, outcomes, thresholds.autoRollback);
    const ok = new Set(outcomes.filter((o) => o.deployed && !decision.failed.includes(o.accountId)).map((o) => o.accountId));
    const states = rows.map((r) =>
      ok.has(r.accountId)
        ? { accountId: r.accountId, state: "succeeded" as const }
        : { accountId: r.accountId, state: "failed" as const, error: r.error && failedState(r.state) ? r.error : decision.reason.slice(0, 1000) },
    );
    const action = decision.action === "continue" ? "go" : decision.action;
    await this.end(step, "done", `${action}: ${decision.reason}`, index + 1, {
      runtimeStates: states,
      gate: { at: this.now, batch: b, decision: action, reason: line(decision.reason), measures: { failed: decision.failed.length, rollback: decision.rollback.length } },
    }, decision.rollback.length > 0 ? { accountIds: decision.rollback } : {});
    this.d.emit({ type: "gate", rolloutId: record.rolloutId, batch: b, action, reason: decision.reason });
    for (const s of states) this.d.emit({ type: "runtime", rolloutId: record.rolloutId, accountId: s.accountId, state: s.state, ...("error" in s && s.error ? { detail: s.error } : {}) });
    return { next: index + 1 };
  }

  /** Restores what the gate said to restore, then does what the gate decided (on, pause: retry the batch on resume, halt). */
  private async rollback(planned: PlannedStep, index: number, recorded: RolloutStep | undefined, record: RolloutDetail): Promise<Then> {
    const b = planned.batch;
    const gateStep = this.recordedStep(record, "gate", b);
    const ids = gateStep?.accountIds ?? [];
    const verdictOf = [...record.gates].reverse().find((g) => g.batch === b);
    const action = verdictOf?.decision ?? "go";
    const then: Then =
      action === "halt" ? { stop: { status: "halted", reason: verdictOf!.reason } } : action === "pause" ? { stop: { status: "paused", reason: verdictOf!.reason } } : { next: index + 1 };
    const next = action === "pause" ? deployIndex(this.plan, b) : index + 1;
    const advance = action === "go" ? { currentBatch: b + 1 } : {};
    if (ids.length === 0) {
      await this.write({ step: { kind: "rollback", batch: b, state: "skipped", startedAt: this.now, endedAt: this.now, outcome: "nothing to roll back" }, stepIndex: next, ...advance, at: this.now });
      return then;
    }
    const step = await this.begin(planned, recorded, {}, { accountIds: ids });
    // A runtime a person changed by hand in the stack config meanwhile keeps the edit: the rollback
    // restores the others, then halts the rollout naming it (as a deploy or a wait would).
    const edited = this.d.hosts.handEdits(record, ids);
    const restoring = ids.filter((id) => !edited.has(id));
    const restored = restoring.length > 0 ? await this.d.hosts.restore({ rolloutId: record.rolloutId, previous: previousVersions(record) }, restoring) : new Set<string>();
    const untouched = new Set(this.recordedStep(record, "deploy", b)?.accountIds ?? []);
    const marked = ids.filter((id) => !untouched.has(id));
    const editNote = edited.size > 0 ? `; not rolled back, changed by hand: ${[...edited.keys()].join(", ")}` : "";
    await this.end(step, "done", `${marked.filter((id) => restored.has(id)).length}/${marked.length} restored${editNote}`, next, {
      ...advance,
      runtimeStates: marked.map((accountId) =>
        restored.has(accountId)
          ? { accountId, state: "rolled_back" as const }
          : { accountId, state: "failed" as const, error: line(edited.has(accountId) ? `not rolled back: ${edited.get(accountId)!}; the edit is kept` : "rollback did not restore the previous version") },
      ),
    });
    for (const id of marked) this.d.emit({ type: "runtime", rolloutId: record.rolloutId, accountId: id, state: restored.has(id) ? "rolled_back" : "failed" });
    if (edited.size > 0) return { stop: { status: "halted", reason: `${[...edited.values()][0]!}; the rollback left it as edited` } };
    return then;
  }

  /** Waits until the recorded end, then holds the next batch until the fleet is healthy enough. */
  private async wait(planned: PlannedStep, index: number, recorded: RolloutStep | undefined, record: RolloutDetail): Promise<Then> {
    const { settings, clock } = this.d;
    const step = await this.begin(planned, recorded);
    const until = step.until ?? this.now;
    if (until > this.now) this.d.emit({ type: "wait", rolloutId: record.rolloutId, seconds: Math.ceil((until - this.now) / 1000), why: "between batches" });
    while (this.now < until) {
      await clock.sleep(Math.min(settings.healthRecheckSeconds * 1000, until - this.now));
      const stop = await this.requestedStop();
      if (stop) return { stop };
    }
    for (let waits = 0; ; waits++) {
      // A runtime edited by hand would fail the health gate below for a reason it cannot name.
      const edited = this.handEdit(record);
      if (edited) {
        await this.end(step, "failed", edited.reason, index + 1);
        return { stop: edited };
      }
      const fleet = this.d.hosts.loadFleet();
      const results = await this.d.hosts.probeRuntimes(fleet, fleet.runtimes);
      // Healthy = online and on the versions the stack config says it should run now: the target
      // for the batches done, its old versions for the runtimes not reached yet.
      const healthy = fleet.runtimes.filter((r) => verdict(results.get(r.accountId), r).healthy).length;
      const decision = healthGate({ healthy, total: fleet.runtimes.length, waits, maxWaits: settings.maxHealthWaits }, settings.thresholds);
      if (decision.action === "continue") {
        await this.end(step, "done", decision.reason, index + 1);
        return { next: index + 1 };
      }
      const gate = { at: this.now, batch: planned.batch, decision: decision.action, reason: line(decision.reason), measures: { failed: 0, rollback: 0 } } as const;
      this.d.emit({ type: "gate", rolloutId: record.rolloutId, batch: planned.batch, action: decision.action, reason: decision.reason });
      if (decision.action === "halt") {
        await this.end(step, "failed", decision.reason, index + 1, { gate });
        return { stop: { status: "halted", reason: decision.reason } };
      }
      await this.write({ gate, at: this.now });
      this.d.emit({ type: "wait", rolloutId: record.rolloutId, seconds: settings.healthRecheckSeconds, why: decision.reason });
      await clock.sleep(settings.healthRecheckSeconds * 1000);
      const stop = await this.requestedStop();
      if (stop) return { stop };
    }
  }

  /** Every batch done: the stack's release follows the fleet once every unpinned runtime runs the target. */
  private async done(planned: PlannedStep, index: number, record: RolloutDetail): Promise<Then> {
    const failed = record.runtimes.filter((r) => failedState(r.state)).map((r) => r.accountId);
    const target = record.target;
    const onTarget = (r: ResolvedRuntime) => r.pin !== undefined || isOnTarget(r, target);
    if (failed.length === 0 && this.d.hosts.loadFleet().runtimes.every(onTarget)) writeRelease(this.d.configFile, target);
    const reason = failed.length === 0 ? "every runtime upgraded" : `completed with ${failed.length} failed: ${failed.join(", ")}`;
    const at = this.now;
    await this.write({ step: { kind: "done", batch: planned.batch, state: "done", startedAt: at, endedAt: at, outcome: line(reason) }, stepIndex: index + 1, currentBatch: record.batches.length, at });
    return { stop: { status: "completed", reason } };
  }

  /** A halt when the stack config holds, for a runtime of the rollout, versions the rollout neither found nor wrote. */
  private handEdit(record: RolloutDetail): Stop | undefined {
    try {
      this.d.hosts.refuseHandEdits(record);
      return undefined;
    } catch (e) {
      if (e instanceof StackConfigConflict) return { status: "halted", reason: e.message };
      throw e;
    }
  }

  /** A pause or abort asked for by another process (`fleet rollout pause|abort`, the dashboard). */
  private async requestedStop(): Promise<Stop | undefined> {
    const r = await this.d.store.getRollout(this.d.rolloutId);
    if (r?.status === "paused") return { status: "paused", reason: r.statusReason ?? "paused on request" };
    if (r?.status === "aborted") return { status: "aborted", reason: r.statusReason ?? "aborted on request" };
    return undefined;
  }

  private async finish(record: RolloutDetail, status: RolloutStatus, reason: string): Promise<RolloutOutcome> {
    const current = await this.d.store.getRollout(this.d.rolloutId);
    // An abort requested meanwhile wins over a pause or completion we were about to record.
    const final = current?.status === "aborted" ? "aborted" : status;
    await this.write({ status: final, statusReason: line(reason), at: this.now });
    await this.d.store.appendActivity({ actor: current?.initiatedBy ?? "fleet", action: `rollout.${final}`, stack: this.d.stack, rolloutId: this.d.rolloutId, message: line(reason) });
    this.d.emit({ type: "end", rolloutId: this.d.rolloutId, status: final, reason });
    const failed = (current ?? record).runtimes.filter((r) => failedState(r.state)).map((r) => r.accountId);
    return { rolloutId: this.d.rolloutId, status: final, reason, failed };
  }
}

/**
 * An enforced analysis at the gate: halt restores the batch's upgraded runtimes (with
 * autoRollback), pause waits for a person with the analysis's reason, go goes on. An analysis
 * that could not run pauses: nobody decided the release is good.
 */
function analysisGate(decision: GateDecision, step: RolloutStep, outcomes: readonly RuntimeOutcome[], autoRollback: boolean): GateDecision {
  const result = step.analysis;
  if (result === undefined) {
    if (step.state === "skipped") return decision;
    return { action: "pause", reason: `canary analysis did not decide (${step.outcome ?? "no result"}); resume or abort`, rollback: [], failed: [] };
  }
  if (result.decision === "go") return decision;
  if (result.decision === "pause") return { action: "pause", reason: `canary analysis: ${result.reason}`, rollback: [], failed: [] };
  const upgraded = outcomes.filter((o) => o.deployed).map((o) => o.accountId);
  return { action: "halt", reason: `canary analysis: ${result.reason}`, rollback: autoRollback ? upgraded : [], failed: upgraded };
}
