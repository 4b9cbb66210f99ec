// `fleet rollout` (+ resume, pause, abort) and `fleet rollback`: parse, call control/operations,
// print. No rollout logic here (`fleet plan` is cli/commands/plan.ts).
import os from "node:os";
import type { Command } from "commander";
import type { CommandContext, Run } from "../cli";
import { actorName, openFleetStore, stackContext, type StackContext } from "../../control/context";
import { EXIT_FAILED, EXIT_OK } from "../../control/errors";
import type { RolloutOutcome } from "../../control/orchestrator";
import { initiator, type RolloutCliOptions } from "../../control/options";
import {
  abortRollout,
  checkRolloutId,
  pauseRollout,
  resumeRollout,
  rollbackRuntime,
  startRollout,
  type Operator,
  type RollbackRequest,
  type RollbackResult,
} from "../../control/operations";
import type { MigratingCrossing } from "../../fleet/plan";
import type { FleetStore } from "../../store/types";
import { progressSink } from "../progress";
import { addRolloutOptions } from "../rolloutOptions";
import { printable } from "../text";


export function registerRollout(program: Command, run: Run): void {
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
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => run((ctx) => stopCommand(ctx, id, "pause"), cmd));
  rollout
    .command("abort [rolloutId]")
    .description("end the rollout: no further batch runs (runtimes already upgraded stay so)")
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => run((ctx) => stopCommand(ctx, id, "abort"), cmd));

  program
    .command("rollback")
    .description("set a runtime back to its previous (or a given) version and apply it")
    .requiredOption("--runtime <account>", "the runtime")
    .option("--to <version>", "the openclaw release to go back to (default: the one before its last upgrade)")
    .option("--runtime-service <version>", "the runtime service release to go back to (default: with --to unchanged, else the previous)")
    .option("--reason <text>", "why (recorded)")
    .action(async (opts: RollbackRequest, cmd: Command) => run((ctx) => rollbackCommand(ctx, opts), cmd));
}

/**
 * Runs `fn` with the CLI's operator: the store is opened only when an operation asks for it
 * (after its input is checked), and closed at the end.
 */
async function withOperator<T>(ctx: CommandContext, sc: StackContext, fn: (op: Operator) => Promise<T>, actor = actorName()): Promise<T> {
  let opened: Promise<FleetStore> | undefined;
  const op: Operator = {
    where: ctx,
    sc,
    store: () => (opened ??= openFleetStore(ctx.projectDir)),
    actor,
    via: "on request",
    progress: progressSink({
      json: ctx.out.json,
      tty: Boolean(process.stdout.isTTY) && !ctx.out.json,
      write: (t) => process.stdout.write(t),
    }),
  };
  try {
    return await fn(op);
  } finally {
    if (opened) await (await opened).close();
  }
}

/** The rollback's one line: where it went, the snapshot it restored across a migrating release, or why not. */
export function describeRollback(r: RollbackResult): string {
  const to = `${r.to.openclaw}/${r.to.runtimeService}`;
  const across = r.crosses.length > 0 ? ` across migrating ${r.crosses.join(", ")}` : "";
  if (r.ok) return `${r.accountId}: restored to ${to}${across ? `${across}, with the snapshot of its ${to} state` : ""}`;
  return `${r.accountId}: rollback to ${to}${across} FAILED: ${r.reason ? printable(r.reason) : "see history"}`;
}

/** One line per migrating release the rollout crosses: the state changes with it. */
export function describeCrossings(crossings: readonly MigratingCrossing[]): string[] {
  return crossings.map((c) =>
    c.direction === "forward"
      ? `  crosses migrating release ${c.release} (${c.accountIds.length} runtimes: ${c.accountIds.join(", ")}): it rewrites their state; going back needs the snapshot each host takes before it`
      : `  goes back across migrating release ${c.release} (${c.accountIds.length} runtimes: ${c.accountIds.join(", ")}): each host restores the snapshot from before it, or refuses`,
  );
}

async function rolloutCommand(ctx: CommandContext, opts: RolloutCliOptions): Promise<number> {
  const sc = await stackContext(ctx);
  const actor = initiator(process.env, process.env.USER ?? os.userInfo().username, os.hostname());
  return withOperator(
    ctx,
    sc,
    async (op) => {
      const started = await startRollout(op, { options: opts });
      return report(ctx, await started.outcome);
    },
    actor,
  );
}

function report(ctx: CommandContext, outcome: RolloutOutcome): number {
  if (ctx.out.json) ctx.out.emit({ type: "result", ...outcome });
  else if (outcome.status === "paused") ctx.out.say(`paused: continue with \`fleet rollout resume ${outcome.rolloutId}\` or end it with \`fleet rollout abort\``);
  return outcome.status === "completed" && outcome.failed.length === 0 ? EXIT_OK : EXIT_FAILED;
}

async function resumeCommand(ctx: CommandContext, id: string | undefined, breakLock: boolean): Promise<number> {
  if (id !== undefined) checkRolloutId(id);
  const sc = await stackContext(ctx);
  return withOperator(ctx, sc, async (op) => report(ctx, await (await resumeRollout(op, id, { breakLock })).outcome));
}

async function stopCommand(ctx: CommandContext, id: string | undefined, action: "pause" | "abort"): Promise<number> {
  if (id !== undefined) checkRolloutId(id);
  const sc = await stackContext(ctx);
  return withOperator(ctx, sc, async (op) => {
    const r = action === "pause" ? await pauseRollout(op, id) : await abortRollout(op, id);
    if (ctx.out.json) ctx.out.emit(r);
    else ctx.out.say(`rollout ${r.rolloutId}: ${r.status === "paused" ? "pause requested (it stops after its current step)" : "aborted"}`);
    return EXIT_OK;
  });
}

async function rollbackCommand(ctx: CommandContext, opts: RollbackRequest): Promise<number> {
  const sc = await stackContext(ctx);
  return withOperator(ctx, sc, async (op) => {
    const r = await rollbackRuntime(op, opts);
    if (ctx.out.json) ctx.out.emit(r);
    else ctx.out.say(describeRollback(r));
    return r.ok ? EXIT_OK : EXIT_FAILED;
  });
}
