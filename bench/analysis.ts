// `npm run bench:analysis`: how often the canary analysis halts a good release on a noisy fleet
// (false alarms), and how often it halts a release adding 3% errors or 200 ms (detection), over
// seeded simulated bakes of the lab's workload model (lab/bakes.ts). Pure: no hosts, no clock.
// Figures, not pass/fail: the unit tests assert the bounds.
import { analysisPolicySchema } from "../fleet/config";
import { ERRORS_3PCT, GOOD, LATENCY_200MS, runBakes, type BakeScenario } from "../lab/bakes";

const BAKES = Number(process.env.BAKES ?? 200);
const policy = analysisPolicySchema.parse(undefined);
const seeds = Array.from({ length: BAKES }, (_, i) => 1 + i);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

console.log(`canary analysis, ${BAKES} seeded bakes each: 1 canary against 5 control runtimes, default fleet:policy.analysis`);
console.log(`(interval ${policy.intervalSeconds}s, min ${policy.minSamples} samples, pass ${policy.passScore}, marginal ${policy.marginalScore})`);
for (const windowSeconds of [120, 300, 600]) {
  for (const noisy of [false, true]) {
    const scenario = (shift: BakeScenario["shift"]): BakeScenario => ({ shift, noisy, canaries: 1, controls: 5, windowSeconds });
    const t = performance.now();
    const good = runBakes(seeds, scenario(GOOD), policy);
    const errors = runBakes(seeds, scenario(ERRORS_3PCT), policy);
    const latency = runBakes(seeds, scenario(LATENCY_200MS), policy);
    const ms = (performance.now() - t) / (3 * BAKES);
    console.log(
      `${String(windowSeconds).padStart(4)}s bake, ${noisy ? "noisy" : "quiet"} fleet: ` +
        `good release halted ${pct(good.haltRate)} (paused ${pct(good.paused / BAKES)}); ` +
        `+3% errors halted ${pct(errors.haltRate)}; +200 ms halted ${pct(latency.haltRate)}  (${ms.toFixed(1)} ms a bake)`,
    );
  }
}

// Smaller regressions, near the default tolerances (1 point, 100 ms): where detection falls off.
for (const [label, shift] of [["+1% errors", { errors: 0.01 }], ["+1.5% errors", { errors: 0.015 }], ["+80 ms", { latencyMs: 80 }], ["+120 ms", { latencyMs: 120 }]] as const) {
  const r = runBakes(seeds, { shift, noisy: true, canaries: 1, controls: 5, windowSeconds: 300 }, policy);
  console.log(` 300s bake, noisy fleet: ${label.padEnd(12)} halted ${pct(r.haltRate)}, paused ${pct(r.paused / BAKES)}`);
}
