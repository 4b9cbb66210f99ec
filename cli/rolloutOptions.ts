// The commander options of `fleet plan` and `fleet rollout`; control/options.ts resolves them.
import type { Command } from "commander";
import { STRATEGIES } from "../fleet/config";
import { DEFAULT_GATE_THRESHOLDS as D } from "../fleet/gates";
import { ANALYSIS_MODES } from "../protocol/analysis";

/** Adds the options shared by `fleet plan` and `fleet rollout`. */
export function addRolloutOptions(cmd: Command): Command {
  // Commander keeps only the last of --auto-rollback / --no-auto-rollback: note when both came.
  const given = new Set<string>();
  const note = (flag: string) => () => {
    given.add(flag);
    if (given.size === 2) cmd.setOptionValue("autoRollbackBoth", true);
  };
  cmd.on("option:auto-rollback", note("on")).on("option:no-auto-rollback", note("off"));
  return cmd
    .option("--to <version>", "target openclaw release (vMAJOR.MINOR.PATCH)")
    .option("--runtime-service <version>", "target runtime service release (default: fleet:release.runtimeService)")
    .option("--strategy <strategy>", `${STRATEGIES.join(" | ")} (default: fleet:policy.strategy)`)
    .option("--batch <size>", "batch size: a percentage (10%) or a count (default: fleet:policy.batchPercent)")
    .option("--ramp <sizes>", "ramped batch sizes, the last repeating, e.g. 1,5%,25%,100%")
    .option("--wait <duration>", "wait between batches (default: fleet:policy.waitSeconds, 60s)")
    .option("--bake <duration>", "canary bake time (default: fleet:policy.bakeMinutes, 30m)")
    .option("--max-batch-failure <percent>", `halt when a batch's failure rate exceeds this (default: fleet:policy, ${D.maxBatchFailurePercent}%)`)
    .option("--pause-on-failure <percent>", `pause when the rollout's failure rate exceeds this (default: fleet:policy, ${D.pauseOnFailurePercent}%)`)
    .option("--min-healthy <percent>", `hold the next batch while less of the fleet is healthy (default: fleet:policy, ${D.minHealthyPercent}%)`)
    .option("--auto-rollback", "restore failed runtimes to their previous versions (default)")
    .option("--no-auto-rollback", "leave failed runtimes as they are")
    .option("--skip-upgraded", "leave out runtimes already on the target")
    .option("--allow-downgrade", "consent to moving runtimes to an older release")
    .option("--reason <text>", "why (recorded with the rollout)")
    .option("--canary <account>", "the canary (default: the runtimes marked canary: true)")
    .option("--runtime <account...>", "only these runtimes")
    .option("--analysis <mode>", `canary analysis against runtimes still on the old release: ${ANALYSIS_MODES.join(" | ")} (default: off)`)
    .option("--analysis-window <duration>", "analysis window of a batch without a bake (default: 0, none)");
}
