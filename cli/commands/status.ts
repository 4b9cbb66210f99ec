// `fleet status` (the fleet overview) and `fleet history` (upgrade records). `fleet health` lives
// with the monitor (commands/monitor.ts).
import type { Command } from "commander";
import { isAccountId, isRolloutId, ACCOUNT_ID_EXPECTED } from "../../fleet/ids";
import { formatDuration } from "../../fleet/units";
import { analysesOf, currentStep, describeStep, pauseOf } from "../../fleet/steps";
import { describeAnalyses } from "../analysisText";
import type { FleetStore, RolloutRecord, UpgradeEvent } from "../../store/types";
import { flushOutbox } from "../../store/outbox";
import type { CommandContext, Run } from "../cli";
import { checkHistoryCursor, defaultStorePath, openFleetStore, stackContext } from "../../control/context";
import { EXIT_OK, UsageError } from "../../control/errors";
import path from "node:path";
import { printable } from "../text";


export function registerStatus(program: Command, run: Run): void {
  program
    .command("status")
    .description("the fleet overview: totals, by status, by version (below minimum flagged), recent rollouts")
    .action(async (_opts: unknown, cmd: Command) => run((ctx) => statusCommand(ctx), cmd));
  program
    .command("history")
    .description("upgrade records, newest first")
    .option("--runtime <account>", "one runtime's history")
    .option("--rollout <id>", "one rollout's records")
    .option("--limit <n>", "records per page (1..200)", "20")
    .option("--cursor <cursor>", "the next page (printed at the end of the previous one)")
    .action(async (opts: { runtime?: string; rollout?: string; limit: string; cursor?: string }, cmd: Command) =>
      run((ctx) => historyCommand(ctx, opts), cmd),
    );
}

/** Records that waited in the outbox (a store that was down during a deploy) are delivered first. */
async function withStore<T>(ctx: CommandContext, fn: (store: FleetStore) => Promise<T>): Promise<T> {
  const store = await openFleetStore(ctx.projectDir);
  try {
    await flushOutbox(path.join(path.dirname(defaultStorePath(ctx.projectDir)), "outbox"), store).catch(() => 0);
    return await fn(store);
  } finally {
    await store.close();
  }
}

const pct = (n: number) => `${Math.round(n * 10) / 10}%`;
const bar = (share: number, width = 30) => "█".repeat(Math.round((share / 100) * width));

async function statusCommand(ctx: CommandContext): Promise<number> {
  const sc = await stackContext(ctx);
  const fleet = sc.loadFleet();
  return withStore(ctx, async (store) => {
    const overview = await store.overview({ stack: sc.stack, recentRollouts: 5 });
    const active = await store.activeRollout(sc.stack);
    if (ctx.out.json) {
      ctx.out.emit({ stack: sc.stack, configured: fleet.runtimes.length, release: fleet.release, ...overview, activeRollout: active ? rolloutView(active) : null });
      return EXIT_OK;
    }
    const lines = [`stack ${sc.stack}: ${overview.total} runtimes observed (${fleet.runtimes.length} configured), release ${fleet.release.openclaw} / ${fleet.release.runtimeService}`];
    if (overview.total === 0) lines.push("  nothing observed yet: run `fleet health` or a rollout");
    lines.push("by status:");
    for (const r of overview.byStatus) lines.push(`  ${printable(r.status).padEnd(12)} ${String(r.count).padStart(5)} ${pct(r.percent).padStart(7)}  ${bar(r.percent)}`);
    lines.push(`by openclaw version (minimum supported ${overview.minSupportedOpenclaw ?? fleet.policy.minSupportedOpenclaw}):`);
    for (const r of overview.byOpenclawVersion) {
      const flag = r.belowMinimum ? "  <- below minimum supported" : "";
      lines.push(`  ${printable(r.label).padEnd(12)} ${String(r.count).padStart(5)} ${pct(r.percent).padStart(7)}  ${bar(r.percent)}${flag}`);
    }
    if (active) lines.push(...rolloutLines(active, Date.now()));
    lines.push("recent rollouts:");
    if (overview.recentRollouts.length === 0) lines.push("  none");
    for (const r of overview.recentRollouts) {
      lines.push(
        `  ${new Date(r.createdAt).toISOString()}  ${printable(r.target.openclaw).padEnd(8)} ${printable(r.strategy).padEnd(9)} ${printable(r.status).padEnd(9)} success ${pct(r.successRate)}  failed ${pct(r.failureRate)}  ${r.durationMs !== undefined ? formatDuration(r.durationMs / 1000) : "-"}`,
      );
    }
    const alerts = overview.openAlerts;
    if (alerts.critical + alerts.high + alerts.medium > 0) lines.push(`open alerts: ${alerts.critical} critical, ${alerts.high} high, ${alerts.medium} medium`);
    ctx.out.say(lines.join("\n"));
    return EXIT_OK;
  });
}

