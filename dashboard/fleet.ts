// What the dashboard reads and does, in the fleet's words. Reads go through store/; rollouts run
// in this process through control/'s orchestrator (the same one `fleet rollout` runs); every input
// is checked with fleet/ rules, so bad input gets the CLI's own messages and changes nothing.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { FleetConfig, ResolvedRuntime } from "../fleet/config";
import { STRATEGIES } from "../fleet/config";
import { ACCOUNT_ID_EXPECTED, isAccountId } from "../fleet/ids";
import type { RolloutPlan } from "../fleet/plan";
import { formatDuration } from "../fleet/units";
import { rolloutSummary } from "../fleet/overview";
import { currentStep, describeStep, pauseOf } from "../fleet/steps";
import { isNewer, isReleaseTag, latestRelease, mostCommonVersion } from "../fleet/versions";
import { checkHistoryCursor, defaultStorePath, engineEnv, type StackContext, type Where } from "../control/context";
import { OperationError, UsageError } from "../control/errors";
import type { ProgressEvent, RolloutOutcome } from "../control/orchestrator";
import {
  abortRollout,
  checkRolloutId,
  checkTargetRelease,
  describePlan,
  findRollout,
  pauseRollout,
  planRollout,
  refuseIfRolloutRuns,
  resumeRollout,
  RolloutNotFoundError,
  startRollout,
  upgradeOne,
  type Operator,
  type Started,
} from "../control/operations";
import type { RolloutCliOptions } from "../control/options";
import type { FleetStore, RolloutRecord } from "../store/types";
import { lsRemoteTags, openclawReleases, redactRemote, runtimeServiceReleases } from "../control/releases";
import { readStackSshKey, runOnHost, sshConsoleCommand } from "./ssh";

/** An error with the HTTP status the API answers with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}


/** The Start Fleet Upgrade form, as the page posts it. */
export const upgradeFormSchema = z.strictObject({
  to: z.string().max(200),
  strategy: z.string().max(40),
  autoRollback: z.boolean().default(true),
  pauseOnFailure: z.boolean().default(true),
  skipUpgraded: z.boolean().default(false),
  runtime: z.array(z.string().max(100)).max(10_000).optional(),
  reason: z.string().max(600).optional(),
  /** The stack config fingerprint the previewed plan was made from (stale-form check). */
  configHash: z.string().max(128).optional(),
});
export type UpgradeForm = z.infer<typeof upgradeFormSchema>;

export function parseForm<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    throw new UsageError(msg);
  }
  return r.data;
}

/** The upgrade form as the CLI's rollout options: what a dashboard-started rollout records (plus its source). */
export function formOptions(form: UpgradeForm, fleet: FleetConfig): RolloutCliOptions {
  if (!(STRATEGIES as readonly string[]).includes(form.strategy)) {
    throw new UsageError(`strategy: ${JSON.stringify(form.strategy)} is not a strategy (expected ${STRATEGIES.join(", ")})`);
  }
  return {
    to: form.to,
    strategy: form.strategy,
    autoRollback: form.autoRollback,
    // Unticked "pause on >N% failure": the rollout never pauses on its failure rate.
    pauseOnFailure: form.pauseOnFailure ? `${fleet.policy.pauseOnFailurePercent}%` : "100%",
    skipUpgraded: form.skipUpgraded,
    ...(form.reason ? { reason: form.reason } : {}),
    ...(form.runtime && form.runtime.length > 0 ? { runtime: form.runtime } : {}),
  };
}

export interface RunnerState {
  rolloutId: string;
  events: Array<ProgressEvent & { at: number }>;
  running: boolean;
  outcome?: RolloutOutcome;
  error?: string;
}

const MAX_EVENTS = 1_000;

