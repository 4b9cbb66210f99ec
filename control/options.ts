// `fleet plan` / `fleet rollout` options (and the dashboard's form, turned into them): parsed and
// checked once, defaults from fleet:policy. The commander part is cli/rolloutOptions.ts.
import type { FleetConfig, Strategy } from "../fleet/config";
import { STRATEGIES } from "../fleet/config";
import { isAccountId, ACCOUNT_ID_EXPECTED } from "../fleet/ids";
import { parseRamp, parseSizeStep, type PlanOptions, type SizeStep } from "../fleet/plan";
import { parseDuration, parsePercent } from "../fleet/units";
import { isReleaseTag, releaseTagProblem } from "../fleet/versions";
import type { GateThresholds } from "../fleet/gates";
import { ANALYSIS_MODES, type AnalysisMode } from "../protocol/analysis";
import { UsageError } from "./errors";
import type { RolloutSettings } from "./orchestrator";

export interface RolloutCliOptions {
  to?: string;
  runtimeService?: string;
  strategy?: string;
  batch?: string;
  ramp?: string;
  wait?: string;
  bake?: string;
  maxBatchFailure?: string;
  pauseOnFailure?: string;
  minHealthy?: string;
  autoRollback?: boolean;
  /** Both --auto-rollback and --no-auto-rollback were given (commander keeps only the last). */
  autoRollbackBoth?: boolean;
  skipUpgraded?: boolean;
  allowDowngrade?: boolean;
  reason?: string;
  canary?: string;
  runtime?: string[];
  /** The canary analysis: off (default), observe or enforce. */
  analysis?: string;
  /** Its window for batches without a bake (a duration; default 0: none). */
  analysisWindow?: string;
}

const MAX_REASON = 500;

export interface ResolvedRolloutOptions {
  plan: PlanOptions;
  settings: RolloutSettings;
  reason?: string;
  /** Options as given, for the record. */
  recorded: Record<string, unknown>;
}

