// The lab runtime's workload model: the traffic a customer's runtime serves, computed from the
// clock (no busy loop). Each host has its own baseline (requests per second, error rate, latency
// distribution) drawn from its name; every second gets its own noise; the whole fleet shares a
// slow daily load curve and rare incidents, which is what a concurrent control cohort cancels.
// Deterministic: the same host, second and shift give the same numbers. Pure (no I/O), so the
// analysis benchmark draws its bakes from this very model.

/** Upper bounds (seconds) of the latency histogram's buckets, as Prometheus client defaults go. */
export const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** 32-bit FNV-1a: a host name to a seed. */
export function hashString(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** mulberry32: a small, well-mixed 32-bit generator; uniform in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand) {
  // Box-Muller; 1 - u keeps the log finite
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function poisson(rand, mean) {
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(rand)));
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = rand(); p > limit; p *= rand()) k++;
  return k;
}

/** A host's baseline, from its name: customers differ, but not wildly. */
export function hostProfile(name) {
  const r = rng(hashString(`profile:${name}`));
  return {
    seed: hashString(`traffic:${name}`),
    requestsPerSecond: 15 + 20 * r(),
    errorRate: 0.004 + 0.004 * r(),
    latencyMedianMs: 90 + 40 * r(),
    latencySigma: 0.35 + 0.15 * r(),
    notificationsPerSecond: 1 + 2 * r(),
    notificationFailureRate: 0.002 + 0.006 * r(),
  };
}

/** The fleet-wide load at a second: a daily curve and rare five-minute incidents (same for every host). */
export function fleetLoad(second) {
  const daily = 1 + 0.3 * Math.sin((2 * Math.PI * second) / 86_400);
  const block = Math.floor(second / 300);
  const incident = rng(hashString(`incident:${block}`))() < 0.03;
  return { traffic: daily, errorFactor: incident ? 2 : 1, latencyFactor: incident ? 1.4 : 1 };
}

/**
 * What a host serves in one second. shift: { errors: added error rate (0.03 = +3 points),
 * latencyMs: added to each request, noisy: burstier seconds }.
 */
export function simulateSecond(profile, second, shift = {}) {
  const rand = rng((profile.seed ^ Math.imul(second >>> 0, 0x9e3779b1)) >>> 0);
  const load = fleetLoad(second);
  const noise = shift.noisy ? 3 : 1;
  const requests = poisson(rand, profile.requestsPerSecond * load.traffic * Math.exp(0.15 * noise * gaussian(rand)));
  const errorRate = Math.min(1, profile.errorRate * load.errorFactor * Math.exp(0.25 * noise * gaussian(rand)) + (shift.errors ?? 0));
  let errors = 0;
  const buckets = new Array(LATENCY_BUCKETS.length).fill(0);
  let latencySum = 0;
  const median = profile.latencyMedianMs * load.latencyFactor * Math.exp(0.08 * noise * gaussian(rand));
  for (let i = 0; i < requests; i++) {
    if (rand() < errorRate) errors++;
    const seconds = (median * Math.exp(profile.latencySigma * gaussian(rand)) + (shift.latencyMs ?? 0)) / 1000;
    latencySum += seconds;
    const b = LATENCY_BUCKETS.findIndex((le) => seconds <= le);
    if (b >= 0) buckets[b]++;
  }
  const notifications = poisson(rand, profile.notificationsPerSecond * load.traffic);
  let failed = 0;
  for (let i = 0; i < notifications; i++) if (rand() < profile.notificationFailureRate * load.errorFactor * noise) failed++;
  return { requests, errors, buckets, latencySum, delivered: notifications - failed, failed };
}

/** Counters since a process started, advanced second by second as the clock moves (cheap to call often). */
export function createCounters(profile, startSecond) {
  const totals = { requests: 0, errors: 0, buckets: new Array(LATENCY_BUCKETS.length).fill(0), latencySum: 0, delivered: 0, failed: 0 };
  let next = startSecond;
  return {
    totals,
    /** Adds every whole second up to `nowSecond` (exclusive), under the shift in force now. */
    advance(nowSecond, shift = {}) {
      // a clock far ahead (a suspended host) is caught up by at most a day of seconds
      next = Math.max(next, nowSecond - 86_400);
      for (; next < nowSecond; next++) {
        const s = simulateSecond(profile, next, shift);
        totals.requests += s.requests;
        totals.errors += s.errors;
        totals.latencySum += s.latencySum;
        totals.delivered += s.delivered;
        totals.failed += s.failed;
        s.buckets.forEach((n, i) => (totals.buckets[i] += n));
      }
      return totals;
    },
  };
}

/** The counters in Prometheus text format (version 0.0.4). */
export function metricsText(totals, { restarts, healthy, startSeconds }) {
  const lines = [
    "# HELP runtime_requests_total Requests the runtime served.",
    "# TYPE runtime_requests_total counter",
    `runtime_requests_total ${totals.requests}`,
    "# HELP runtime_request_errors_total Requests that failed (5xx).",
    "# TYPE runtime_request_errors_total counter",
    `runtime_request_errors_total ${totals.errors}`,
    "# HELP runtime_request_duration_seconds Request latency.",
    "# TYPE runtime_request_duration_seconds histogram",
  ];
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += totals.buckets[i];
    lines.push(`runtime_request_duration_seconds_bucket{le="${le}"} ${cumulative}`);
  });
  lines.push(
    `runtime_request_duration_seconds_bucket{le="+Inf"} ${totals.requests}`,
    `runtime_request_duration_seconds_sum ${totals.latencySum.toFixed(6)}`,
    `runtime_request_duration_seconds_count ${totals.requests}`,
    "# HELP runtime_restarts_total Times the runtime process started after its first start.",
    "# TYPE runtime_restarts_total counter",
    `runtime_restarts_total ${restarts}`,
    "# HELP runtime_notifications_delivered_total Notifications delivered.",
    "# TYPE runtime_notifications_delivered_total counter",
    `runtime_notifications_delivered_total ${totals.delivered}`,
    "# HELP runtime_notifications_failed_total Notifications that failed.",
    "# TYPE runtime_notifications_failed_total counter",
    `runtime_notifications_failed_total ${totals.failed}`,
    "# HELP runtime_healthy Whether /health answers 200 now.",
    "# TYPE runtime_healthy gauge",
    `runtime_healthy ${healthy ? 1 : 0}`,
    "# HELP process_start_time_seconds Start time of the process since the epoch.",
    "# TYPE process_start_time_seconds gauge",
    `process_start_time_seconds ${startSeconds}`,
  );
  return `${lines.join("\n")}\n`;
}

/** The shift the faults put on a version ("v1.2.3+v0.5.0"): regressions spare the versions run before them. */
export function shiftFor(faults, versionKey) {
  const applies = (f) => f && !(f.healthyVersions ?? []).includes(versionKey);
  return {
    errors: applies(faults.regressErrors) ? faults.regressErrors.rate : 0,
    latencyMs: applies(faults.regressLatency) ? faults.regressLatency.ms : 0,
    noisy: faults.noisy === true,
  };
}
