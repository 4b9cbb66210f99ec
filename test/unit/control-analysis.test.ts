import { describe, expect, it } from "vitest";
import { AnalysisStopped, createAnalyzer, intervalSample, readScrape, type AnalysisRequest } from "../../control/analysis";
import { systemClock } from "../../control/orchestrator";
import { analysisPolicySchema } from "../../fleet/config";
import { createCounters, hostProfile, metricsText, type Shift } from "../../lab/runtime/workload.mjs";

const policy = analysisPolicySchema.parse({ intervalSeconds: 10, minSamples: 8 });

/** A fake clock: sleep moves time, nothing waits. */
function fakeClock(start: number) {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: { now: () => now, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)) },
    sleeps,
  };
}

/** Runtimes served by the lab's workload model at the fake clock's time; the ones in `down` do not answer. */
function fakeFleet(clock: { now(): number }, shifts: Record<string, Shift>, down: string[] = []) {
  const counters = new Map<string, ReturnType<typeof createCounters>>();
  const started = Math.floor(clock.now() / 1000) - 600;
  const urls: string[] = [];
  const fetchText = async (url: string) => {
    urls.push(url);
    const id = Object.keys(shifts).find((k) => url.includes(`//${addressOf(k)}:`))!;
    if (down.includes(id)) throw new Error("connection refused");
    if (!counters.has(id)) counters.set(id, createCounters(hostProfile(id), started));
    const totals = counters.get(id)!.advance(Math.floor(clock.now() / 1000), shifts[id]);
    return metricsText(totals, { restarts: 0, healthy: true, startSeconds: started });
  };
  return { fetchText, urls };
}

const ids = ["acc-001", "acc-002", "acc-003", "acc-004", "acc-005"];
const addressOf = (id: string) => `127.0.0.${10 + ids.indexOf(id)}`;
const targets = (list: readonly string[]) => list.map((accountId) => ({ accountId, address: addressOf(accountId), port: 8080 }));

const request = (start: number, extra: Partial<AnalysisRequest> = {}): AnalysisRequest => ({
  rolloutId: "ro_abcdef",
  stack: "lab",
  batch: 0,
  mode: "enforce",
  canary: ["acc-001"],
  controlCandidates: ["acc-002", "acc-003", "acc-004", "acc-005"],
  windowStart: start,
  windowEnd: start + 300_000,
  ...extra,
});

describe("reading a runtime's /metrics", () => {
  it("reads the lab runtime's Prometheus text, and turns two scrapes into per-interval rates", () => {
    const c = createCounters(hostProfile("acc-001"), 1_000);
    const first = readScrape(metricsText({ ...c.advance(1_010) }, { restarts: 0, healthy: true, startSeconds: 1_000 }));
    const t = c.advance(1_020);
    const second = readScrape(metricsText(t, { restarts: 0, healthy: true, startSeconds: 1_000 }));
    expect(second.requests).toBe(t.requests);
    expect(second.latencyCount).toBe(t.requests);
    expect(second.healthy).toBe(1);
    const sample = intervalSample(first, second);
    expect(sample.error_rate).toBeCloseTo((100 * (t.errors - first.errors!)) / (t.requests - first.requests!), 9);
    expect(sample.latency_ms).toBeGreaterThan(50);
    expect(sample.restarts).toBe(0);
  });

  it("counts a restart when the process start time changes, and a counter reset as growth from zero", () => {
    const s = intervalSample({ requests: 500, errors: 5, startTime: 1 }, { requests: 40, errors: 2, startTime: 99 });
    expect(s.restarts).toBe(1);
    expect(s.error_rate).toBeCloseTo(5, 9);
  });

  it("throws on a line that is not the exposition format, and reads nothing from text without the families", () => {
    expect(() => readScrape('runtime_requests_total{code="500" 3')).toThrow(/invalid line/);
    expect(readScrape("# TYPE runtime_requests_total counter\nruntime_requests_total abc\n")).toEqual({});
  });
});

