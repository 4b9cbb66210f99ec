// `npm run bench:rollout [-- --hosts N --runs R]`: on one lab of N hosts (default 100), alternating
// in one run, each target upgrades the whole fleet to a new version and back, 10% of the hosts
// at a time, no waits, no bake:
//   fleet    the rollout orchestrator as `fleet rollout` runs it (targeted `pulumi up` per batch,
//            probes, gates, records), with its store, probe and engine timed from the outside
//   ansible  the same on-host script driven by bench/ansible/upgrade.yml, serial 10%, a health
//            and version check per host
//   floor    plain parallel `ssh` of the script (bench/floor.sh), one batch at a time
// Prints each wall time, the per-batch medians, fleet/floor and fleet/Ansible, and where a fleet
// batch's seconds go. A benchmark: figures on this machine, never pass/fail.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { engineEnv, probe, stackContext } from "../control/context";
import { accountOfUrn, AutomationEngine, type EngineRunResult, type StackEngine } from "../control/engine";
import { planRollout } from "../control/operations";
import { newRolloutId, Orchestrator, type ProgressEvent } from "../control/orchestrator";
import type { ProbeResult, ProbeTarget } from "../control/probe";
import { median } from "../fleet/metrics";
import { stepSize } from "../fleet/plan";
import { check, doctor, missingLine, requirementsFor, systemIo } from "../lab/doctor";
import { INITIAL_OPENCLAW, INITIAL_RUNTIME_SERVICE } from "../lab/kit";
import { LAB_STACK, labStatus, MAX_HOSTS } from "../lab/lab";
import { openStore } from "../store";
import type { FleetStore, UpgradeEvent } from "../store/types";
import { labProject, type LabProject } from "../test/e2e/helpers/labProject";
import { keptSize, stateSize } from "./state";
import { runAnsible, writeAnsibleFiles, type AnsibleFiles } from "./ansible";
import { runFloor } from "./floor";

const BATCH_PERCENT = 10;
const NEW_OPENCLAW = "v1.2.5";
const TARGETS = ["fleet", "ansible", "floor"] as const;
type Target = (typeof TARGETS)[number];

/** What `control/engine.ts` reports of a run's time, when it does (EngineRunResult.timings). */
interface EngineTimings {
  totalMs: number;
  programStartMs: number;
  perRuntime: Record<string, { commandMs: number; scriptMs?: number }>;
}

/** Where one fleet batch's milliseconds went. */
export interface BatchSplit {
  wallMs: number;
  /** `pulumi up` start to its first resource event (CLI, language host, type-check, program). */
  programStartMs: number;
  /** The rest of the engine run: planning, checkpoints, hooks, shutdown. */
  engineMs: number;
  /** The slowest runtime's deploy command minus its script: connect, session, provider. */
  sshMs: number;
  /** The slowest runtime's on-host script (its result line). */
  scriptMs: number;
  probesMs: number;
  storeMs: number;
  /** The orchestrator's own work between the others (stack config writes, gates). */
  otherMs: number;
}

export interface LegResult {
  target: Target;
  to: string;
  ok: boolean;
  wallMs: number;
  batchMs: number[];
  splits?: BatchSplit[];
  detail?: string;
}

// Options -------------------------------------------------------------------------------------

export interface BenchOptions {
  hosts: number;
  runs: number;
}

export class BenchUsageError extends Error {}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const opts: BenchOptions = { hosts: 100, runs: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const int = (field: string, max: number) => {
      if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
        throw new BenchUsageError(`${field}: ${JSON.stringify(value ?? "")} is not a count (expected an integer 1..${max})`);
      }
      i++;
      return Number(value);
    };
    if (flag === "--hosts") opts.hosts = int("--hosts", MAX_HOSTS);
    else if (flag === "--runs") opts.runs = int("--runs", 20);
    else throw new BenchUsageError(`${JSON.stringify(flag)}: not an option (expected --hosts N, --runs R)`);
  }
  return opts;
}

// The fleet, timed from the outside ------------------------------------------------------------

