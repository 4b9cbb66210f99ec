// The canary judge: the upgraded cohort against a control cohort still on the old release,
// sampled over the same window, metric by metric. Comparing concurrent cohorts removes what the
// time of day, load and incidents do to both; each upgraded runtime is also held against its own
// pre-upgrade window when one is known. Only a change for the worse counts. Pure, no I/O.
import type { AnalysisPolicy } from "./config";
import { mannWhitneyU, median, probabilityOfSuperiority } from "./stats";

export const METRIC_VERDICTS = ["pass", "marginal", "fail", "inconclusive"] as const;
/** What the analysis decides for the rollout: go on, pause for a person, or halt (and roll back). */
export const ANALYSIS_DECISIONS = ["go", "pause", "halt"] as const;
/** Most samples a record keeps per cohort and metric (the judge may have seen more). */
export const MAX_ANALYSIS_SAMPLES = 400;
export const MAX_ANALYSIS_COHORT = 200;
export const MAX_ANALYSIS_METRICS = 20;

/** The shape protocol/analysis.ts records (it checks its zod schema against these types). */
export interface MetricAnalysis {
  metric: string;
  critical: boolean;
  weight: number;
  verdict: (typeof METRIC_VERDICTS)[number];
  canary: number[];
  control: number[];
  u?: number;
  p?: number;
  effect?: number;
  direction?: "worse" | "better" | "none";
  reason: string;
}

export interface AnalysisResult {
  at: number;
  batch: number;
  mode: "observe" | "enforce";
  windowStart: number;
  windowEnd: number;
  canary: string[];
  control: string[];
  metrics: MetricAnalysis[];
  score: number;
  verdict: (typeof METRIC_VERDICTS)[number];
  decision: (typeof ANALYSIS_DECISIONS)[number];
  reason: string;
}

/** The weighted metrics (their weight and tolerance are policy) and the critical ones (fail alone). */
export const WEIGHTED_METRICS = ["error_rate", "latency_ms", "notification_failure_rate"] as const;
export const CRITICAL_METRICS = ["restarts", "health"] as const;
export type WeightedMetric = (typeof WEIGHTED_METRICS)[number];
export type CriticalMetric = (typeof CRITICAL_METRICS)[number];
export type MetricName = WeightedMetric | CriticalMetric;

/** Units for people (the CLI's and the dashboard's labels). */
export const METRIC_UNITS: Record<MetricName, string> = {
  error_rate: "% of requests",
  latency_ms: "ms (mean)",
  notification_failure_rate: "% of notifications",
  restarts: "restarts per interval",
  health: "1 = healthy",
};

/** One runtime's samples over a window: one value per interval and metric (higher is worse, except health). */
export interface RuntimeSeries {
  accountId: string;
  samples: Partial<Record<MetricName, number[]>>;
}

export interface JudgeInput {
  at: number;
  batch: number;
  mode: "observe" | "enforce";
  windowStart: number;
  windowEnd: number;
  canary: readonly RuntimeSeries[];
  control: readonly RuntimeSeries[];
  /** Each canary runtime's own samples from before its upgrade, where known. */
  baseline?: readonly RuntimeSeries[];
  policy: AnalysisPolicy;
}

const RANK = { pass: 0, inconclusive: 1, marginal: 2, fail: 3 } as const;
type Verdict = MetricAnalysis["verdict"];

/** A series' finite values of a metric (a sample that is not a number is no evidence either way). */
const valuesOf = (s: RuntimeSeries | undefined, metric: MetricName) => (s?.samples[metric] ?? []).filter(Number.isFinite);
const pooled = (series: readonly RuntimeSeries[], metric: MetricName) => series.flatMap((s) => valuesOf(s, metric));

/** At most MAX_ANALYSIS_SAMPLES, evenly spread over the window (the judge saw them all). */
export function capSamples(values: readonly number[], max = MAX_ANALYSIS_SAMPLES): number[] {
  if (values.length <= max) return [...values];
  return Array.from({ length: max }, (_, i) => values[Math.floor((i * values.length) / max)]!);
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits));
const fmt = (n: number) => String(round(n));

