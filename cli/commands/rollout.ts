// `fleet plan`, `fleet rollout` (+ resume, pause, abort) and `fleet rollback`.
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import type { FleetConfig, ResolvedRuntime } from "../../fleet/config";
import { isRolloutId } from "../../fleet/ids";
import { planRollout, type RolloutPlan } from "../../fleet/plan";
import { formatDuration } from "../../fleet/units";
import { isReleaseTag, isSupported, releaseTagProblem } from "../../fleet/versions";
import type { FleetStore, RolloutRecord } from "../../store/types";
import type { CommandContext } from "../cli";
import { actorName, createEngine, engineEnv, openFleetStore, probe, stackContext, type StackContext } from "../../control/context";
import { processAlive, type ChangeSummary } from "../../control/engine";
import { EXIT_FAILED, EXIT_OK, OperationError, UsageError } from "../../control/errors";
import { currentHolder, newRolloutId, Orchestrator, type ProgressEvent, type RolloutOutcome, type RolloutSettings } from "../../control/orchestrator";
import { addRolloutOptions, initiator, resolveRolloutOptions, type RolloutCliOptions } from "../../control/options";
import { progressSink } from "../progress";
import { writeRuntimeVersions } from "../../control/stackConfig";
import { printable } from "../text";

type Run = (fn: (ctx: CommandContext) => Promise<number>, cmd: Command) => Promise<void>;

export function registerRollout(program: Command, run: Run): void {
  addRolloutOptions(
    program.command("plan").description("show the batches a rollout would run, and what `pulumi preview` says will change"),
  )
    .option("--no-preview", "skip `pulumi preview` (the plan alone)")
    .action(async (opts: RolloutCliOptions & { preview: boolean }, cmd: Command) => run((ctx) => planCommand(ctx, opts), cmd));

  const rollout = addRolloutOptions(
    program.command("rollout").description("upgrade the fleet batch by batch (canary, ramped batches, health gates, rollback)"),
  ).action(async (opts: RolloutCliOptions, cmd: Command) => run((ctx) => rolloutCommand(ctx, opts), cmd));

  rollout
    .command("resume [rolloutId]")
    .description("continue a paused or crashed rollout from the store's record")
    .option("--break-lock", "take over a lock left by an orchestrator that is no longer running")
    .action(async (id: string | undefined, opts: { breakLock?: boolean }, cmd: Command) => run((ctx) => resumeCommand(ctx, id, Boolean(opts.breakLock)), cmd));
  rollout
    .command("pause [rolloutId]")
    .description("ask the running rollout to stop after its current step")
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => run((ctx) => setStatusCommand(ctx, id, "paused"), cmd));
  rollout
    .command("abort [rolloutId]")
    .description("end the rollout: no further batch runs (runtimes already upgraded stay so)")
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => run((ctx) => setStatusCommand(ctx, id, "aborted"), cmd));

  program
    .command("rollback")
    .description("set a runtime back to its previous (or a given) version and apply it")
    .requiredOption("--runtime <account>", "the runtime")
    .option("--to <version>", "the openclaw release to go back to (default: the one before its last upgrade)")
    .option("--runtime-service <version>", "the runtime service release to go back to (default: with --to unchanged, else the previous)")
    .option("--reason <text>", "why (recorded)")
    .action(async (opts: { runtime: string; to?: string; runtimeService?: string; reason?: string }, cmd: Command) =>
      run((ctx) => rollbackCommand(ctx, opts), cmd),
    );
}

export function preparePlan(sc: StackContext, opts: RolloutCliOptions) {
  const fleet = sc.loadFleet();
  const resolved = resolveRolloutOptions(opts, fleet);
  const plan = planRollout(fleet.runtimes, resolved.plan);
  return { fleet, resolved, plan };
}

async function planCommand(ctx: CommandContext, opts: RolloutCliOptions & { preview: boolean }): Promise<number> {
  const sc = await stackContext(ctx);
  const { fleet, plan } = preparePlan(sc, opts);
  let preview: { ok: boolean; changes: ChangeSummary[]; errors: string[] } | undefined;
  if (opts.preview) preview = await previewPlan(ctx, sc, fleet, plan);
  if (ctx.out.json) ctx.out.emit({ stack: sc.stack, plan, ...(preview ? { preview } : {}) });
  else {
    ctx.out.say(describePlan(sc.stack, plan));
    if (preview) ctx.out.say(describePreview(preview));
  }
  return preview && !preview.ok ? EXIT_FAILED : EXIT_OK;
}