/** The active rollout as `--json` shows it: its record, why it is paused (if it is) and its current step. */
export function rolloutView(r: RolloutRecord) {
  const pause = pauseOf(r);
  const step = currentStep(r.steps);
  return { ...r, ...(pause ? { pause } : {}), ...(step ? { step } : {}) };
}

/** The active rollout in `fleet status`: where it is, and for a pause why, since when and what is left. */
export function rolloutLines(r: RolloutRecord, now: number): string[] {
  const batch = Math.min(r.currentBatch + 1, r.batches.length);
  const lines = [`rollout in progress: ${printable(r.rolloutId)} (${printable(r.status)}) to ${printable(r.target.openclaw)}, batch ${batch}/${r.batches.length}`];
  const pause = pauseOf(r);
  if (pause) {
    const left = pause.remainingSeconds !== undefined ? `; ${formatDuration(pause.remainingSeconds)} left of its ${printable(currentStep(r.steps)?.kind ?? "step")} when resumed` : "";
    lines.push(`  paused since ${new Date(pause.since).toISOString()} (${formatDuration(Math.max(0, now - pause.since) / 1000)} ago): ${printable(pause.reason)}${left}`);
  }
  const step = currentStep(r.steps);
  if (step) lines.push(`  step: ${printable(describeStep(step, r.batches.length))}`);
  return lines;
}

async function historyCommand(ctx: CommandContext, opts: { runtime?: string; rollout?: string; limit: string; cursor?: string }): Promise<number> {
  const sc = await stackContext(ctx);
  if (opts.runtime !== undefined && !isAccountId(opts.runtime)) {
    throw new UsageError(`--runtime: ${JSON.stringify(opts.runtime)} is not an account id (${ACCOUNT_ID_EXPECTED})`);
  }
  const limit = Number(opts.limit);
  if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > 200) throw new UsageError(`--limit: ${JSON.stringify(opts.limit)} is not a number from 1 to 200`);
  if (opts.rollout !== undefined && !isRolloutId(opts.rollout)) throw new UsageError(`--rollout: ${JSON.stringify(opts.rollout)} is not a rollout id (expected ro_...)`);
  if (opts.cursor !== undefined) checkHistoryCursor(opts.cursor, "--cursor", defaultStorePath(ctx.projectDir));
  return withStore(ctx, async (store) => {
    const page = await store.listUpgrades({
      stack: sc.stack,
      limit,
      ...(opts.runtime ? { accountId: opts.runtime } : {}),
      ...(opts.rollout ? { rolloutId: opts.rollout } : {}),
      ...(opts.cursor ? { cursor: opts.cursor } : {}),
    });
    // One rollout's history also shows each canary analysis it recorded, with its numbers.
    const analyses = opts.rollout ? analysesOf((await store.getRollout(opts.rollout))?.steps) : [];
    if (ctx.out.json) {
      ctx.out.emit(opts.rollout ? { ...page, analyses } : page);
      return EXIT_OK;
    }
    if (page.items.length === 0) ctx.out.say("no upgrade records");
    for (const e of page.items) ctx.out.say(historyLine(e));
    if (!page.isDone && page.cursor) ctx.out.say(`more: fleet history --cursor ${page.cursor}`);
    for (const line of describeAnalyses(analyses)) ctx.out.say(line);
    return EXIT_OK;
  });
}

export function historyLine(e: UpgradeEvent): string {
  const when = new Date(e.completedAt ?? e.startedAt).toISOString();
  const took = e.durationMs !== undefined ? formatDuration(e.durationMs / 1000) : "-";
  const why = e.reason ? ` (${printable(e.reason)})` : "";
  const err = e.error ? ` error: ${printable(e.error)}` : "";
  return `${when}  ${printable(e.accountId).padEnd(14)} ${printable(e.fromOpenclaw)} -> ${printable(e.toOpenclaw)}  ${printable(e.status).padEnd(11)} ${took.padStart(6)}  by ${printable(e.initiatedBy)}${e.rolloutId ? ` [${printable(e.rolloutId)}]` : ""}${why}${err}`;
}
