// Text of the canary analysis for a terminal: each recorded analysis with its numbers (for
// `fleet history --rollout ID`), and the stack's analysis policy (for `fleet plan`). Pure.
import type { AnalysisResult } from "../protocol/analysis";
import type { AnalysisPolicy } from "../fleet/config";
import { METRIC_UNITS, WEIGHTED_METRICS, type MetricName } from "../fleet/analysis";
import { median } from "../fleet/stats";
import { printable } from "./text";

const n = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? "-" : String(Number(x.toFixed(digits))));
const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** One analysis: its decision and score, the cohorts, then a line per metric with its statistics. */
export function describeAnalysis(a: AnalysisResult): string[] {
  const acted = a.mode === "observe" ? " (observe: recorded, not acted on)" : "";
  const lines = [
    `analysis of batch ${a.batch} ${time(a.windowStart)} .. ${time(a.windowEnd)}: ${a.decision.toUpperCase()} (${a.verdict}, score ${n(a.score, 1)})${acted}`,
    `  ${printable(a.reason)}`,
    `  canary ${a.canary.length} (${a.canary.map(printable).join(", ") || "none"}), control ${a.control.length} (${a.control.map(printable).join(", ") || "none"})`,
  ];
  for (const m of a.metrics) {
    const unit = METRIC_UNITS[m.metric as MetricName] ?? "";
    const stats = m.u !== undefined ? `  U=${n(m.u, 1)} p=${m.p === undefined ? "-" : m.p.toPrecision(3)} effect=${n(m.effect)} ${m.direction ?? ""}` : "";
    const medians = m.canary.length > 0 || m.control.length > 0 ? `  median ${n(median(m.canary))} vs ${n(median(m.control))} ${unit}` : "";
    const weight = m.critical ? "critical" : `weight ${n(m.weight, 1)}`;
    lines.push(`  ${printable(m.metric).padEnd(26)} ${m.verdict.padEnd(12)} ${weight}${medians}  (n=${m.canary.length}/${m.control.length})${stats}`);
    lines.push(`    ${printable(m.reason)}`);
  }
  return lines;
}

/** Every analysis of a rollout, oldest first; nothing when it had none. */
export function describeAnalyses(analyses: readonly AnalysisResult[]): string[] {
  return [...analyses].sort((a, b) => a.at - b.at).flatMap(describeAnalysis);
}

/** The stack's analysis policy, as `fleet plan` shows it. */
export function describeAnalysisPolicy(p: AnalysisPolicy): string[] {
  const metrics = WEIGHTED_METRICS.map((m) => `${m} weight ${p.metrics[m].weight} tolerance ${p.metrics[m].tolerance} ${METRIC_UNITS[m]}`);
  return [
    `canary analysis (fleet:policy.analysis): a ${p.intervalSeconds}s scrape interval, at least ${p.minSamples} samples per cohort, up to ${p.controlSize} control runtimes`,
    `  go at score >= ${p.passScore}, pause at >= ${p.marginalScore}, halt below; marginal at p < ${p.marginalP}, fail at p < ${p.failP} and a shift of at least the tolerance`,
    `  ${metrics.join("; ")}; restarts and health critical (fail on their own)`,
  ];
}