describe("the analyzer", () => {
  it("scrapes both cohorts at the policy's interval until the window ends, then judges a good canary go", async () => {
    const start = 1_800_000_000_000;
    const { clock, sleeps } = fakeClock(start);
    const fleet = fakeFleet(clock, Object.fromEntries(ids.map((id) => [id, {}])));
    const analyze = createAnalyzer({ policy, targets, clock, fetchText: fleet.fetchText });
    const r = await analyze(request(start));
    expect(sleeps.every((ms) => ms === 10_000)).toBe(true);
    expect(sleeps).toHaveLength(30);
    expect(fleet.urls[0]).toBe("http://127.0.0.10:8080/metrics");
    expect(r.canary).toEqual(["acc-001"]);
    expect(r.control).toEqual(["acc-002", "acc-003", "acc-004", "acc-005"]);
    expect(r.metrics.find((m) => m.metric === "error_rate")!.canary).toHaveLength(30);
    expect(r.decision).toBe("go");
  });

  it("halts a canary whose release adds 3% errors", async () => {
    const start = 1_800_000_000_000;
    const { clock } = fakeClock(start);
    const fleet = fakeFleet(clock, { ...Object.fromEntries(ids.map((id) => [id, {}])), "acc-001": { errors: 0.03 } });
    const r = await createAnalyzer({ policy, targets, clock, fetchText: fleet.fetchText })(request(start));
    expect(r.decision).toBe("halt");
    expect(r.reason).toMatch(/error_rate fail/);
  });

  it("a canary that stops answering fails health on its own", async () => {
    const start = 1_800_000_000_000;
    const { clock } = fakeClock(start);
    const fleet = fakeFleet(clock, Object.fromEntries(ids.map((id) => [id, {}])), ["acc-001"]);
    const r = await createAnalyzer({ policy, targets, clock, fetchText: fleet.fetchText })(request(start));
    expect(r.decision).toBe("halt");
    expect(r.reason).toMatch(/critical metric failed: health/);
  });

  it("no runtime left on the old release: inconclusive, pause", async () => {
    const start = 1_800_000_000_000;
    const { clock } = fakeClock(start);
    const fleet = fakeFleet(clock, Object.fromEntries(ids.map((id) => [id, {}])));
    const r = await createAnalyzer({ policy, targets, clock, fetchText: fleet.fetchText })(request(start, { controlCandidates: [] }));
    expect(r).toMatchObject({ verdict: "inconclusive", decision: "pause" });
    expect(r.reason).toMatch(/no control cohort/);
  });

  it("holds a runtime of a later batch against what it sampled of it as control before its upgrade", async () => {
    const start = 1_800_000_000_000;
    const { clock } = fakeClock(start);
    const shifts: Record<string, Shift> = Object.fromEntries(ids.map((id) => [id, {}]));
    const fleet = fakeFleet(clock, shifts);
    const analyze = createAnalyzer({ policy, targets, clock, fetchText: fleet.fetchText });
    await analyze(request(start));
    // acc-002 upgrades in batch 1 to a release 0.8 points worse: within the cohort tolerance, but worse than itself
    shifts["acc-002"] = { errors: 0.012 };
    const t = clock.now();
    const r = await analyze(request(t, { batch: 1, canary: ["acc-002"], controlCandidates: ["acc-003", "acc-004", "acc-005"] }));
    expect(r.metrics.find((m) => m.metric === "error_rate")!.reason).toMatch(/worse than before its upgrade: acc-002/);
  });

  it("stops sampling when its rollout stops: no scrape after the abort, and it rejects with AnalysisStopped", async () => {
    const start = 1_800_000_000_000;
    const { clock } = fakeClock(start);
    const fleet = fakeFleet(clock, Object.fromEntries(ids.map((id) => [id, {}])));
    const stop = new AbortController();
    let seen = 0;
    const fetchText = async (url: string, timeoutMs: number, signal?: AbortSignal) => {
      expect(signal).toBe(stop.signal);
      // the third round of five runtimes: the rollout is paused while it is being scraped
      if (++seen === 11) stop.abort();
      return fleet.fetchText(url);
    };
    await expect(createAnalyzer({ policy, targets, clock, fetchText })(request(start, { signal: stop.signal }))).rejects.toThrow(AnalysisStopped);
    expect(seen).toBe(15);
    expect(clock.now()).toBe(start + 20_000);
    // aborted before it starts: nothing is scraped at all
    await expect(createAnalyzer({ policy, targets, clock, fetchText })(request(start, { signal: stop.signal }))).rejects.toThrow(AnalysisStopped);
    expect(seen).toBe(15);
  });

  it("on the system clock, an abort ends the wait between scrapes at once, not at the next interval", async () => {
    const start = Date.now();
    const fleet = fakeFleet(systemClock, Object.fromEntries(ids.map((id) => [id, {}])));
    const stop = new AbortController();
    let rounds = 0;
    const fetchText = async (url: string) => {
      // after the first round's five scrapes, abort while the analyzer sleeps its 10 s interval
      if (++rounds === 5) setImmediate(() => stop.abort());
      return fleet.fetchText(url);
    };
    const analysis = createAnalyzer({ policy, targets, clock: systemClock, fetchText })(request(start, { signal: stop.signal }));
    await expect(analysis).rejects.toThrow(AnalysisStopped);
    expect(rounds).toBe(5);
    expect(Date.now() - start).toBeLessThan(policy.intervalSeconds * 1000);
  }, 20_000);
});