/** Intervals spent in the store, the probe and the engine, attributed to the batch running. */
class Timeline {
  batch = -1;
  readonly batchStarts: number[] = [];
  endMs = 0;
  readonly spent: Array<{ store: number; probes: number; engine: number; run?: EngineRunResult & { timings?: EngineTimings } }> = [];
  readonly events = new Map<number, Array<{ at: number; event: EngineEvent }>>();
  readonly upStarts = new Map<number, number>();

  private slot() {
    return (this.spent[Math.max(0, this.batch)] ??= { store: 0, probes: 0, engine: 0 });
  }

  add(kind: "store" | "probes" | "engine", ms: number): void {
    this.slot()[kind] += ms;
  }

  onProgress(e: ProgressEvent): void {
    if (e.type === "batch") {
      this.batch = e.batch;
      this.batchStarts[e.batch] = Date.now();
    } else if (e.type === "end") this.endMs = Date.now();
  }

  onEngineEvent(event: EngineEvent): void {
    const list = this.events.get(this.batch) ?? [];
    list.push({ at: Date.now(), event });
    this.events.set(this.batch, list);
  }

  recordRun(run: EngineRunResult): void {
    this.slot().run = run;
  }
}

/** Every store method timed (the store is awaited in turn by the orchestrator, so times add up). */
function timedStore(store: FleetStore, t: Timeline): FleetStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || prop === "close") return value;
      return async (...args: unknown[]) => {
        const start = performance.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          t.add("store", performance.now() - start);
        }
      };
    },
  });
}

function timedEngine(engine: StackEngine, t: Timeline): StackEngine {
  return {
    up: async (targets, env) => {
      const start = performance.now();
      t.upStarts.set(t.batch, Date.now());
      try {
        const run = await engine.up(targets, env);
        t.recordRun(run);
        return run;
      } finally {
        t.add("engine", performance.now() - start);
      }
    },
    preview: (targets, env, configFile) => engine.preview(targets, env, configFile),
    outputs: () => engine.outputs(),
    clearStaleLock: (ms) => engine.clearStaleLock(ms),
  };
}

function timedProbe(t: Timeline): (targets: ProbeTarget[]) => Promise<ProbeResult[]> {
  return async (targets) => {
    const start = performance.now();
    try {
      return await probe(targets);
    } finally {
      t.add("probes", performance.now() - start);
    }
  };
}

/**
 * From the engine's events (as they arrived): program start = `up` called to the first event of a
 * runtime's resource; per runtime, its deploy command's start to its last command's outputs (the
 * deploy's, or an agent runtime's verify after it).
 */
export function engineSpans(upStartMs: number, events: ReadonlyArray<{ at: number; event: EngineEvent }>): { programStartMs: number; hostMs: Map<string, number> } {
  let first: number | undefined;
  const deployStart = new Map<string, number>();
  const hostMs = new Map<string, number>();
  for (const { at, event } of events) {
    const pre = event.resourcePreEvent;
    const outputs = event.resOutputsEvent;
    // The first event of a runtime's resource: the program has run (the stack's own root comes earlier).
    const urn = pre?.metadata.urn ?? outputs?.metadata.urn;
    if (urn !== undefined && first === undefined && accountOfUrn(urn)) first = at;
    if (pre) {
      const owner = accountOfUrn(pre.metadata.urn);
      if (owner?.child === "deploy" && pre.metadata.op !== "same") deployStart.set(owner.accountId, at);
    }
    if (outputs) {
      const owner = accountOfUrn(outputs.metadata.urn);
      const start = owner ? deployStart.get(owner.accountId) : undefined;
      if ((owner?.child === "deploy" || owner?.child === "verify") && start !== undefined) hostMs.set(owner.accountId, at - start);
    }
  }
  return { programStartMs: first === undefined ? 0 : first - upStartMs, hostMs };
}

