// `npm run bench`: speed and memory of the fleet's hot paths at fleet scale (10,000 runtimes).
// Medians over repeated runs; wall time on this machine, so compare ratios, not absolutes.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseFleetConfig, type ResolvedRuntime } from "../fleet/config";
import { planRollout } from "../fleet/plan";
import { LocalFleetStore } from "../store/local";

const N = 10_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(name: string, runs: number, fn: () => unknown | Promise<unknown>): Promise<void> {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  console.log(`${name.padEnd(52)} median ${median(times).toFixed(2).padStart(8)} ms  (min ${Math.min(...times).toFixed(2)}, ${runs} runs, heap +${heapMb.toFixed(1)} MiB)`);
}

const rawConfig = {
  "fleet:release": { openclaw: "v1.2.5", runtimeService: "v0.5.2" },
  "fleet:policy": { minSupportedOpenclaw: "v1.1.0", batchPercent: 10 },
  "fleet:defaults": { provider: "existing" },
  "fleet:sshPrivateKey": { secure: "v1:x" },
  "fleet:runtimes": Array.from({ length: N }, (_, i) => ({
    accountId: `acc-${i}`,
    host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    openclaw: i % 3 === 0 ? "v1.2.3" : "v1.2.5",
    runtimeService: "v0.5.2",
    ...(i === 0 ? { canary: true } : {}),
    ...(i % 97 === 0 && i > 0 ? { pin: i % 3 === 0 ? "v1.2.3" : "v1.2.5" } : {}),
  })),
};

async function main(): Promise<void> {
  console.log(`Runtime Fleet benchmarks, ${N} runtimes, Node ${process.versions.node}, ${os.cpus().length} cores`);
  let runtimes: ResolvedRuntime[] = [];
  await measure("validate a 10,000-runtime stack config (zod)", 10, () => {
    const r = parseFleetConfig(rawConfig);
    if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
    runtimes = r.config.runtimes;
  });
  await measure("plan a canary rollout, ramp 1,5%,25%,100%", 20, () =>
    planRollout(runtimes, { strategy: "canary", target: { openclaw: "v1.3.0", runtimeService: "v0.5.2" }, batchPercent: 10, ramp: [{ count: 1 }, { percent: 5 }, { percent: 25 }, { percent: 100 }], minSupportedOpenclaw: "v1.1.0" }),
  );
  await measure("plan a rolling rollout, 10% batches", 20, () =>
    planRollout(runtimes, { strategy: "rolling", target: { openclaw: "v1.3.0", runtimeService: "v0.5.2" }, batchPercent: 10, minSupportedOpenclaw: "v1.1.0" }),
  );

  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-bench-"));
  const store = new LocalFleetStore({ path: path.join(dir, "store.db") });
  try {
    const observations = runtimes.map((r, i) => ({
      stack: "bench",
      accountId: r.accountId,
      ipAddress: r.host ?? "",
      openclawVersion: r.openclaw,
      runtimeServiceVersion: r.runtimeService,
      status: (i % 50 === 0 ? "degraded" : "online") as "degraded" | "online",
      healthScore: 90 + (i % 10),
      lastHealthCheck: Date.now(),
    }));
    await measure("local store: record 10,000 observations (one call)", 5, () => store.upsertRuntimes(observations));
    await measure("local store: fleet overview at 10,000 runtimes", 20, () => store.overview({ stack: "bench" }));
    let n = 0;
    await measure("local store: record one upgrade result", 200, () =>
      store.recordUpgrade({ eventId: `b-${n++}`, stack: "bench", accountId: `acc-${n % N}`, fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", fromRuntimeService: "v0.5.2", toRuntimeService: "v0.5.2", status: "success", startedAt: n, durationMs: 1000, initiatedBy: "bench", executor: "pulumi" }),
    );
    await measure("local store: one runtime with its last 10 upgrades", 200, () => store.getRuntime("bench", "acc-42"));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