export interface DashboardFleetOptions {
  ctx: Where;
  sc: StackContext;
  /** Environment for the Automation API when reading the SSH key (passphrase, backend). */
  pulumiEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export class DashboardFleet {
  private readonly runners = new Map<string, RunnerState>();
  private releases: { tags: string[]; checkedAt: number; source: string; raw: string[] } | undefined;

  constructor(private readonly opts: DashboardFleetOptions) {}

  get stack(): string {
    return this.opts.sc.stack;
  }

  fleet(): FleetConfig {
    return this.opts.sc.loadFleet();
  }

  /** A fingerprint of the stack config: a form previewed against another one is stale. */
  configHash(): string {
    return createHash("sha256").update(readFileSync(this.opts.sc.configFile)).digest("hex").slice(0, 32);
  }

  // Reads ------------------------------------------------------------------------------------

  async overview(store: FleetStore) {
    const fleet = this.fleet();
    const [overview, runtimes, config, active, lock] = await Promise.all([
      store.overview({ stack: this.stack, recentRollouts: 5 }),
      store.listRuntimes({ stack: this.stack }),
      store.getConfig(),
      store.activeRollout(this.stack),
      store.getLock(this.stack),
    ]);
    const cfg = Object.fromEntries(config.map((e) => [e.key, e]));
    // Current: the fleet's most common version as observed; the configured one before anything is.
    const ocVersions = runtimes.length > 0 ? runtimes.map((r) => r.openclawVersion) : fleet.runtimes.map((r) => r.openclaw);
    const rsVersions = runtimes.length > 0 ? runtimes.map((r) => r.runtimeServiceVersion) : fleet.runtimes.map((r) => r.runtimeService);
    const latestOc = str(cfg.latest_openclaw_version?.value) ?? overview.latestOpenclawVersion;
    const latestRs = str(cfg.latest_runtime_version?.value);
    const component = (name: string, current: string | undefined, latest: string | undefined) => ({
      name,
      current: current ?? null,
      latest: latest ?? null,
      updateAvailable: Boolean(current && latest && isReleaseTag(current) && isReleaseTag(latest) && isNewer(latest, current)),
    });
    return {
      stack: this.stack,
      configured: fleet.runtimes.length,
      release: fleet.release,
      policy: {
        strategy: fleet.policy.strategy,
        batchPercent: fleet.policy.batchPercent,
        waitSeconds: fleet.policy.waitSeconds,
        pauseOnFailurePercent: fleet.policy.pauseOnFailurePercent,
        autoRollback: fleet.policy.autoRollback,
        minSupportedOpenclaw: fleet.policy.minSupportedOpenclaw,
      },
      versionStatus: [
        component("OpenClaw", mostCommonVersion(ocVersions), latestOc),
        component("Runtime Service", mostCommonVersion(rsVersions), latestRs),
      ],
      latestCheckedAt: cfg.latest_openclaw_version?.updatedAt ?? null,
      overview,
      runtimes: fleet.runtimes.map((r) => {
        const seen = runtimes.find((x) => x.accountId === r.accountId);
        return {
          accountId: r.accountId,
          name: r.name,
          canary: r.canary,
          pin: r.pin ?? null,
          status: seen?.status ?? "unknown",
          openclaw: seen?.openclawVersion ?? r.openclaw,
          runtimeService: seen?.runtimeServiceVersion ?? r.runtimeService,
          healthScore: seen?.healthScore ?? null,
        };
      }),
      activeRollout: active,
      lock,
    };
  }

  async history(store: FleetStore, q: { cursor?: string | null; limit?: number; accountId?: string }) {
    const limit = q.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new UsageError(`limit: ${JSON.stringify(q.limit)} is not a number from 1 to 200`);
    if (q.accountId !== undefined && !isAccountId(q.accountId)) throw new UsageError(`runtime: ${JSON.stringify(q.accountId)} is not an account id (${ACCOUNT_ID_EXPECTED})`);
    if (q.cursor !== undefined && q.cursor !== null) checkHistoryCursor(q.cursor, "cursor", defaultStorePath(this.opts.ctx.projectDir));
    const [page, rollouts] = await Promise.all([
      store.listUpgrades({ stack: this.stack, limit, ...(q.cursor ? { cursor: q.cursor } : {}), ...(q.accountId ? { accountId: q.accountId } : {}) }),
      store.listRollouts({ stack: this.stack, limit: 50 }),
    ]);
    return { ...page, rollouts: q.cursor ? [] : rollouts.map(rolloutRow) };
  }

  runtimeConfig(accountId: string): ResolvedRuntime {
    if (!isAccountId(accountId)) throw new UsageError(`runtime: ${JSON.stringify(accountId)} is not an account id (${ACCOUNT_ID_EXPECTED})`);
    const r = this.fleet().runtimes.find((x) => x.accountId === accountId);
    if (!r) throw new HttpError(404, `runtime: no runtime ${accountId} on stack ${this.stack}`);
    return r;
  }

  async runtime(store: FleetStore, accountId: string) {
    const r = this.runtimeConfig(accountId);
    const [detail, config, active] = await Promise.all([
      store.getRuntime(this.stack, accountId, { upgrades: 20 }),
      store.getConfig(),
      store.activeRollout(this.stack),
    ]);
    const latest = str(config.find((e) => e.key === "latest_openclaw_version")?.value) ?? null;
    const latestRs = str(config.find((e) => e.key === "latest_runtime_version")?.value) ?? null;
    const history = detail?.recentUpgrades ?? [];
    return {
      stack: this.stack,
      accountId,
      name: r.name,
      canary: r.canary,
      pin: r.pin ?? null,
      status: detail?.status ?? "unknown",
      healthScore: detail?.healthScore ?? null,
      lastHealthCheck: detail?.lastHealthCheck ?? null,
      infrastructure: {
        provider: detail?.provider ?? r.provider,
        hostId: detail?.providerId ?? null,
        address: detail?.ipAddress ?? r.host ?? null,
        region: detail?.region ?? r.region ?? null,
        createdAt: detail?.createdAt ?? null,
      },
      versions: {
        openclaw: detail?.openclawVersion ?? r.openclaw,
        runtimeService: detail?.runtimeServiceVersion ?? r.runtimeService,
        configured: { openclaw: r.openclaw, runtimeService: r.runtimeService },
        latestOpenclaw: latest,
        latestRuntimeService: latestRs,
        updateAvailable: Boolean(latest && isNewer(latest, detail?.openclawVersion ?? r.openclaw)),
      },
      lastUpgrade: history[0] ?? null,
      history,
      sshCommand: sshConsoleCommand(r),
      activeRollout: active ? { rolloutId: active.rolloutId, status: active.status } : null,
    };
  }

  async rollout(store: FleetStore, rolloutId: string) {
    const detail = await this.findRollout(store, rolloutId);
    const upgrades = await store.listUpgrades({ stack: this.stack, rolloutId, limit: 200 });
    const runner = this.runners.get(rolloutId);
    const pause = pauseOf(detail);
    const step = currentStep(detail.steps);
    return {
      // Why it is paused, since when, and what is left of a timed step (fleet/steps.ts, as `fleet status` says it).
      rollout: { ...detail, ...(pause ? { pause } : {}), ...(step ? { step: { ...step, text: describeStep(step, detail.batches.length) } } : {}) },
      upgrades: upgrades.items,
      events: runner?.events ?? [],
      runningHere: Boolean(runner?.running),
      runnerError: runner?.error ?? null,
      now: Date.now(),
    };
  }

  // Releases ---------------------------------------------------------------------------------

  /** The openclaw release tags of fleet:releaseSource (cached until the next Check for Updates). */
  async releaseTags(force = false): Promise<{ tags: string[]; source: string | null; checkedAt: number | null }> {
    const source = this.fleet().releaseSource?.openclaw;
    if (!source) return { tags: [], source: null, checkedAt: null };
    if (!force && this.releases && this.releases.source === source) return this.view(this.releases);
    const raw = await gitTags(source, "fleet:releaseSource.openclaw");
    this.releases = { tags: openclawReleases(raw), checkedAt: Date.now(), source, raw };
    return this.view(this.releases);
  }

  /** A remote is shown redacted: a token inside an https URL never reaches the browser. */
  private view(r: { tags: string[]; checkedAt: number; source: string }) {
    return { tags: r.tags, checkedAt: r.checkedAt, source: redactRemote(r.source) };
  }

  /** "Check for Updates": read the tags, record the newest stable releases as the latest. */
  async checkForUpdates(store: FleetStore, user: string) {
    const r = await this.releaseTags(true);
    if (!r.source) throw new UsageError(`fleet:releaseSource.openclaw: not configured on stack ${this.stack} (a git remote with the release tags)`);
    const latest = latestRelease(r.tags);
    if (latest) await store.setConfig("latest_openclaw_version", latest, user);
    // Runtime service releases: control/releases.ts's convention (their own remote, else
    // runtime-service/vX.Y.Z tags of the openclaw remote).
    const rsRemote = this.fleet().releaseSource?.runtimeService;
    const rsTags = rsRemote ? await gitTags(rsRemote, "fleet:releaseSource.runtimeService") : (this.releases?.raw ?? []);
    const latestRs = latestRelease(runtimeServiceReleases(rsTags, rsRemote !== undefined));
    if (latestRs) await store.setConfig("latest_runtime_version", latestRs, user);
    return { ...r, latest: latest ?? null, latestRuntimeService: latestRs ?? null };
  }

  // Plans and rollouts -----------------------------------------------------------------------

  private cliOptions(form: UpgradeForm): RolloutCliOptions {
    return formOptions(form, this.fleet());
  }

  /** The operator for one request: this stack, the signed-in admin's store, this dashboard's release cache. */
  private operator(store: FleetStore, user: string, progress?: (e: ProgressEvent) => void): Operator {
    return {
      where: this.opts.ctx,
      sc: this.opts.sc,
      store: async () => store,
      actor: user,
      via: "from the dashboard",
      ...(progress ? { progress } : {}),
      releaseTags: async () => (await this.releaseTags()).tags,
    };
  }

  async preview(form: UpgradeForm) {
    const { fleet, plan } = planRollout(this.opts.sc, this.cliOptions(form));
    await checkTargetRelease(fleet, plan.target.openclaw, "to", async () => (await this.releaseTags()).tags);
    return planView(this.stack, fleet, plan, this.configHash());
  }

  /** Starts a rollout in this process; resolves once it is recorded (or refused). */
  async start(store: FleetStore, user: string, form: UpgradeForm) {
    return this.run(store, user, (op) =>
      startRollout(op, {
        options: this.cliOptions(form),
        source: "dashboard",
        field: "to",
        before: () => this.checkFresh(form),
      }),
    );
  }

  /** Upgrade one runtime to the latest release (or a given one): a rollout of just that runtime. */
  async upgradeRuntime(store: FleetStore, user: string, accountId: string, to: string | undefined) {
    this.runtimeConfig(accountId);
    return this.run(store, user, (op) => upgradeOne(op, accountId, to, { source: "dashboard", field: "to" }));
  }

  async pauseOrAbort(store: FleetStore, user: string, rolloutId: string, status: "paused" | "aborted") {
    checkRolloutId(rolloutId);
    const op = this.operator(store, user);
    return notFound404(() => (status === "paused" ? pauseRollout(op, rolloutId) : abortRollout(op, rolloutId)));
  }

  async resume(store: FleetStore, user: string, rolloutId: string) {
    checkRolloutId(rolloutId);
    if (this.runners.get(rolloutId)?.running) throw new HttpError(409, `rollout ${rolloutId} is still running in this dashboard`);
    const runner = this.newRunner(rolloutId);
    try {
      const { outcome } = await notFound404(() => resumeRollout(this.operator(store, user, (e) => this.record(runner, e)), rolloutId));
      this.watch(runner, outcome);
    } catch (err) {
      runner.running = false;
      throw err;
    }
    return { rolloutId, status: "running" };
  }

  /** Runs a start operation here: its progress into a runner, answering once it is recorded. */
  private async run(store: FleetStore, user: string, start: (op: Operator) => Promise<Started>) {
    const here = [...this.runners.values()].find((r) => r.running);
    if (here) throw new HttpError(409, `rollout ${here.rolloutId} is already running from this dashboard`, { rolloutId: here.rolloutId });
    // Events before the rollout has its id wait here, then go to its runner.
    const early: ProgressEvent[] = [];
    const sink: { runner?: RunnerState } = {};
    const started = await start(this.operator(store, user, (e) => (sink.runner ? this.record(sink.runner, e) : early.push(e))));
    const runner = this.newRunner(started.rolloutId);
    sink.runner = runner;
    for (const e of early) this.record(runner, e);
    this.watch(runner, started.outcome);
    await this.untilRecorded(store, runner, started.outcome);
    return { rolloutId: started.rolloutId, plan: planView(this.stack, this.fleet(), started.prepared.plan, this.configHash()) };
  }

  /** A form previewed against another stack config is stale. */
  private checkFresh(form: UpgradeForm) {
    if (form.configHash !== undefined && form.configHash !== this.configHash()) {
      throw new HttpError(409, "this form is stale: the stack config changed since the plan was previewed; preview the plan again");
    }
  }

  async hostAction(store: FleetStore, user: string, accountId: string, kind: "restart" | "logs") {
    const r = this.runtimeConfig(accountId);
    if (!r.host) throw new HttpError(409, `${accountId} has no host address yet`);
    if (kind === "restart") await refuseIfRolloutRuns(store, this.stack, accountId);
    const key = await readStackSshKey(this.opts.ctx.projectDir, this.stack, { ...engineEnv(this.opts.ctx.projectDir), ...(this.opts.pulumiEnv ?? {}) });
    const started = Date.now();
    const result = await runOnHost(r, key, kind === "restart" ? { kind } : { kind, lines: 200 }, { dialTimeoutSeconds: this.fleet().defaults.dialTimeoutSeconds });
    if (kind === "logs") {
      if (!result.ok) throw new HttpError(502, `could not read the logs of ${accountId}: ${lastLine(result.stderr) || `ssh exit ${result.exitCode}`}`);
      return { accountId, logs: result.stdout.slice(-256 * 1024) };
    }
    const line = result.stdout.trim().split("\n").filter(Boolean).at(-1) ?? "";
    let parsed: { status?: string; error?: string | null } = {};
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      /* the host printed no result line: reported below */
    }
    const ok = result.ok && parsed.status === "success";
    await store.appendActivity({
      actor: user,
      action: "runtime.restart",
      stack: this.stack,
      accountId,
      message: ok ? "force restart from the dashboard: healthy again" : `force restart from the dashboard failed: ${parsed.error ?? (lastLine(result.stderr) || `exit ${result.exitCode}`)}`,
    });
    if (!ok) throw new HttpError(502, `restart of ${accountId} failed: ${parsed.error ?? (lastLine(result.stderr) || `ssh exit ${result.exitCode}`)}`);
    return { accountId, status: "restarted", durationMs: Date.now() - started };
  }