/** `pulumi preview` against a copy of the stack config with every planned version applied. */
export async function previewPlan(ctx: CommandContext, sc: StackContext, fleet: FleetConfig, plan: RolloutPlan) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-plan-"));
  try {
    const copy = path.join(dir, path.basename(sc.configFile));
    copyFileSync(sc.configFile, copy);
    const moved = fleet.runtimes.filter((r) => plan.moves[r.accountId]);
    writeRuntimeVersions(
      copy,
      moved.map((r) => ({ index: r.index, accountId: r.accountId, ...plan.moves[r.accountId]!.to })),
    );
    const engine = createEngine(ctx.projectDir, sc.stack);
    return await engine.preview(undefined, {}, copy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function describePlan(stack: string, plan: RolloutPlan): string {
  const lines = [
    `${plan.strategy} rollout of ${stack} to openclaw ${plan.target.openclaw}${plan.target.runtimeService ? `, runtime service ${plan.target.runtimeService}` : ""}`,
  ];
  plan.batches.forEach((b, i) => lines.push(`  batch ${i + 1}/${plan.batches.length}${b.kind === "canary" ? " (canary)" : ""}: ${b.accountIds.join(", ")}`));
  for (const s of plan.skipped) lines.push(`  skipped ${printable(s.accountId)}: ${printable(s.detail)}`);
  lines.push(`  ${Object.keys(plan.moves).length} runtimes, estimated ${formatDuration(plan.estimatedSeconds)}`);
  return lines.join("\n");
}

function describePreview(p: { ok: boolean; changes: ChangeSummary[]; errors: string[] }): string {
  if (!p.ok) return `pulumi preview failed:\n${p.errors.map(printable).join("\n")}`;
  if (p.changes.length === 0) return "pulumi preview: no changes";
  const lines = ["pulumi preview:"];
  const sorted = [...p.changes].sort((a, b) => a.accountId.localeCompare(b.accountId) || a.resource.localeCompare(b.resource));
  for (const c of sorted) lines.push(`  ${printable(`${c.accountId}-${c.resource}`)}: ${printable(c.op)}${c.diffs.length ? ` [${printable(c.diffs.join(", "))}]` : ""}`);
  return lines.join("\n");
}

/** The orchestrator as the CLI runs it; `progress` replaces the terminal view (the dashboard passes its own). */
export function makeOrchestrator(ctx: CommandContext, sc: StackContext, store: FleetStore, progress?: (e: ProgressEvent) => void): Orchestrator {
  return new Orchestrator({
    store,
    engine: createEngine(ctx.projectDir, sc.stack),
    stack: sc.stack,
    configFile: sc.configFile,
    loadFleet: sc.loadFleet,
    probe,
    engineEnv: engineEnv(ctx.projectDir),
    progress:
      progress ??
      progressSink({
        json: ctx.out.json,
        tty: Boolean(process.stdout.isTTY) && !ctx.out.json,
        write: (t) => process.stdout.write(t),
      }),
  });
}

async function rolloutCommand(ctx: CommandContext, opts: RolloutCliOptions): Promise<number> {
  const sc = await stackContext(ctx);
  const { resolved, plan } = preparePlan(sc, opts);
  const store = await openFleetStore(ctx.projectDir);
  try {
    const outcome = await makeOrchestrator(ctx, sc, store).start({
      rolloutId: newRolloutId(),
      plan,
      settings: resolved.settings,
      initiatedBy: initiator(process.env, process.env.USER ?? os.userInfo().username, os.hostname()),
      ...(resolved.reason ? { reason: resolved.reason } : {}),
      extraOptions: resolved.recorded,
    });
    return report(ctx, outcome);
  } finally {
    await store.close();
  }
}

function report(ctx: CommandContext, outcome: RolloutOutcome): number {
  if (ctx.out.json) ctx.out.emit({ type: "result", ...outcome });
  else if (outcome.status === "paused") ctx.out.say(`paused: continue with \`fleet rollout resume ${outcome.rolloutId}\` or end it with \`fleet rollout abort\``);
  return outcome.status === "completed" && outcome.failed.length === 0 ? EXIT_OK : EXIT_FAILED;
}

export function settingsFromRecord(record: RolloutRecord): RolloutSettings {
  const o = record.options;
  const waitSeconds = o.waitSeconds ?? 60;
  const bakeMinutes = o.bakeMinutes ?? 30;
  return {
    waitSeconds,
    bakeMinutes,
    thresholds: {
      maxBatchFailurePercent: o.maxBatchFailurePercent ?? 20,
      pauseOnFailurePercent: o.pauseOnFailurePercent ?? 5,
      minHealthyPercent: o.minHealthyPercent ?? 95,
      autoRollback: o.autoRollback ?? true,
    },
    bakeProbeSeconds: Math.max(1, Math.min(30, (bakeMinutes * 60) / 10)),
    healthRecheckSeconds: Math.max(1, Math.min(30, waitSeconds || 5)),
    maxHealthWaits: 10,
  };
}

async function findRollout(store: FleetStore, stack: string, id: string | undefined): Promise<RolloutRecord> {
  if (id !== undefined) {
    if (!isRolloutId(id)) throw new UsageError(`rolloutId: ${JSON.stringify(id)} is not a rollout id (expected ro_...)`);
    const r = await store.getRollout(id);
    if (!r || r.stack !== stack) throw new UsageError(`rolloutId: no rollout ${id} on stack ${stack}`);
    return r;
  }
  const active = await store.activeRollout(stack);
  if (!active) throw new OperationError(`stack ${stack} has no rollout in progress`);
  return active;
}

async function resumeCommand(ctx: CommandContext, id: string | undefined, breakLock: boolean): Promise<number> {
  const sc = await stackContext(ctx);
  const store = await openFleetStore(ctx.projectDir);
  try {
    const record = await findRollout(store, sc.stack, id);
    const holder = await store.getLock(sc.stack);
    const engine = createEngine(ctx.projectDir, sc.stack);
    if (holder) {
      const here = holder.host === os.hostname();
      const dead = here && !processAlive(holder.pid);
      if (!dead || !breakLock) {
        const why = dead ? "its process is gone; pass --break-lock to take over" : here ? "it is still running" : "it runs on another host";
        throw new OperationError(`stack ${sc.stack} is held by ${holder.user}@${holder.host} (pid ${holder.pid}) since ${new Date(holder.startedAt).toISOString()}: ${why}`);
      }
      await store.breakLock(sc.stack, holder);
      // The dead orchestrator's `pulumi up` may have left the stack locked too.
      await engine.clearStaleLock();
      await store.appendActivity({ actor: actorName(), action: "rollout.lock-broken", stack: sc.stack, rolloutId: record.rolloutId, message: `broke the lock of dead pid ${holder.pid}` });
    }
    const outcome = await makeOrchestrator(ctx, sc, store).resume(record.rolloutId, settingsFromRecord(record));
    return report(ctx, outcome);
  } finally {
    await store.close();
  }
}

async function setStatusCommand(ctx: CommandContext, id: string | undefined, status: "paused" | "aborted"): Promise<number> {
  const sc = await stackContext(ctx);
  const store = await openFleetStore(ctx.projectDir);
  try {
    const record = await findRollout(store, sc.stack, id);
    if (status === "paused" && record.status !== "running") throw new OperationError(`rollout ${record.rolloutId} is ${record.status}, not running`);
    await store.updateRollout(record.rolloutId, { status, statusReason: `${status} by ${actorName()}` });
    await store.appendActivity({ actor: actorName(), action: `rollout.${status}`, stack: sc.stack, rolloutId: record.rolloutId, message: `${status} on request` });
    if (ctx.out.json) ctx.out.emit({ rolloutId: record.rolloutId, status });
    else ctx.out.say(`rollout ${record.rolloutId}: ${status === "paused" ? "pause requested (it stops after its current step)" : "aborted"}`);
    return EXIT_OK;
  } finally {
    await store.close();
  }
}

async function rollbackCommand(
  ctx: CommandContext,
  opts: { runtime: string; to?: string; runtimeService?: string; reason?: string },
): Promise<number> {
  const sc = await stackContext(ctx);
  const fleet = sc.loadFleet();
  const runtime = fleet.runtimes.find((r) => r.accountId === opts.runtime);
  if (!runtime) throw new UsageError(`--runtime: ${JSON.stringify(opts.runtime)} is not a runtime of stack ${sc.stack}`);
  if (opts.to !== undefined && !isReleaseTag(opts.to)) throw new UsageError(`--to: ${releaseTagProblem(opts.to)}`);
  if (opts.runtimeService !== undefined && !isReleaseTag(opts.runtimeService)) {
    throw new UsageError(`--runtime-service: ${releaseTagProblem(opts.runtimeService)}`);
  }
  if (runtime.pin !== undefined) throw new UsageError(`--runtime: ${runtime.accountId} is pinned at ${runtime.pin}; unpin it first`);
  const store = await openFleetStore(ctx.projectDir);
  try {
    const target = await rollbackTarget(store, sc.stack, runtime, opts);
    if (!isSupported(target.openclaw, fleet.policy.minSupportedOpenclaw)) {
      throw new UsageError(`--to: ${target.openclaw} is below the minimum supported ${fleet.policy.minSupportedOpenclaw}`);
    }
    if (target.openclaw === runtime.openclaw && target.runtimeService === runtime.runtimeService) {
      throw new UsageError(`--to: ${runtime.accountId} is already on ${target.openclaw}/${target.runtimeService}`);
    }
    const active = await store.activeRollout(sc.stack);
    if (active) throw new OperationError(`rollout ${active.rolloutId} is ${active.status} on ${sc.stack}; abort it before rolling back by hand`);
    const holder = { ...currentHolder(), startedAt: Date.now() };
    const lock = await store.acquireLock(sc.stack, holder);
    if (!lock.ok) throw new OperationError(`stack ${sc.stack} is held by ${lock.holder.user}@${lock.holder.host} (pid ${lock.holder.pid}) since ${new Date(lock.holder.startedAt).toISOString()}`);
    try {
      const orchestrator = makeOrchestrator(ctx, sc, store);
      const rolloutId = newRolloutId();
      await store.appendActivity({
        actor: actorName(),
        action: "runtime.rollback",
        stack: sc.stack,
        accountId: runtime.accountId,
        message: `rollback ${runtime.accountId} ${runtime.openclaw} -> ${target.openclaw}${opts.reason ? `: ${opts.reason}` : ""}`,
      });
      const restored = await orchestrator.restore({ rolloutId, previous: { [runtime.accountId]: target } }, [runtime.accountId], opts.reason);
      const ok = restored.has(runtime.accountId);
      if (ctx.out.json) ctx.out.emit({ accountId: runtime.accountId, to: target, ok });
      else ctx.out.say(`${runtime.accountId}: ${ok ? `restored to ${target.openclaw}/${target.runtimeService}` : "rollback FAILED (see history)"}`);
      return ok ? EXIT_OK : EXIT_FAILED;
    } finally {
      await store.releaseLock(sc.stack, holder);
    }
  } finally {
    await store.close();
  }
}

/** --to as given, else the versions this runtime ran before its last successful upgrade. */
async function rollbackTarget(store: FleetStore, stack: string, runtime: ResolvedRuntime, opts: { to?: string; runtimeService?: string }) {
  if (opts.to !== undefined) return { openclaw: opts.to, runtimeService: opts.runtimeService ?? runtime.runtimeService };
  const history = await store.listUpgrades({ stack, accountId: runtime.accountId, limit: 50 });
  const last = history.items.find((e) => e.status === "success" && e.toOpenclaw === runtime.openclaw);
  if (!last) throw new UsageError(`--to: no earlier version of ${runtime.accountId} in its history; pass --to VERSION`);
  return { openclaw: last.fromOpenclaw, runtimeService: opts.runtimeService ?? last.fromRuntimeService };
}
