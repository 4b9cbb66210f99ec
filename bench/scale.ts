// `npm run bench:scale`: the engine's cost against the fleet's size, on the lab (real sshd, the
// real Pulumi engine). For each size (default 100, 300 and 1,000 runtimes; K runtimes per lab
// host): the first deploy of the whole stack, one 10-runtime batch (a targeted `pulumi up`, as a
// rollout runs it) several times, the checkpoint's size per runtime, what the file backend keeps
// after those updates, and the lab's memory. Figures from one run: every size's lab is up at once
// and their batches alternate; compare the ratios it prints, not the absolute seconds.
// A fleet larger than --cell-size runs as cells: stacks of at most that many runtimes (one stack's
// whole config reaches the program in one environment variable, at most 128 KiB on Linux,
// pulumi/pulumi#8680: about 300 lab runtimes), deployed in parallel, one engine per cell; a batch
// is a targeted `pulumi up` in one cell.
//   npm run bench:scale -- [--sizes 100,300,1000] [--per-host 10] [--batches 3] [--cell-size 300]
import { readFileSync } from "node:fs";
import os from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { parse } from "yaml";
import { AutomationEngine, ENGINE_PARALLEL_PER_CPU, type EngineRunResult } from "../control/engine";
import { writeRuntimeVersions } from "../control/stackConfig";
import { labCell, labProcesses, LAB_STACK } from "../lab/lab";
import { labProject, type LabProject } from "../test/e2e/helpers/labProject";
import { keptSize, stateSize } from "./state";

interface SizeFigures {
  runtimes: number;
  hosts: number;
  cells: number;
  firstDeployS: number;
  firstProgramStartS: number;
  batchS: number[];
  batchProgramStartS: number[];
  batchCommandS: number[];
  batchScriptS: number[];
  batchAfterStepsS: number[];
  stateBytes: number;
  stateRawBytes: number;
  keptBytes: number;
  keptFiles: number;
  updates: number;
  labRssMiB: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};
const seconds = (ms: number) => ms / 1000;

function list(value: string): number[] {
  const sizes = value.split(",").map((v) => Number(v));
  if (sizes.some((n) => !Number.isInteger(n) || n < 10)) throw new InvalidArgumentError("expected sizes like 100,300,1000 (each at least 10)");
  return sizes;
}
function positive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("expected a positive integer");
  return Number(value);
}

