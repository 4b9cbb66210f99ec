// The analyzer against real lab runtimes: two simulated runtimes (lab/runtime/sim-runtime.mjs)
// on 127.0.0.x serve /metrics from the workload model; the canary's release adds 200 ms
// (the regress:latency fault's record) while its /health stays 200. The analyzer scrapes both
// over a short window on the real clock, parses the Prometheus text, and halts the canary.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnalyzer, readScrape } from "../../control/analysis";
import { analysisPolicySchema } from "../../fleet/config";
import { SIM_RUNTIME } from "../../lab/kit";
import { getJson, pollUntil } from "../../lab/procs";
import { freePort } from "./helpers/lab-hosts";

interface Sim {
  accountId: string;
  address: string;
  port: number;
  child: ChildProcess;
}

let dir: string;
const sims: Sim[] = [];

async function startSim(accountId: string, address: string, faults: Record<string, unknown>): Promise<Sim> {
  const root = join(dir, accountId);
  mkdirSync(join(root, "state", "lab"), { recursive: true });
  mkdirSync(join(root, "openclaw"), { recursive: true });
  const port = await freePort(address);
  writeFileSync(join(root, "state", "lab", "host.json"), JSON.stringify({ runtime: accountId, address, port }));
  writeFileSync(join(root, "state", "lab", "faults.json"), JSON.stringify(faults));
  writeFileSync(join(root, "openclaw", "RELEASE.json"), JSON.stringify({ version: "v1.2.5", healthy: true }));
  writeFileSync(join(root, "openclaw", ".env"), "RUNTIME_SERVICE_TAG=v0.5.0\n");
  const child = spawn(process.execPath, [SIM_RUNTIME, "--root", root], { stdio: "ignore" });
  const sim = { accountId, address, port, child };
  sims.push(sim);
  await pollUntil(`${accountId} /health = 200`, async () => (await getJson(address, port, "/health"))?.status === 200, { timeoutMs: 15_000 });
  return sim;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fleet-analysis-scrape-"));
  // the fault as `fleet-lab fault canary regress:latency=+200ms` records it before the upgrade:
  // no version had run yet, so every version is the regressed one
  await startSim("canary", "127.0.0.231", { regressLatency: { ms: 200, healthyVersions: [] } });
  await startSim("control", "127.0.0.232", {});
}, 60_000);

afterAll(async () => {
  await Promise.all(
    sims.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.child.exitCode !== null) return resolve();
          s.child.once("exit", () => resolve());
          s.child.kill("SIGTERM");
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

describe("scraping lab runtimes", () => {
  it("parses the runtime's /metrics", async () => {
    const s = sims[1]!;
    const res = await fetch(`http://${s.address}:${s.port}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const scrape = readScrape(await res.text());
    expect(scrape.healthy).toBe(1);
    expect(scrape.restarts).toBe(0);
    expect(scrape.requests).toBeGreaterThanOrEqual(0);
    expect(scrape.latencyCount).toBe(scrape.requests);
    expect(scrape.startTime).toBeGreaterThan(1_700_000_000);
  });

  it("halts a canary 200 ms slower than its control while both stay healthy", async () => {
    const policy = analysisPolicySchema.parse({ intervalSeconds: 1, minSamples: 6 });
    const clock = { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
    const analyze = createAnalyzer({ policy, clock, targets: (ids) => sims.filter((s) => ids.includes(s.accountId)) });
    const start = Date.now();
    const r = await analyze({ rolloutId: "ro_scrape1", stack: "lab", batch: 0, mode: "enforce", canary: ["canary"], controlCandidates: ["control"], windowStart: start, windowEnd: start + 8_000 });
    expect(Date.now() - start).toBeGreaterThanOrEqual(8_000);
    const latency = r.metrics.find((m) => m.metric === "latency_ms")!;
    expect(latency.canary.length).toBeGreaterThanOrEqual(6);
    expect(latency).toMatchObject({ verdict: "fail", direction: "worse" });
    expect(r.metrics.find((m) => m.metric === "health")!.verdict).toBe("pass");
    expect(r.decision, r.reason).toBe("halt");
  }, 60_000);
});
