// The canary analysis step: how the rollout's step machine asks for a verdict on a batch.
// The step machine (control/orchestrator.ts) calls an Analyzer; the statistics live in fleet/.
// createAnalyzer scrapes `/metrics` of the upgraded cohort and of a control cohort still on the
// old release at the policy's interval over the window (the injected clock), turns counters into
// per-interval rates, and lets fleet/analysis.ts judge.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import pLimit from "p-limit";
import type { AnalysisMode, AnalysisResult } from "../protocol/analysis";
import { chooseControl, judge, type MetricName, type RuntimeSeries } from "../fleet/analysis";
import type { AnalysisPolicy } from "../fleet/config";
import { probeUrl, type ProbeTarget } from "./probe";
import type { Clock } from "./orchestrator";

export interface AnalysisRequest {
  rolloutId: string;
  stack: string;
  batch: number;
  mode: Exclude<AnalysisMode, "off">;
  /** The batch's upgraded runtimes that passed their deploy. */
  canary: string[];
  /** Runtimes still on the rollout's previous release (the control cohort is sampled from them). */
  controlCandidates: string[];
  /** The window, epoch ms, as the step recorded it: a resumed step keeps its end. */
  windowStart: number;
  windowEnd: number;
  /** Aborted when the rollout stops meanwhile (a pause or abort): sampling ends and the analysis rejects with AnalysisStopped. */
  signal?: AbortSignal;
}

/** An analysis given up because its rollout stopped before the window's end: nothing was judged. */
export class AnalysisStopped extends Error {
  constructor() {
    super("the analysis stopped with its rollout before the window's end");
    this.name = "AnalysisStopped";
  }
}

/** Samples both cohorts until the window's end (the clock's sleep), then judges; rejects with AnalysisStopped once `signal` aborts. */
export type Analyzer = (req: AnalysisRequest) => Promise<AnalysisResult>;

/** One scrape of a runtime's `/metrics`: the counters and gauges the analysis reads. */
export interface Scrape {
  requests?: number;
  errors?: number;
  latencySumSeconds?: number;
  latencyCount?: number;
  restarts?: number;
  delivered?: number;
  failed?: number;
  healthy?: number;
  startTime?: number;
}

const FAMILIES: Record<string, keyof Scrape> = {
  runtime_requests_total: "requests",
  runtime_request_errors_total: "errors",
  runtime_restarts_total: "restarts",
  runtime_notifications_delivered_total: "delivered",
  runtime_notifications_failed_total: "failed",
  runtime_healthy: "healthy",
  process_start_time_seconds: "startTime",
};

/** Reads the runtime's Prometheus text; a family it does not have stays undefined. Throws on text that is not the format. */
export function readScrape(text: string): Scrape {
  const out: Scrape = {};
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  for (const family of parsePrometheusTextFormat(text)) {
    // unlabelled families: the sum over their series
    const key = FAMILIES[family.name];
    if (key) {
      const values = family.metrics.map((m) => num(m.value)).filter((v): v is number => v !== undefined && Number.isFinite(v));
      if (values.length > 0) out[key] = values.reduce((a, b) => a + b, 0);
    }
    if (family.name === "runtime_request_duration_seconds" && family.type === "HISTOGRAM") {
      const sums = family.metrics.map((m) => num(m.sum)).filter((v): v is number => v !== undefined && Number.isFinite(v));
      const counts = family.metrics.map((m) => num(m.count)).filter((v): v is number => v !== undefined && Number.isFinite(v));
      if (sums.length > 0) out.latencySumSeconds = sums.reduce((a, b) => a + b, 0);
      if (counts.length > 0) out.latencyCount = counts.reduce((a, b) => a + b, 0);
    }
  }
  return out;
}

/** Growth of a counter between two scrapes; a reset (the process restarted) counts from zero. */
const grew = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b >= a ? b - a : b);

/** The per-interval values of the metrics between two scrapes of one runtime. */
export function intervalSample(prev: Scrape, next: Scrape): Partial<Record<MetricName, number>> {
  const out: Partial<Record<MetricName, number>> = {};
  const req = grew(prev.requests, next.requests);
  const err = grew(prev.errors, next.errors);
  if (req !== undefined && err !== undefined && req > 0) out.error_rate = (100 * err) / req;
  const sum = grew(prev.latencySumSeconds, next.latencySumSeconds);
  const count = grew(prev.latencyCount, next.latencyCount);
  if (sum !== undefined && count !== undefined && count > 0) out.latency_ms = (1000 * sum) / count;
  const delivered = grew(prev.delivered, next.delivered);
  const failed = grew(prev.failed, next.failed);
  if (delivered !== undefined && failed !== undefined && delivered + failed > 0) out.notification_failure_rate = (100 * failed) / (delivered + failed);
  const restarted = grew(prev.restarts, next.restarts) ?? 0;
  const newProcess = prev.startTime !== undefined && next.startTime !== undefined && next.startTime !== prev.startTime ? 1 : 0;
  out.restarts = Math.max(restarted, newProcess);
  return out;
}