/** Resident memory of the lab's processes (runtime pools and sshds). */
function labRss(p: LabProject): number {
  let kib = 0;
  for (const pid of labProcesses(p.labDir)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kib / 1024;
}

function check(run: EngineRunResult, what: string): void {
  if (!run.ok) {
    const failed = [...run.runtimes.values()].filter((r) => !r.ok);
    throw new Error(`${what} failed: ${[...run.generalErrors, ...failed.slice(0, 3).map((r) => `${r.accountId}: ${r.errors[0] ?? "failed"}`)].join("; ")}`);
  }
}

interface Cell {
  stack: string;
  configFile: string;
  /** Batches, as a rollout runs them (the program inline, in this process). */
  engine: AutomationEngine;
  /** The first deploy, every cell at once: the program under a language host per cell (as separate jobs would run them). */
  firstEngine: AutomationEngine;
  runtimes: Array<{ accountId: string; provider: "existing" }>;
}

/** The lab's stack, or cells of at most cellSize runtimes (stacks lab-c1, lab-c2, ...). */
async function cellsOf(p: LabProject, runtimes: number, cellSize: number): Promise<Cell[]> {
  const records = p.lab.hosts.slice(0, runtimes);
  const engine = (stack: string) => new AutomationEngine({ projectDir: p.projectDir, stack, env: p.env });
  // The engine's default parallelism per cell (several cells at once share the lab's 2 cores and its sshds).
  const firstEngine = (stack: string) => new AutomationEngine({ projectDir: p.projectDir, stack, env: { ...p.env, PULUMI_PARALLEL: String(os.availableParallelism() * ENGINE_PARALLEL_PER_CPU) }, program: "local" });
  const ids = (rs: typeof records) => rs.map((h) => ({ accountId: h.runtime, provider: "existing" as const }));
  if (runtimes <= cellSize) return [{ stack: LAB_STACK, configFile: p.configFile, engine: engine(LAB_STACK), firstEngine: firstEngine(LAB_STACK), runtimes: ids(records) }];
  const count = Math.ceil(runtimes / cellSize);
  const cells: Cell[] = [];
  for (let c = 0; c < count; c++) {
    const part = records.slice(c * cellSize, (c + 1) * cellSize);
    const stack = `lab-c${c + 1}`;
    const configFile = await labCell(p.projectDir, p.labDir, stack, part);
    cells.push({ stack, configFile, engine: engine(stack), firstEngine: firstEngine(stack), runtimes: ids(part) });
  }
  return cells;
}

interface SizeRun {
  p: LabProject;
  cells: Cell[];
  figures: SizeFigures;
}

/** A lab of `runtimes` (on its own loopback /24, so the sizes can be up together) and its first deploy. */
async function setUp(runtimes: number, perHost: number, cellSize: number, net: string, log: (s: string) => void): Promise<SizeRun> {
  const hosts = Math.ceil(runtimes / perHost);
  process.env.FLEET_LAB_NET = net;
  const p = await labProject(hosts, { runtimesPerHost: perHost });
  try {
    const cells = await cellsOf(p, runtimes, cellSize);
    log(`${runtimes} runtimes: lab of ${hosts} hosts x ${perHost} on ${net}.0/24${cells.length > 1 ? `, ${cells.length} cells of up to ${cellSize}` : ""}`);
    // The first deploy: every cell at once, one engine each (as a rollout over cells runs them).
    const t0 = performance.now();
    const firsts = await Promise.all(cells.map((c) => c.firstEngine.up(c.runtimes)));
    const firstMs = performance.now() - t0;
    firsts.forEach((run, i) => check(run, `the first deploy of ${cells[i]!.stack}`));
    log(`  first deploy ${seconds(firstMs).toFixed(1)} s`);
    const figures: SizeFigures = {
      runtimes,
      hosts,
      cells: cells.length,
      firstDeployS: seconds(firstMs),
      firstProgramStartS: seconds(Math.max(...firsts.map((r) => r.timings!.programStartMs))),
      batchS: [],
      batchProgramStartS: [],
      batchCommandS: [],
      batchScriptS: [],
      batchAfterStepsS: [],
      stateBytes: 0,
      stateRawBytes: 0,
      keptBytes: 0,
      keptFiles: 0,
      updates: 1,
      labRssMiB: labRss(p),
    };
    return { p, cells, figures };
  } catch (err) {
    await p.down();
    throw err;
  }
}

/**
 * One 10-runtime batch, spread over the first cell, each runtime moved to the other of two
 * releases (every batch a real upgrade, as in a rollout).
 */
async function batchOnce(size: SizeRun, b: number, log: (s: string) => void): Promise<void> {
  const { cells, figures } = size;
  const cell = cells[0]!;
  const stride = Math.floor(cell.runtimes.length / 10);
  const batch = Array.from({ length: 10 }, (_, i) => i * stride + (b % stride));
  const current = (parse(readFileSync(cell.configFile, "utf8")) as { config: Record<string, Array<{ openclaw: string }>> }).config["fleet:runtimes"]!;
  writeRuntimeVersions(
    cell.configFile,
    batch.map((index) => ({ index, accountId: cell.runtimes[index]!.accountId, openclaw: current[index]!.openclaw === "v1.2.5" ? "v1.2.3" : "v1.2.5", runtimeService: "v0.5.0" })),
  );
  const run = await cell.engine.up(batch.map((i) => cell.runtimes[i]!));
  check(run, `batch ${b + 1} at ${figures.runtimes}`);
  const t = run.timings!;
  const per = Object.values(t.perRuntime);
  figures.batchS.push(seconds(t.totalMs));
  figures.batchProgramStartS.push(seconds(t.programStartMs));
  figures.batchCommandS.push(seconds(median(per.map((r) => r.commandMs))));
  figures.batchScriptS.push(seconds(median(per.flatMap((r) => (r.scriptMs === undefined ? [] : [r.scriptMs])))));
  figures.batchAfterStepsS.push(seconds(t.afterStepsMs ?? NaN));
  figures.updates++;
  log(`  ${figures.runtimes} runtimes, batch ${b + 1}: ${seconds(t.totalMs).toFixed(1)} s (program start ${seconds(t.programStartMs).toFixed(1)} s, median runtime's commands ${figures.batchCommandS.at(-1)!.toFixed(1)} s, after the last step ${figures.batchAfterStepsS.at(-1)!.toFixed(1)} s)`);
}

async function finish(size: SizeRun): Promise<SizeFigures> {
  try {
    const states = size.cells.map((c) => stateSize(size.p, c.stack));
    const kept = keptSize(size.p);
    return {
      ...size.figures,
      stateBytes: states.reduce((a, x) => a + x.bytes, 0),
      stateRawBytes: states.reduce((a, x) => a + x.raw, 0),
      keptBytes: kept.bytes,
      keptFiles: kept.files,
    };
  } finally {
    await size.p.down();
  }
}

async function main(): Promise<void> {
  const opts = new Command("bench:scale")
    .option("--sizes <list>", "fleet sizes in runtimes", list, [100, 300, 1000])
    .option("--per-host <k>", "runtimes per lab host", positive, 10)
    .option("--batches <n>", "10-runtime batches per size", positive, 3)
    .option("--cell-size <n>", "most runtimes in one stack (larger fleets run as cells)", positive, 300)
    .parse()
    .opts<{ sizes: number[]; perHost: number; batches: number; cellSize: number }>();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  // Every size's lab is up at once and their batches alternate, so each size's batches see the
  // same machine (the load of a shared machine moves over minutes).
  const base = (process.env.FLEET_LAB_NET ?? "127.0.77").split(".").map(Number) as [number, number, number];
  const sizes: SizeRun[] = [];
  try {
    for (const [i, n] of opts.sizes.entries()) sizes.push(await setUp(n, opts.perHost, opts.cellSize, `${base[0]}.${base[1]}.${(base[2] + i) % 256}`, log));
    for (let b = 0; b < opts.batches; b++) for (const size of sizes) await batchOnce(size, b, log);
  } catch (err) {
    await Promise.all(sizes.map((s) => s.p.down()));
    throw err;
  }
  const results: SizeFigures[] = [];
  for (const size of sizes) results.push(await finish(size));

  const kib = (b: number) => (b / 1024).toFixed(1);
  console.log("\nruntimes (stacks) | first deploy | its program start | 10-runtime batch (median) | its program start | median runtime's commands | its script | after the last step | state/runtime (stored, JSON) | history+backups after updates | lab RSS/runtime");
  console.log("--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---");
  for (const r of results) {
    console.log(
      [
        `${r.runtimes} (${r.cells})`,
        `${r.firstDeployS.toFixed(1)} s`,
        `${r.firstProgramStartS.toFixed(1)} s`,
        `${median(r.batchS).toFixed(1)} s (${r.batchS.map((x) => x.toFixed(1)).join(", ")})`,
        `${median(r.batchProgramStartS).toFixed(1)} s`,
        `${median(r.batchCommandS).toFixed(1)} s`,
        `${median(r.batchScriptS).toFixed(1)} s`,
        `${median(r.batchAfterStepsS).toFixed(1)} s`,
        `${kib(r.stateBytes / r.runtimes)} KiB, ${kib(r.stateRawBytes / r.runtimes)} KiB`,
        `${kib(r.keptBytes)} KiB in ${r.keptFiles} files after ${r.updates}`,
        `${(r.labRssMiB / r.runtimes).toFixed(1)} MiB`,
      ].join(" | "),
    );
  }
  const first = results[0]!;
  for (const r of results.slice(1)) {
    console.log(
      `${r.runtimes} vs ${first.runtimes} runtimes (${(r.runtimes / first.runtimes).toFixed(0)}x the fleet): first deploy ${(r.firstDeployS / first.firstDeployS).toFixed(2)}x, ` +
        `10-runtime batch ${(median(r.batchS) / median(first.batchS)).toFixed(2)}x, state per runtime ${(r.stateBytes / r.runtimes / (first.stateBytes / first.runtimes)).toFixed(2)}x`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