interface Comparison {
  verdict: Verdict;
  u: number;
  p: number;
  effect: number;
  direction: "worse" | "better" | "none";
  shift: number;
}

/**
 * Canary values against reference values of a metric where higher is worse: significant (p
 * below marginalP) and for the worse, by at least half the tolerance, is marginal; by the whole
 * tolerance with p below failP, fail. A significant but smaller shift is no regression.
 */
export function compare(canary: readonly number[], reference: readonly number[], tolerance: number, policy: Pick<AnalysisPolicy, "marginalP" | "failP">): Comparison {
  const mw = mannWhitneyU(canary, reference);
  // rank-biserial correlation: -1..1, above 0 when the canary's values tend to be higher
  const effect = 2 * probabilityOfSuperiority(mw.u, canary.length, reference.length) - 1;
  const shift = median(canary) - median(reference);
  const direction = mw.p >= policy.marginalP || effect === 0 ? "none" : effect > 0 ? "worse" : "better";
  let verdict: Verdict = "pass";
  if (direction === "worse" && shift >= tolerance / 2) verdict = mw.p < policy.failP && shift >= tolerance ? "fail" : "marginal";
  return { verdict, u: mw.u, p: mw.p, effect, direction, shift };
}

function weightedMetric(metric: WeightedMetric, input: JudgeInput): MetricAnalysis {
  const { weight, tolerance } = input.policy.metrics[metric];
  const canary = pooled(input.canary, metric);
  const control = pooled(input.control, metric);
  const base = { metric, critical: false, weight, canary: capSamples(canary), control: capSamples(control) };
  const min = input.policy.minSamples;
  if (canary.length < min || control.length < min) {
    const why = input.control.length === 0 ? "no control cohort" : `${canary.length} canary and ${control.length} control samples (needs ${min} each)`;
    return { ...base, verdict: "inconclusive", reason: `inconclusive: ${why}` };
  }
  const c = compare(canary, control, tolerance, input.policy);
  const stats = { u: c.u, p: c.p, effect: round(c.effect, 6), direction: c.direction };
  let verdict = c.verdict;
  let reason = `median ${fmt(median(canary))} vs control ${fmt(median(control))} (${c.shift >= 0 ? "+" : ""}${fmt(c.shift)}, tolerance ${fmt(tolerance)}), p=${c.p.toPrecision(3)}`;
  // Each upgraded runtime against its own pre-upgrade window: it can only make the verdict stricter.
  const worseThanItself: string[] = [];
  for (const s of input.canary) {
    const own = valuesOf(s, metric);
    const before = valuesOf(input.baseline?.find((b) => b.accountId === s.accountId), metric);
    if (own.length < min || before.length < min) continue;
    if (compare(own, before, tolerance, input.policy).verdict === "fail") worseThanItself.push(s.accountId);
  }
  if (worseThanItself.length > 0) {
    if (RANK[verdict] < RANK.marginal) verdict = "marginal";
    reason += `; worse than before its upgrade: ${worseThanItself.join(", ")}`;
  }
  return { ...base, ...stats, verdict, reason: reason.slice(0, 500) };
}

/** Restarts and health fail on their own: any restart or unhealthy sample of the canary beyond the control's rate. */
function criticalMetric(metric: CriticalMetric, input: JudgeInput): MetricAnalysis {
  const canary = pooled(input.canary, metric);
  const control = pooled(input.control, metric);
  const base = { metric, critical: true, weight: 0, canary: capSamples(canary), control: capSamples(control) };
  if (canary.length === 0) return { ...base, verdict: "inconclusive", reason: "inconclusive: no canary samples" };
  // restarts count per interval; health is 1 healthy, 0 not: both as "bad events per sample"
  const bad = (xs: number[]) => (metric === "health" ? xs.filter((x) => x < 1).length : xs.reduce((a, b) => a + b, 0));
  const rate = (xs: number[]) => (xs.length === 0 ? 0 : bad(xs) / xs.length);
  const what = metric === "health" ? "unhealthy samples" : "restarts";
  const line = `${bad(canary)} ${what} in ${canary.length} canary samples, ${bad(control)} in ${control.length} control`;
  if (bad(canary) > 0 && rate(canary) > rate(control)) return { ...base, verdict: "fail", direction: "worse", reason: `critical: ${line}` };
  return { ...base, verdict: "pass", direction: "none", reason: line };
}

