// `fleet plan`: the batches a rollout would run, how long it would take (measured from the stack's
// past rollouts, else the model of a batch's cost; with its basis), and what `pulumi preview`
// says will change. Parse, call control/ and store/, print.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import type { CommandContext, Run } from "../cli";
import { defaultStorePath, openFleetStore, stackContext } from "../../control/context";
import type { ChangeSummary } from "../../control/engine";
import { EXIT_FAILED, EXIT_OK } from "../../control/errors";
import type { RolloutCliOptions } from "../../control/options";
import { describePlan, planRollout, previewPlan } from "../../control/operations";
import { describeEstimate, estimateRollout, migratingCrossings, type PastRollout } from "../../fleet/plan";
import { chooseStore } from "../../store";
import { addRolloutOptions } from "../rolloutOptions";
import { printable } from "../text";
import { describeAnalysisPolicy } from "../analysisText";
import { describeCrossings } from "./rollout";

/** Past rollouts read for the estimate (newest first; the estimate measures the completed ones). */
const HISTORY_READ = 20;

export function registerPlan(program: Command, run: Run): void {
  addRolloutOptions(
    program.command("plan").description("show the batches a rollout would run, how long it would take, and what `pulumi preview` says will change"),
  )
    .option("--no-preview", "skip `pulumi preview` (the plan alone)")
    .action(async (opts: RolloutCliOptions & { preview: boolean }, cmd: Command) => run((ctx) => planCommand(ctx, opts), cmd));
}

/**
 * The stack's past rollouts, or why there are none to read. A plan changes nothing: an embedded
 * store that does not exist yet is not created, and a store that cannot be read leaves the model.
 */
export async function pastRollouts(projectDir: string, stack: string): Promise<{ history: PastRollout[] } | { why: string }> {
  const choice = chooseStore({ localPath: defaultStorePath(projectDir) });
  if (choice.kind === "local" && !existsSync(choice.location)) return { why: "no rollout recorded yet: the store is empty" };
  try {
    const store = await openFleetStore(projectDir);
    try {
      return { history: await store.listRollouts({ stack, limit: HISTORY_READ }) };
    } finally {
      await store.close();
    }
  } catch (e) {
    return { why: `the store could not be read: ${e instanceof Error ? e.message : String(e)}` };
  }
}

async function planCommand(ctx: CommandContext, opts: RolloutCliOptions & { preview: boolean }): Promise<number> {
  const sc = await stackContext(ctx);
  const { fleet, plan: planned, resolved } = planRollout(sc, opts);
  const past = await pastRollouts(ctx.projectDir, sc.stack);
  const estimate = estimateRollout(planned.batches, resolved.plan, {
    fleetSize: fleet.runtimes.length,
    ...("history" in past ? { history: past.history } : { noHistory: past.why }),
    // A rollout starts as this command did (Node, the CLI, the stack config, the store opened)
    // before its first batch, which no record times: this command's age now measures it.
    startSeconds: (performance.now() - (ctx.startedAt ?? performance.now())) / 1000,
  });
  // One estimate, everywhere the plan shows one.
  const plan = { ...planned, estimatedSeconds: estimate.seconds };
  let preview: { ok: boolean; changes: ChangeSummary[]; errors: string[] } | undefined;
  if (opts.preview) preview = await previewPlan(ctx, sc, fleet, plan);
  const migrating = migratingCrossings(plan.moves, fleet.policy.migratingReleases);
  const analysis = fleet.policy.analysis;
  if (ctx.out.json) ctx.out.emit({ stack: sc.stack, plan, estimate, migrating, analysis, ...(preview ? { preview } : {}) });
  else {
    ctx.out.say(describePlan(sc.stack, plan));
    ctx.out.say(describeEstimate(estimate));
    for (const line of describeCrossings(migrating)) ctx.out.say(line);
    for (const line of describeAnalysisPolicy(analysis)) ctx.out.say(line);
    if (preview) ctx.out.say(describePreview(preview));
  }
  return preview && !preview.ok ? EXIT_FAILED : EXIT_OK;
}

function describePreview(p: { ok: boolean; changes: ChangeSummary[]; errors: string[] }): string {
  if (!p.ok) return `pulumi preview failed:\n${p.errors.map(printable).join("\n")}`;
  if (p.changes.length === 0) return "pulumi preview: no changes";
  const lines = ["pulumi preview:"];
  const sorted = [...p.changes].sort((a, b) => a.accountId.localeCompare(b.accountId) || a.resource.localeCompare(b.resource));
  for (const c of sorted) lines.push(`  ${printable(`${c.accountId}-${c.resource}`)}: ${printable(c.op)}${c.diffs.length ? ` [${printable(c.diffs.join(", "))}]` : ""}`);
  return lines.join("\n");
}