async function upgradesOf(store: FleetStore, rolloutId: string): Promise<Map<string, UpgradeEvent>> {
  const out = new Map<string, UpgradeEvent>();
  let cursor: string | null = null;
  do {
    const page = await store.listUpgrades({ stack: "lab", rolloutId, limit: 100, cursor });
    for (const e of page.items) if (!out.has(e.accountId)) out.set(e.accountId, e);
    cursor = page.isDone ? null : page.cursor;
  } while (cursor);
  return out;
}

async function fleetLeg(p: LabProject, to: string, back: boolean): Promise<LegResult> {
  const t = new Timeline();
  const sc = await stackContext({ globals: { stack: "lab" }, projectDir: p.projectDir });
  const { resolved, plan } = planRollout(sc, {
    to,
    strategy: "rolling",
    batch: `${BATCH_PERCENT}%`,
    wait: "0s",
    bake: "0s",
    ...(back ? { allowDowngrade: true } : {}),
    reason: "bench:rollout",
  });
  const store = await openStore({ localPath: p.storePath });
  try {
    const engine = new AutomationEngine({ projectDir: p.projectDir, stack: "lab", env: { ...engineEnv(p.projectDir), ...p.env }, onEvent: (e) => t.onEngineEvent(e) });
    const orchestrator = new Orchestrator({
      store: timedStore(store, t),
      engine: timedEngine(engine, t),
      stack: "lab",
      configFile: sc.configFile,
      loadFleet: sc.loadFleet,
      probe: timedProbe(t),
      engineEnv: engineEnv(p.projectDir),
      progress: (e) => t.onProgress(e),
    });
    const started = Date.now();
    const outcome = await orchestrator.start({ rolloutId: newRolloutId(), plan, settings: resolved.settings, initiatedBy: "bench", extraOptions: resolved.recorded });
    const wallMs = (t.endMs || Date.now()) - started;
    const upgrades = await upgradesOf(store, outcome.rolloutId);
    const splits = plan.batches.map((b, i): BatchSplit => {
      const startMs = t.batchStarts[i] ?? started;
      const endMs = t.batchStarts[i + 1] ?? t.endMs;
      const spent = t.spent[i] ?? { store: 0, probes: 0, engine: 0 };
      const timings = spent.run?.timings;
      const spans = engineSpans(t.upStarts.get(i) ?? startMs, t.events.get(i) ?? []);
      // The batch waits for its slowest runtime: its commands and its script.
      let slowest = { host: 0, script: 0 };
      for (const id of b.accountIds) {
        const host = timings?.perRuntime[id]?.commandMs ?? spans.hostMs.get(id) ?? 0;
        const script = timings?.perRuntime[id]?.scriptMs ?? upgrades.get(id)?.durationMs ?? 0;
        if (host > slowest.host) slowest = { host, script };
      }
      const programStartMs = timings?.programStartMs ?? spans.programStartMs;
      const wall = endMs - startMs;
      return {
        wallMs: wall,
        programStartMs,
        engineMs: Math.max(0, spent.engine - programStartMs - slowest.host),
        sshMs: Math.max(0, slowest.host - slowest.script),
        scriptMs: slowest.script,
        probesMs: spent.probes,
        storeMs: spent.store,
        otherMs: Math.max(0, wall - spent.engine - spent.probes - spent.store),
      };
    });
    const ok = outcome.status === "completed" && outcome.failed.length === 0;
    return { target: "fleet", to, ok, wallMs, batchMs: splits.map((s) => s.wallMs), splits, ...(ok ? {} : { detail: `${outcome.status}: ${outcome.reason}` }) };
  } finally {
    await store.close();
  }
}

// The legs ------------------------------------------------------------------------------------

async function ansibleLeg(files: AnsibleFiles, to: string): Promise<LegResult> {
  const r = await runAnsible(files, { openclaw: to, runtimeService: INITIAL_RUNTIME_SERVICE }, `${BATCH_PERCENT}%`);
  return { target: "ansible", to, ok: r.ok, wallMs: r.wallMs, batchMs: r.batches.map((b) => b.endMs - b.startMs), ...(r.ok ? {} : { detail: r.tail.slice(-8).join("\n") }) };
}

