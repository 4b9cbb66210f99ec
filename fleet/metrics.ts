// Metric arithmetic over a runtime's probe samples: the rolling window, restart detection,
// counter deltas across restarts, percentiles and the seed's metrics. Pure, no I/O.
import type { RuntimeMetrics } from "./health";

/** One probe of one runtime, compact (the state file holds thousands). */
export interface Sample {
  at: number;
  /** Answered HTTP at all. */
  up: boolean;
  /** /health answered 200. */
  ok: boolean;
  /** Probe round trip (ms), when it answered. */
  ms?: number;
  /** Counters the runtime's /health reports (monotonic while the process lives). */
  req?: number;
  err?: number;
  nd?: number;
  nf?: number;
  /** Its reported average delivery latency. */
  dl?: number;
  /** Its reported uptime (s): a drop means it restarted. */
  upt?: number;
}

export interface RuntimeWindow {
  samples: Sample[];
  /** Last time it answered a probe (the offline alert counts from here). */
  lastUp?: number;
  /** Times a restart was detected (uptime went backwards, or it came back after being down). */
  crashes: number[];
  firstSeen: number;
}

export const DAY_MS = 86_400_000;
export const ERROR_WINDOW_MS = 15 * 60_000;
/** Samples kept per runtime: a day at 60 s; at shorter intervals the oldest go first. */
export const MAX_SAMPLES = 1440;

export function emptyWindow(now: number): RuntimeWindow {
  return { samples: [], crashes: [], firstSeen: now };
}

/** Appends a sample, detects a restart, forgets what is older than a day. Pure. */
export function addSample(w: RuntimeWindow, s: Sample): RuntimeWindow {
  const prev = w.samples.at(-1);
  const crashes = [...w.crashes];
  const lastUp = w.samples.findLast((x) => x.up && x.upt !== undefined);
  if (s.up && s.upt !== undefined && lastUp?.upt !== undefined) {
    // A restart: its uptime went backwards, or after a gap of failed probes it reports an uptime
    // shorter than the gap (it started while we could not see it).
    const backwards = s.upt + 1 < lastUp.upt;
    const startedInGap = prev !== undefined && !prev.up && s.upt * 1000 < s.at - lastUp.at;
    if (backwards || startedInGap) crashes.push(s.at);
  }
  const samples = [...w.samples, s].filter((x) => s.at - x.at <= DAY_MS).slice(-MAX_SAMPLES);
  return {
    samples,
    crashes: crashes.filter((t) => s.at - t <= DAY_MS),
    firstSeen: w.firstSeen,
    ...(s.up ? { lastUp: s.at } : w.lastUp !== undefined ? { lastUp: w.lastUp } : {}),
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Growth of a counter over samples, across restarts (a reset counts from zero). */
export function counterDelta(values: readonly number[]): number {
  let total = 0;
  for (let i = 1; i < values.length; i++) {
    const a = values[i - 1]!;
    const b = values[i]!;
    total += b >= a ? b - a : b;
  }
  return total;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** The middle value (the lower of the two middle ones for an even count); 0 for none. */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** The seed's metrics from a window at `now`. Pure; fields with no data are left out. */
export function windowMetrics(w: RuntimeWindow, now: number): RuntimeMetrics {
  const day = w.samples.filter((s) => now - s.at <= DAY_MS);
  const m: RuntimeMetrics = { crashCount24h: w.crashes.filter((t) => now - t <= DAY_MS).length };
  if (day.length === 0) return m;
  m.uptimePercent = round1((100 * day.filter((s) => s.up).length) / day.length);
  m.healthCheckSuccessRate = round1((100 * day.filter((s) => s.ok).length) / day.length);
  const lat = day.filter((s) => s.up && s.ms !== undefined).map((s) => s.ms!);
  if (lat.length > 0) {
    m.avgResponseTimeMs = Math.round(lat.reduce((a, b) => a + b, 0) / lat.length);
    m.p99ResponseTimeMs = percentile([...lat].sort((a, b) => a - b), 99);
  }
  const recent = w.samples.filter((s) => now - s.at <= ERROR_WINDOW_MS);
  const counted = recent.filter((s) => s.req !== undefined && s.err !== undefined);
  const requests = counterDelta(counted.map((s) => s.req!));
  const errors = counterDelta(counted.map((s) => s.err!));
  if (counted.length >= 2 && requests > 0) m.errorRate = round1(Math.min(100, (100 * errors) / requests));
  else if (recent.length > 0) m.errorRate = round1((100 * recent.filter((s) => !s.ok).length) / recent.length);
  const notified = day.filter((s) => s.nd !== undefined && s.nf !== undefined);
  if (notified.length > 0) {
    let delivered = counterDelta(notified.map((s) => s.nd!));
    let failed = counterDelta(notified.map((s) => s.nf!));
    if (delivered + failed === 0) {
      // Nothing sent inside the window (or one sample so far): the process's own totals.
      const last = notified.at(-1)!;
      delivered = last.nd!;
      failed = last.nf!;
    }
    if (delivered + failed > 0) m.notificationDeliveryRate = round1((100 * delivered) / (delivered + failed));
  }
  const dl = day.filter((s) => s.dl !== undefined).at(-1)?.dl;
  if (dl !== undefined) m.avgDeliveryLatencyMs = Math.round(dl);
  return m;
}