export interface AnalyzerDeps {
  policy: AnalysisPolicy;
  /** Where each runtime answers (its host and health port); a runtime without one is left out. */
  targets: (accountIds: readonly string[]) => ProbeTarget[];
  clock: Clock;
  /** GET the text of a URL (default: fetch with a timeout); throws when the runtime does not answer 200. */
  fetchText?: (url: string, timeoutMs: number, signal?: AbortSignal) => Promise<string>;
  /** A runtime's samples from before `before` (e.g. the monitor's), to hold an upgraded runtime against itself. */
  baseline?: (accountId: string, before: number) => Promise<RuntimeSeries | undefined>;
  timeoutMs?: number;
}

async function fetchMetricsText(url: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, { signal: signal ? AbortSignal.any([timeout, signal]) : timeout, headers: { accept: "text/plain" } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return text;
}

interface Collected {
  prev?: Scrape;
  samples: Partial<Record<MetricName, number[]>>;
}

function push(c: Collected, metric: MetricName, value: number): void {
  (c.samples[metric] ??= []).push(value);
}

/**
 * The Analyzer the step machine calls. It remembers what it sampled of the control cohort, so a
 * runtime upgraded in a later batch is also held against its own window from before its upgrade.
 */
export function createAnalyzer(deps: AnalyzerDeps): Analyzer {
  const fetchText = deps.fetchText ?? fetchMetricsText;
  const timeoutMs = deps.timeoutMs ?? 3_000;
  const limit = pLimit(16);
  const seenBefore = new Map<string, { windowEnd: number; samples: Partial<Record<MetricName, number[]>> }[]>();

  async function scrape(target: ProbeTarget, signal?: AbortSignal): Promise<Scrape | undefined> {
    try {
      return readScrape(await fetchText(probeUrl(target, "/metrics"), timeoutMs, signal));
    } catch {
      // no answer is an unhealthy sample, not an error of the analysis
      return undefined;
    }
  }

  return async (req) => {
    const { policy, clock } = deps;
    const controlIds = chooseControl(req.controlCandidates.filter((id) => !req.canary.includes(id)), policy.controlSize);
    const targets = deps.targets([...req.canary, ...controlIds]);
    const collected = new Map<string, Collected>(targets.map((t) => [t.accountId, { samples: {} }]));
    const intervalMs = policy.intervalSeconds * 1000;
    const stopped = () => {
      if (req.signal?.aborted) throw new AnalysisStopped();
    };
    for (;;) {
      stopped();
      const scrapes = await Promise.all(targets.map((t) => limit(() => scrape(t, req.signal))));
      stopped();
      targets.forEach((t, i) => {
        const c = collected.get(t.accountId)!;
        const s = scrapes[i];
        push(c, "health", s?.healthy ?? 0);
        if (!s) return;
        if (c.prev) for (const [metric, value] of Object.entries(intervalSample(c.prev, s))) push(c, metric as MetricName, value);
        c.prev = s;
      });
      const left = req.windowEnd - clock.now();
      if (left <= 0) break;
      await clock.sleep(Math.min(intervalMs, left), req.signal);
    }
    const series = (ids: readonly string[]): RuntimeSeries[] =>
      ids.filter((id) => collected.has(id)).map((id) => ({ accountId: id, samples: collected.get(id)!.samples }));
    const baseline: RuntimeSeries[] = [];
    for (const id of req.canary) {
      const earlier = (seenBefore.get(id) ?? []).filter((w) => w.windowEnd <= req.windowStart);
      const remembered: RuntimeSeries = { accountId: id, samples: {} };
      for (const w of earlier) for (const [m, xs] of Object.entries(w.samples)) (remembered.samples[m as MetricName] ??= []).push(...xs);
      const given = deps.baseline ? await deps.baseline(id, req.windowStart) : undefined;
      for (const [m, xs] of Object.entries(given?.samples ?? {})) (remembered.samples[m as MetricName] ??= []).push(...xs);
      baseline.push(remembered);
    }
    for (const id of controlIds) {
      const c = collected.get(id);
      if (c) seenBefore.set(id, [...(seenBefore.get(id) ?? []), { windowEnd: req.windowEnd, samples: c.samples }].slice(-5));
    }
    return judge({
      at: clock.now(),
      batch: req.batch,
      mode: req.mode,
      windowStart: req.windowStart,
      windowEnd: req.windowEnd,
      canary: series(req.canary),
      control: series(controlIds),
      baseline,
      policy,
    });
  };
}