  /** Waits for running rollouts (on shutdown). */
  async idle(timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    while ([...this.runners.values()].some((r) => r.running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  }

  // ------------------------------------------------------------------------------------------

  private async findRollout(store: FleetStore, rolloutId: string): Promise<RolloutRecord> {
    checkRolloutId(rolloutId);
    return notFound404(() => findRollout(store, this.stack, rolloutId));
  }

  private newRunner(rolloutId: string): RunnerState {
    const runner: RunnerState = { rolloutId, events: this.runners.get(rolloutId)?.events ?? [], running: true };
    this.runners.set(rolloutId, runner);
    // Keep the last few runs' event logs only.
    while (this.runners.size > 20) this.runners.delete(this.runners.keys().next().value!);
    return runner;
  }

  private record(runner: RunnerState, e: ProgressEvent) {
    runner.events.push({ ...e, at: Date.now() });
    if (runner.events.length > MAX_EVENTS) runner.events.splice(0, runner.events.length - MAX_EVENTS);
    this.opts.log?.(`rollout ${runner.rolloutId}: ${e.type}${"batch" in e ? ` ${e.batch}` : ""}${"accountId" in e ? ` ${e.accountId}` : ""}${"state" in e ? ` ${e.state}` : ""}${"status" in e ? ` ${e.status}` : ""}`);
  }

  private watch(runner: RunnerState, done: Promise<RolloutOutcome>) {
    done.then(
      (outcome) => {
        runner.outcome = outcome;
        runner.running = false;
      },
      (err: unknown) => {
        runner.error = err instanceof Error ? err.message : String(err);
        runner.running = false;
        this.opts.log?.(`rollout ${runner.rolloutId} failed: ${runner.error}`);
      },
    );
  }

  /** Answers once the rollout is in the store, or with the orchestrator's refusal. */
  private async untilRecorded(store: FleetStore, runner: RunnerState, done: Promise<RolloutOutcome>) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (await store.getRollout(runner.rolloutId)) return;
      if (!runner.running) {
        await done.catch(() => undefined);
        if (runner.error) throw new HttpError(409, runner.error);
        return;
      }
      if (Date.now() > deadline) throw new HttpError(504, `rollout ${runner.rolloutId} was not recorded within 30s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function planView(stack: string, fleet: FleetConfig, plan: RolloutPlan, configHash: string) {
  const byId = new Map(fleet.runtimes.map((r) => [r.accountId, r]));
  return {
    stack,
    strategy: plan.strategy,
    target: plan.target,
    batches: plan.batches.map((b) => ({
      index: b.index,
      kind: b.kind,
      accountIds: b.accountIds,
      runtimes: b.accountIds.map((id) => ({ accountId: id, name: byId.get(id)?.name ?? id, from: plan.moves[id]?.from ?? null, to: plan.moves[id]?.to ?? null })),
    })),
    skipped: plan.skipped,
    runtimes: Object.keys(plan.moves).length,
    estimatedSeconds: plan.estimatedSeconds,
    estimated: formatDuration(plan.estimatedSeconds),
    text: describePlan(stack, plan),
    configHash,
  };
}

/** A rollout for the history page; its success and failure rates by fleet/overview, as the overview's. */
function rolloutRow(r: RolloutRecord, now = Date.now()) {
  const summary = rolloutSummary(r.counts, { startedAt: r.startedAt ?? r.createdAt, ...(r.completedAt !== undefined ? { completedAt: r.completedAt } : {}), now });
  return {
    rolloutId: r.rolloutId,
    createdAt: r.createdAt,
    target: r.target,
    strategy: r.strategy,
    status: r.status,
    initiatedBy: r.initiatedBy,
    runtimes: r.counts.total,
    successRate: summary.successRate,
    failureRate: summary.failureRate,
    processed: r.counts.succeeded + r.counts.failed + r.counts.rolledBack,
    durationMs: r.completedAt !== undefined ? (summary.durationMs ?? null) : null,
  };
}

/** A rollout or runtime not on this stack is a 404 here (the CLI reports it as bad input). */
async function notFound404<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RolloutNotFoundError) throw new HttpError(404, err.message);
    throw err;
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const lastLine = (s: string) => s.trim().split("\n").at(-1) ?? "";

/** ls-remote through control/releases.ts; its failure is the release source's, not bad input. */
async function gitTags(remote: string, field: string): Promise<string[]> {
  try {
    return await lsRemoteTags(remote, field, { timeoutMs: 20_000 });
  } catch (err) {
    if (err instanceof OperationError) throw new HttpError(502, err.message);
    throw err;
  }
}