async function floorLeg(p: LabProject, to: string, dir: string): Promise<LegResult & { sshMs: number[] }> {
  const batch = stepSize({ percent: BATCH_PERCENT }, p.lab.hosts.length);
  const r = await runFloor(p.lab, { openclaw: to, runtimeService: INITIAL_RUNTIME_SERVICE }, batch, dir);
  const failed = r.batches.flatMap((b) => b.hosts).filter((h) => !h.ok);
  return {
    target: "floor",
    to,
    ok: r.ok,
    wallMs: r.wallMs,
    batchMs: r.batches.map((b) => b.endMs - b.startMs),
    sshMs: r.batches.flatMap((b) => b.hosts.map((h) => h.wallMs - h.scriptMs)),
    ...(r.ok ? {} : { detail: `${failed.map((h) => `${h.name}: ${h.result?.error ?? "no result"}`).join("; ")} ${r.stderr}`.trim() }) };
}

/** Every lab host serves `to`: a leg that did not really upgrade the fleet counts for nothing. */
async function checkServed(p: LabProject, to: string): Promise<string | undefined> {
  const { hosts } = await labStatus(p.labDir);
  const off = hosts.filter((h) => !h.healthy || h.openclaw !== to);
  return off.length === 0 ? undefined : `${off.length} hosts do not serve ${to}: ${off.slice(0, 5).map((h) => `${h.runtime} ${h.healthy ? h.openclaw : "unhealthy"}`).join(", ")}`;
}

