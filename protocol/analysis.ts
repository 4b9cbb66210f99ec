// The canary analysis as a rollout records it: the upgraded cohort against a control cohort still
// on the old release, over the same window, metric by metric. Written by control/ (the analysis
// step of the rollout's step machine), judged by fleet/ (the statistics), read by the CLI's
// history and the dashboard. Samples are capped so a record stays well inside a Convex document.
import { z } from "zod";
import { ANALYSIS_DECISIONS, MAX_ANALYSIS_COHORT, MAX_ANALYSIS_METRICS, MAX_ANALYSIS_SAMPLES, METRIC_VERDICTS } from "../fleet/analysis";
import type { AnalysisResult as JudgedResult } from "../fleet/analysis";
import { MAX_NAME, MAX_REASON, accountId, nonNegative, num, text } from "./fields";

/** off: no analysis step. observe: recorded, never acted on (a rehearsal). enforce: decides. */
export const ANALYSIS_MODES = ["off", "observe", "enforce"] as const;
// The verdicts, decisions and caps are fleet/'s (the judge builds the record); defined once there.
export { ANALYSIS_DECISIONS, MAX_ANALYSIS_COHORT, MAX_ANALYSIS_METRICS, MAX_ANALYSIS_SAMPLES, METRIC_VERDICTS } from "../fleet/analysis";

export const analysisMode = z.enum(ANALYSIS_MODES);
export const metricVerdict = z.enum(METRIC_VERDICTS);
export const analysisDecision = z.enum(ANALYSIS_DECISIONS);

export const metricAnalysis = z.strictObject({
  /** The metric's name as policy and the dashboard say it (e.g. "error_rate", "latency_ms"). */
  metric: text(MAX_NAME),
  /** A critical metric fails the analysis on its own. */
  critical: z.boolean(),
  weight: nonNegative,
  verdict: metricVerdict,
  /** The samples compared (canary cohort, control cohort), capped at MAX_ANALYSIS_SAMPLES. */
  canary: z.array(num).max(MAX_ANALYSIS_SAMPLES),
  control: z.array(num).max(MAX_ANALYSIS_SAMPLES),
  /** Mann-Whitney U of canary against control, its two-sided p-value, and the effect size. */
  u: num.optional(),
  p: num.optional(),
  effect: num.optional(),
  /** Only a change for the worse counts against the release. */
  direction: z.enum(["worse", "better", "none"]).optional(),
  reason: text(MAX_REASON),
});

export const analysisResult = z.strictObject({
  at: num,
  batch: nonNegative,
  mode: z.enum(["observe", "enforce"]),
  windowStart: num,
  windowEnd: num,
  canary: z.array(accountId).max(MAX_ANALYSIS_COHORT),
  control: z.array(accountId).max(MAX_ANALYSIS_COHORT),
  metrics: z.array(metricAnalysis).max(MAX_ANALYSIS_METRICS),
  /** Weighted score 0..100 against the policy's pass and marginal thresholds. */
  score: num.min(0).max(100),
  verdict: metricVerdict,
  /** What the analysis decided; in observe mode the rollout does not act on it. */
  decision: analysisDecision,
  reason: text(MAX_REASON),
});

export type AnalysisMode = z.infer<typeof analysisMode>;
export type MetricAnalysis = z.infer<typeof metricAnalysis>;
export type AnalysisResult = z.infer<typeof analysisResult>;

// The record and the judge's result are one shape: a field of another type, or a required field
// on one side only, fails the typecheck.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<AnalysisResult, JudgedResult> = true;
void sameShape;