/**
 * The analysis of one window. A critical failure halts. The score (0..100) is the weighted share
 * of the metrics that passed, a marginal one counting half and an inconclusive one nothing. A
 * score below marginalScore even with every inconclusive metric counted as passed halts; any
 * inconclusive metric (too few samples, no control cohort) otherwise pauses, never passes; else
 * at or above passScore go, at or above marginalScore pause, below halt.
 */
export function judge(input: JudgeInput): AnalysisResult {
  const metrics = [...WEIGHTED_METRICS.map((m) => weightedMetric(m, input)), ...CRITICAL_METRICS.map((m) => criticalMetric(m, input))].slice(0, MAX_ANALYSIS_METRICS);
  const weighted = metrics.filter((m) => !m.critical);
  const total = weighted.reduce((s, m) => s + m.weight, 0);
  const earned = (ifInconclusive: number) =>
    weighted.reduce((s, m) => s + m.weight * (m.verdict === "pass" ? 1 : m.verdict === "marginal" ? 0.5 : m.verdict === "inconclusive" ? ifInconclusive : 0), 0);
  const scoreOf = (e: number) => (total === 0 ? 100 : round((100 * e) / total, 1));
  const score = scoreOf(earned(0));
  const best = scoreOf(earned(1));
  const { passScore, marginalScore } = input.policy;
  const criticalFails = metrics.filter((m) => m.critical && m.verdict === "fail");
  const inconclusive = metrics.filter((m) => m.verdict === "inconclusive");
  const failing = weighted.filter((m) => m.verdict === "marginal" || m.verdict === "fail").map((m) => `${m.metric} ${m.verdict}`);
  const tail = failing.length > 0 ? ` (${failing.join(", ")})` : "";
  const unsure = inconclusive.map((m) => `${m.metric} ${m.reason.replace(/^inconclusive: /, "")}`).join("; ");
  let verdict: Verdict;
  let decision: AnalysisResult["decision"];
  let reason: string;
  if (criticalFails.length > 0) {
    verdict = "fail";
    decision = "halt";
    reason = `critical metric failed: ${criticalFails.map((m) => `${m.metric} (${m.reason})`).join("; ")}`;
  } else if (best < marginalScore) {
    verdict = "fail";
    decision = "halt";
    reason = `score ${best} below marginal ${marginalScore}${inconclusive.length > 0 ? " even with the inconclusive metrics counted as passed" : ""}${tail}`;
  } else if (input.control.length === 0) {
    verdict = "inconclusive";
    decision = "pause";
    reason = "inconclusive: no control cohort (no runtime left on the old release to compare with)";
  } else if (inconclusive.length > 0) {
    verdict = "inconclusive";
    decision = "pause";
    reason = `inconclusive: ${unsure}`;
  } else if (score >= passScore) [verdict, decision, reason] = ["pass", "go", `score ${score} >= pass ${passScore}${tail}`];
  else if (score >= marginalScore) [verdict, decision, reason] = ["marginal", "pause", `score ${score} below pass ${passScore}${tail}`];
  else [verdict, decision, reason] = ["fail", "halt", `score ${score} below marginal ${marginalScore}${tail}`];
  return {
    at: input.at,
    batch: input.batch,
    mode: input.mode,
    windowStart: input.windowStart,
    windowEnd: input.windowEnd,
    canary: input.canary.map((s) => s.accountId).slice(0, MAX_ANALYSIS_COHORT),
    control: input.control.map((s) => s.accountId).slice(0, MAX_ANALYSIS_COHORT),
    metrics,
    score,
    verdict,
    decision,
    reason: reason.slice(0, 500),
  };
}

/** Which runtimes to sample as the control: up to `size`, spread over the candidates (stable for a given list). */
export function chooseControl(candidates: readonly string[], size: number): string[] {
  const sorted = [...new Set(candidates)].sort();
  if (sorted.length <= size) return sorted;
  return Array.from({ length: size }, (_, i) => sorted[Math.floor((i * sorted.length) / size)]!);
}