export function resolveRolloutOptions(cli: RolloutCliOptions, fleet: FleetConfig): ResolvedRolloutOptions {
  const policy = fleet.policy;
  if (cli.to === undefined) throw new UsageError("--to: missing (the target openclaw release, e.g. --to v1.2.5)");
  if (!isReleaseTag(cli.to)) throw new UsageError(`--to: ${releaseTagProblem(cli.to)}`);
  if (cli.runtimeService !== undefined && !isReleaseTag(cli.runtimeService)) {
    throw new UsageError(`--runtime-service: ${releaseTagProblem(cli.runtimeService)}`);
  }
  const strategy = (cli.strategy ?? policy.strategy) as Strategy;
  if (!STRATEGIES.includes(strategy)) {
    throw new UsageError(`--strategy: ${JSON.stringify(cli.strategy)} is not a strategy (expected ${STRATEGIES.join(", ")})`);
  }
  if (cli.batch !== undefined && cli.ramp !== undefined) throw new UsageError("--batch and --ramp: give one or the other");
  if (cli.autoRollbackBoth) throw new UsageError("--auto-rollback and --no-auto-rollback: give one or the other");
  let ramp: SizeStep[] | undefined;
  if (cli.ramp !== undefined) ramp = parseRamp(cli.ramp, "--ramp");
  else if (cli.batch !== undefined) ramp = [parseSizeStep(cli.batch, "--batch")];
  for (const id of [...(cli.runtime ?? []), ...(cli.canary !== undefined ? [cli.canary] : [])]) {
    if (!isAccountId(id)) throw new UsageError(`--runtime/--canary: ${JSON.stringify(id)} is not an account id (${ACCOUNT_ID_EXPECTED})`);
  }
  if (cli.reason !== undefined && (cli.reason.length > MAX_REASON || [...cli.reason].some((c) => c < " "))) {
    throw new UsageError(`--reason: expected one line of at most ${MAX_REASON} characters`);
  }
  const analysis = (cli.analysis ?? "off") as AnalysisMode;
  if (!ANALYSIS_MODES.includes(analysis)) throw new UsageError(`--analysis: ${JSON.stringify(cli.analysis)} is not an analysis mode (expected ${ANALYSIS_MODES.join(", ")})`);
  const analysisWindowSeconds = cli.analysisWindow !== undefined ? parseDuration(cli.analysisWindow, "--analysis-window", 86_400) : 0;
  const waitSeconds = cli.wait !== undefined ? parseDuration(cli.wait, "--wait", 86_400) : policy.waitSeconds;
  const bakeMinutes = cli.bake !== undefined ? parseDuration(cli.bake, "--bake", 86_400) / 60 : policy.bakeMinutes;
  const thresholds = {
    maxBatchFailurePercent: cli.maxBatchFailure !== undefined ? parsePercent(cli.maxBatchFailure, "--max-batch-failure") : policy.maxBatchFailurePercent,
    pauseOnFailurePercent: cli.pauseOnFailure !== undefined ? parsePercent(cli.pauseOnFailure, "--pause-on-failure") : policy.pauseOnFailurePercent,
    minHealthyPercent: cli.minHealthy !== undefined ? parsePercent(cli.minHealthy, "--min-healthy") : policy.minHealthyPercent,
    autoRollback: cli.autoRollback ?? policy.autoRollback,
  };
  const plan: PlanOptions = {
    strategy,
    // The runtime service goes to the fleet's release unless the rollout names one.
    target: { openclaw: cli.to, runtimeService: cli.runtimeService ?? fleet.release.runtimeService },
    batchPercent: policy.batchPercent,
    minSupportedOpenclaw: policy.minSupportedOpenclaw,
    waitSeconds,
    bakeMinutes,
    ...(ramp ? { ramp } : {}),
    ...(cli.canary !== undefined ? { canary: cli.canary } : {}),
    ...(cli.skipUpgraded ? { skipUpgraded: true } : {}),
    ...(cli.allowDowngrade ? { allowDowngrade: true } : {}),
    ...(cli.runtime && cli.runtime.length > 0 ? { only: cli.runtime } : {}),
  };
  return {
    plan,
    settings: settingsFor(waitSeconds, bakeMinutes, thresholds, { analysis, analysisWindowSeconds }),
    ...(cli.reason ? { reason: cli.reason } : {}),
    recorded: {
      ...(cli.batch ? { batch: cli.batch } : {}),
      ...(cli.ramp ? { ramp: cli.ramp } : {}),
      ...(cli.canary ? { canary: cli.canary } : {}),
      skipUpgraded: Boolean(cli.skipUpgraded),
      allowDowngrade: Boolean(cli.allowDowngrade),
    },
  };
}

/** A rollout's settings from its wait, bake, thresholds and analysis (new, or read back from its record). */
export function settingsFor(waitSeconds: number, bakeMinutes: number, thresholds: GateThresholds, analysis: { analysis: AnalysisMode; analysisWindowSeconds: number } = { analysis: "off", analysisWindowSeconds: 0 }): RolloutSettings {
  return {
    waitSeconds,
    bakeMinutes,
    thresholds,
    bakeProbeSeconds: Math.max(1, Math.min(30, (bakeMinutes * 60) / 10)),
    healthRecheckSeconds: Math.max(1, Math.min(30, waitSeconds || 5)),
    maxHealthWaits: 10,
    ...analysis,
  };
}

/** Who ran it: the CI actor in GitHub Actions, else the local user. */
export function initiator(env: NodeJS.ProcessEnv = process.env, user = "unknown", host = "localhost"): string {
  if (env.GITHUB_ACTIONS === "true" && env.GITHUB_ACTOR) {
    const run = env.GITHUB_RUN_ID ? ` run ${env.GITHUB_RUN_ID}` : "";
    return `github:${env.GITHUB_ACTOR} (${env.GITHUB_WORKFLOW ?? "workflow"}${run})`;
  }
  return `${env.FLEET_ACTOR ?? env.USER ?? user}@${host}`;
}