// Report --------------------------------------------------------------------------------------

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The stack's file backend after the runs: its checkpoint (stored and as JSON) and the copies it keeps. */
export interface StateFigures {
  storedBytes: number;
  jsonBytes: number;
  keptBytes: number;
  keptFiles: number;
  updates: number;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function report(results: readonly LegResult[], hosts: number, firstDeployMs: number, runs: number, state?: StateFigures): string {
  const lines: string[] = [];
  const batches = Math.ceil(hosts / stepSize({ percent: BATCH_PERCENT }, hosts));
  lines.push(`rollout benchmark: ${hosts} hosts, ${BATCH_PERCENT}% batches (${batches} per rollout), no waits, no bake, ${runs} run${runs === 1 ? "" : "s"}; Node ${process.versions.node}, ${os.cpus().length} cores`);
  lines.push(`first deploy of ${hosts} runtimes (pulumi up of the whole stack): ${s(firstDeployMs)}`);
  if (state) {
    lines.push(
      `state per runtime after ${state.updates} updates: ${kib(state.storedBytes / hosts)} stored, ${kib(state.jsonBytes / hosts)} as JSON; history and backups kept: ${kib(state.keptBytes)} in ${state.keptFiles} files`,
    );
  }
  lines.push("");
  lines.push("target   to       wall       median batch   ok");
  for (const r of results) lines.push(`${r.target.padEnd(8)} ${r.to.padEnd(8)} ${s(r.wallMs).padStart(9)}  ${s(median(r.batchMs)).padStart(12)}   ${r.ok ? "yes" : `NO: ${r.detail ?? ""}`}`);
  lines.push("");
  const wall = (t: Target) => median(results.filter((r) => r.target === t && r.ok).map((r) => r.wallMs));
  const batch = (t: Target) => median(results.filter((r) => r.target === t && r.ok).flatMap((r) => r.batchMs));
  for (const t of TARGETS) lines.push(`${t.padEnd(8)} median wall ${s(wall(t)).padStart(9)}   median batch ${s(batch(t)).padStart(8)}`);
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : "n/a");
  lines.push(`fleet/floor ${ratio(wall("fleet"), wall("floor"))}   fleet/Ansible ${ratio(wall("fleet"), wall("ansible"))}   Ansible/floor ${ratio(wall("ansible"), wall("floor"))}`);
  const splits = results.flatMap((r) => r.splits ?? []);
  if (splits.length > 0) {
    const m = (k: keyof BatchSplit) => median(splits.map((x) => x[k]));
    lines.push("");
    lines.push(`where a fleet batch's seconds go (median of ${splits.length} batches; each part's own median, so they need not add up):`);
    lines.push(
      `  wall ${s(m("wallMs"))} = program start ${s(m("programStartMs"))} + engine ${s(m("engineMs"))} + SSH ${s(m("sshMs"))} + script ${s(m("scriptMs"))} + probes ${s(m("probesMs"))} + store ${s(m("storeMs"))} + other ${s(m("otherMs"))}`,
    );
  }
  return lines.join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(argv);
  } catch (e) {
    if (!(e instanceof BenchUsageError)) throw e;
    process.stderr.write(`bench:rollout: ${e.message}\n`);
    return 2;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // The lab's programs and Ansible (Debian's ansible-core), installed by the doctor when missing
  // (root on Debian); the other benchmarks' needs are not this one's.
  const io = systemIo(log);
  const needs = requirementsFor("bench").filter((r) => r.neededBy === "demo" || r.command === "ansible-playbook");
  if (check(needs, io).some((c) => c.found === null)) doctor({ purpose: "bench", install: true }, io);
  const checks = check(needs, io);
  if (checks.some((c) => c.found === null)) {
    log(`bench:rollout: ${missingLine(checks, io.isRoot)}`);
    return 1;
  }
  log(`bench:rollout: starting a lab of ${opts.hosts} hosts`);
  const p = await labProject(opts.hosts);
  const work = mkdtempSync(path.join(os.tmpdir(), "fleet-bench-"));
  try {
    const files = writeAnsibleFiles(p.lab, work);
    const all = p.lab.hosts.map((h) => ({ accountId: h.runtime, provider: "existing" as const }));
    const t0 = Date.now();
    const first = await p.engine().up(all);
    const firstDeployMs = Date.now() - t0;
    if (!first.ok) throw new Error(`the first deploy failed: ${[...first.generalErrors, ...[...first.runtimes.values()].flatMap((r) => r.errors)].slice(0, 3).join("; ")}`);
    log(`bench:rollout: first deploy ${s(firstDeployMs)}`);
    const results: LegResult[] = [];
    for (let run = 0; run < opts.runs; run++) {
      // Alternating: each run starts with the next target, so no target always runs on a warm machine.
      const order = TARGETS.map((_, i) => TARGETS[(i + run) % TARGETS.length]!);
      for (const target of order) {
        for (const [to, back] of [[NEW_OPENCLAW, false], [INITIAL_OPENCLAW, true]] as const) {
          log(`bench:rollout: run ${run + 1}/${opts.runs}: ${target} to ${to}`);
          const dir = path.join(work, `${target}-${run}-${to}`);
          mkdirSync(dir, { recursive: true });
          const leg = target === "fleet" ? await fleetLeg(p, to, back) : target === "ansible" ? await ansibleLeg(files, to) : await floorLeg(p, to, dir);
          const off = leg.ok ? await checkServed(p, to) : undefined;
          if (off) Object.assign(leg, { ok: false, detail: off });
          results.push(leg);
          log(`bench:rollout:   ${s(leg.wallMs)}${leg.ok ? "" : ` FAILED: ${leg.detail ?? ""}`}`);
          if (!leg.ok) throw new Error(`${target} to ${to} failed (the lab is no longer on one version): ${leg.detail ?? ""}`);
        }
      }
    }
    const checkpoint = stateSize(p, LAB_STACK);
    const kept = keptSize(p);
    // the first deploy, then one update per fleet batch
    const updates = 1 + results.filter((r) => r.target === "fleet").reduce((n, r) => n + r.batchMs.length, 0);
    const state = { storedBytes: checkpoint.bytes, jsonBytes: checkpoint.raw, keptBytes: kept.bytes, keptFiles: kept.files, updates };
    process.stdout.write(`${report(results, opts.hosts, firstDeployMs, opts.runs, state)}\n`);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
    await p.down();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bench:rollout: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
