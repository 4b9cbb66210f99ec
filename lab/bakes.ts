// Simulated bakes for the canary analysis: a canary and a control cohort served by the lab's
// workload model (lab/runtime/workload.mjs) over the same window, turned into per-interval
// samples by the analyzer's own counter arithmetic, and judged by fleet/. No processes, no
// clock: the benchmark (`npm run bench:analysis`) and the unit tests measure false alarms and
// detection with it.
import { judge, type MetricName, type RuntimeSeries } from "../fleet/analysis";
import type { AnalysisPolicy } from "../fleet/config";
import type { AnalysisResult } from "../protocol/analysis";
import { intervalSample, type Scrape } from "../control/analysis";
import { createCounters, hostProfile, shiftFor, type Shift, type Totals } from "./runtime/workload.mjs";

export interface BakeScenario {
  /** What the canary's new release does to its traffic (nothing for a good release). */
  shift: Shift;
  /** Every host bursty (the `noisy` fault on the whole fleet). */
  noisy: boolean;
  canaries: number;
  controls: number;
  windowSeconds: number;
}

export const GOOD: Shift = {};
export const ERRORS_3PCT: Shift = { errors: 0.03 };
export const LATENCY_200MS: Shift = { latencyMs: 200 };

function toScrape(t: Totals, restarts: number, startTime: number): Scrape {
  return {
    requests: t.requests,
    errors: t.errors,
    latencySumSeconds: t.latencySum,
    latencyCount: t.requests,
    restarts,
    delivered: t.delivered,
    failed: t.failed,
    healthy: 1,
    startTime,
  };
}

/** One runtime's samples over [from, to) seconds at the interval, as the analyzer would scrape them. */
function sampleHost(name: string, fromSecond: number, toSecond: number, intervalSeconds: number, shift: Shift): RuntimeSeries {
  const counters = createCounters(hostProfile(name), fromSecond);
  const samples: Partial<Record<MetricName, number[]>> = { health: [1] };
  let prev = toScrape(counters.advance(fromSecond, shift), 0, fromSecond);
  for (let s = fromSecond + intervalSeconds; s <= toSecond; s += intervalSeconds) {
    const next = toScrape(counters.advance(s, shift), 0, fromSecond);
    for (const [m, v] of Object.entries(intervalSample(prev, next))) (samples[m as MetricName] ??= []).push(v);
    samples.health!.push(1);
    prev = next;
  }
  return { accountId: name, samples };
}

/**
 * One bake, seeded: fresh customers (their own baselines), a window somewhere in a day (so the
 * daily curve and incidents fall where they may), the canary also sampled over the same length
 * before its upgrade.
 */
export function simulateBake(seed: number, scenario: BakeScenario, policy: AnalysisPolicy): AnalysisResult {
  const start = 1_800_000_000 + ((seed * 7919) % 86_400);
  const end = start + scenario.windowSeconds;
  const interval = policy.intervalSeconds;
  const base: Shift = { noisy: scenario.noisy };
  const faulted = { ...shiftFor({}, ""), ...base, ...scenario.shift };
  const canary = Array.from({ length: scenario.canaries }, (_, i) => `bake-${seed}-canary-${i}`);
  const control = Array.from({ length: scenario.controls }, (_, i) => `bake-${seed}-control-${i}`);
  return judge({
    at: end * 1000,
    batch: 0,
    mode: "enforce",
    windowStart: start * 1000,
    windowEnd: end * 1000,
    canary: canary.map((n) => sampleHost(n, start, end, interval, faulted)),
    control: control.map((n) => sampleHost(n, start, end, interval, base)),
    baseline: canary.map((n) => sampleHost(n, start - scenario.windowSeconds, start, interval, base)),
    policy,
  });
}

export interface BakeRates {
  bakes: number;
  halted: number;
  paused: number;
  went: number;
  /** halted / bakes */
  haltRate: number;
}

export function runBakes(seeds: readonly number[], scenario: BakeScenario, policy: AnalysisPolicy): BakeRates {
  let halted = 0;
  let paused = 0;
  for (const seed of seeds) {
    const d = simulateBake(seed, scenario, policy).decision;
    if (d === "halt") halted++;
    else if (d === "pause") paused++;
  }
  return { bakes: seeds.length, halted, paused, went: seeds.length - halted - paused, haltRate: halted / seeds.length };
}
