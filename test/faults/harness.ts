// The fault suite's harness: one lab per file (real engine, real sshd), the `fleet` CLI as a
// child process (its --json progress lines let a row strike at a given step), and the evidence a
// row is judged by. The evidence is the hosts' own (upgrade.log result ids, restart counters,
// what they serve) against what the store holds, never what the orchestrator says it did.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { countRestarts, OPENCLAW_RELEASES, BROKEN_RELEASES, readUpgradeLog, runUpgradeScript, RUNTIME_SERVICE_RELEASES, versionsRun } from "../../lab/kit";
import { labHosts } from "../../lab/lab";
import { getJson, mapLimit, pollUntil, run, type RunResult } from "../../lab/procs";
import type { FleetStore, RolloutRecord, UpgradeEvent } from "../../store/types";
import { labProject, reapOrphanedPlugins, REPO, type LabProject } from "../e2e/helpers/labProject";
import type { StoreUnderTest } from "../e2e/helpers/stores";

/** Where each row goes as one JSON line; table.ts (the project's global setup) prints them. */
export const ROWS_FILE = path.join(REPO, "test-artifacts", "faults", "rows.jsonl");

/** Each fault file's own /24 (127.0.13 + n): two files may run at once. */
export function faultsNet(file: number): string {
  return `127.0.${13 + file}`;
}

export interface FaultRow {
  fault: string;
  /** What the fleet did, as the evidence shows it (rollout status and reason, host outcomes). */
  action: string;
  /** Runtimes whose versions or host state changed that the fault's blast radius leaves out. */
  outside: string[];
  /** Host result ids (upgrade.log) with no upgrade record in the store. */
  lost: string[];
  /** Runtimes a row moved to the same versions more than once (their own upgrade.log). */
  twice: string[];
  /** From the fault's start to a stable fleet (rollout at rest, every host serving what the stack config says). */
  stableMs: number | null;
  ok?: boolean;
}

export function recordRow(row: FaultRow): void {
  mkdirSync(path.dirname(ROWS_FILE), { recursive: true });
  appendFileSync(ROWS_FILE, `${JSON.stringify(row)}\n`);
}

/** Records the row, then asserts it: zero lost, zero double, zero outside the blast radius. */
export function assertRow(row: FaultRow): void {
  const ok = row.lost.length === 0 && row.twice.length === 0 && row.outside.length === 0 && row.stableMs !== null;
  recordRow({ ...row, ok });
  expect({ outside: row.outside, lost: row.lost, twice: row.twice, stable: row.stableMs !== null }, row.fault).toEqual({
    outside: [],
    lost: [],
    twice: [],
    stable: true,
  });
}

interface LogEntry {
  id?: string;
  status?: string;
  action?: string;
  to?: { openclaw?: string; runtimeService?: string } | null;
}

export interface HostEvidence {
  runtime: string;
  /** "openclaw/runtimeService" the host serves on /version, or null when it does not answer. */
  served: string | null;
  healthy: boolean;
  restarts: number;
  log: LogEntry[];
}

export type Evidence = Map<string, HostEvidence>;

export async function hostEvidence(p: LabProject): Promise<Evidence> {
  const hosts = labHosts(p.lab);
  const seen = await mapLimit(hosts, 8, async (h): Promise<HostEvidence> => {
    const [version, health] = await Promise.all([getJson(h.address, h.healthPort, "/version"), getJson(h.address, h.healthPort, "/health")]);
    const v = version?.status === 200 ? (version.body as { openclaw?: string; runtimeService?: string }) : null;
    return {
      runtime: h.runtime,
      served: v ? `${v.openclaw}/${v.runtimeService}` : null,
      healthy: health?.status === 200,
      restarts: countRestarts(h.root),
      log: readUpgradeLog(h.root) as LogEntry[],
    };
  });
  return new Map(seen.map((e) => [e.runtime, e]));
}

/** Every upgrade record of the stack in the store, all pages. */
export async function storeUpgrades(s: FleetStore): Promise<UpgradeEvent[]> {
  const all: UpgradeEvent[] = [];
  let cursor: string | null = null;
  do {
    const page = await s.listUpgrades({ stack: "lab", limit: 100, cursor });
    all.push(...page.items);
    cursor = page.isDone ? null : page.cursor;
  } while (cursor);
  return all;
}

export interface Judgement {
  /** Runtimes whose served versions, restart count or upgrade log changed. */
  touched: string[];
  outside: string[];
  lost: string[];
  twice: string[];
  /** The new upgrade.log entries per runtime. */
  entries: Map<string, LogEntry[]>;
}

/**
 * Compares the hosts before and after a row, and the hosts' result ids with the store's records.
 * `radius`: the runtimes the fault and the rollout may change; any other that changed is outside.
 */
export function judge(before: Evidence, after: Evidence, records: readonly UpgradeEvent[], radius: readonly string[]): Judgement {
  const ids = new Set(records.map((r) => r.eventId));
  const touched: string[] = [];
  const lost: string[] = [];
  const twice: string[] = [];
  const entries = new Map<string, LogEntry[]>();
  for (const [runtime, now] of after) {
    const was = before.get(runtime)!;
    const fresh = now.log.slice(was.log.length);
    entries.set(runtime, fresh);
    // A run that failed before it changed anything (status failed) leaves the host as it was.
    const changed = fresh.some((e) => e.status === "success" || e.status === "rolled_back");
    if (changed || now.restarts !== was.restarts || now.served !== was.served) touched.push(runtime);
    for (const e of fresh) if (e.id && e.status !== "noop" && !ids.has(e.id)) lost.push(`${runtime}:${e.id}`);
    const moves = fresh.filter((e) => e.status === "success" && (e.action ?? "upgrade") === "upgrade").map((e) => `${e.to?.openclaw}/${e.to?.runtimeService}`);
    if (new Set(moves).size < moves.length) twice.push(runtime);
  }
  const allowed = new Set(radius);
  return { touched, outside: touched.filter((r) => !allowed.has(r)), lost, twice, entries };
}

/** The stack config's versions per runtime ("openclaw/runtimeService"). */
export function desired(p: LabProject): Map<string, string> {
  const runtimes = (p.stackConfig()["fleet:runtimes"] as Array<{ accountId: string; openclaw: string; runtimeService: string }>) ?? [];
  return new Map(runtimes.map((r) => [r.accountId, `${r.openclaw}/${r.runtimeService}`]));
}

const AT_REST = new Set(["completed", "halted", "paused", "aborted", "failed"]);

/**
 * Polls until the fleet is stable: the newest rollout at rest and every host serving what the
 * stack config says. Returns the milliseconds since `since`, or null past the deadline.
 */
export async function timeToStable(
  p: LabProject,
  latest: () => Promise<RolloutRecord | undefined>,
  since: number,
  { timeoutMs = 60_000, except = [] as readonly string[] } = {},
): Promise<number | null> {
  try {
    await pollUntil(
      "a stable fleet",
      async () => {
        const r = await latest();
        if (r && !AT_REST.has(r.status)) return false;
        const want = desired(p);
        const now = await hostEvidence(p);
        return [...want].every(([id, v]) => except.includes(id) || now.get(id)?.served === v);
      },
      { timeoutMs, intervalMs: 250 },
    );
    return Date.now() - since;
  } catch {
    return null;
  }
}

export interface ProgressLine {
  type: string;
  [key: string]: unknown;
}

export interface FleetRun {
  child: ChildProcess;
  events: ProgressLine[];
  /** Resolves with the first progress event matching `match` (polled, with a deadline). */
  waitFor(what: string, match: (e: ProgressLine) => boolean, timeoutMs?: number): Promise<ProgressLine>;
  /** Resolves when the CLI exits. */
  done: Promise<RunResult>;
  kill(signal: NodeJS.Signals): void;
}

/** Sets the lab of a fault file up (its own loopback /24), with every host deployed once. */
export async function faultLab(hosts: number, net: string, store?: StoreUnderTest): Promise<LabProject> {
  process.env.FLEET_LAB_NET = net;
  const p = await labProject(hosts);
  if (store) Object.assign(p.env, store.env);
  const ids = Array.from({ length: hosts }, (_, i) => `lab-${String(i + 1).padStart(2, "0")}`);
  const first = await p.engine().up(ids.map((accountId) => ({ accountId, provider: "existing" as const })));
  expect(first.ok, first.generalErrors.join("\n")).toBe(true);
  return p;
}

/** The `fleet` CLI bound to a lab project: `fleet(...)` runs to the end, `start(...)` streams. */
export function fleetCli(p: LabProject, extraEnv: () => Record<string, string> = () => ({})) {
  const argv = (args: string[]) => [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, "--stack", "lab", ...args];
  const env = () => ({ ...process.env, ...p.env, ...extraEnv() });
  const started: Array<{ child: ChildProcess; at: number }> = [];
  return {
    fleet: (...args: string[]) => run(process.execPath, argv(args), { cwd: REPO, env: env(), timeoutMs: 8 * 60_000 }),
    /** `fleet --json ARGS` in its own process group, its progress lines collected as they come. */
    start(...args: string[]): FleetRun {
      const child = spawn(process.execPath, argv(["--json", ...args]), { cwd: REPO, env: env(), stdio: ["ignore", "pipe", "pipe"], detached: true });
      started.push({ child, at: Date.now() });
      const events: ProgressLine[] = [];
      let stdout = "";
      let stderr = "";
      let partial = "";
      child.stdout!.on("data", (d: Buffer) => {
        stdout += d.toString();
        partial += d.toString();
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          try {
            const e = JSON.parse(line) as ProgressLine;
            if (e && typeof e.type === "string") events.push(e);
          } catch {
            // not a progress line
          }
        }
      });
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const done = new Promise<RunResult>((resolve) => child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
      return {
        child,
        events,
        done,
        async waitFor(what, match, timeoutMs = 180_000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const found = events.find(match);
            if (found) return found;
            // an exited CLI will not print it: say so now, with what it printed
            if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fleet exited before ${what}: ${stdout.trim().split("\n").at(-1) ?? ""} ${stderr.trim()}`);
            if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        kill: (signal) => child.kill(signal),
      };
    },
    /** Ends what `start` left (a killed CLI's process group, its orphaned Pulumi plugins). */
    async cleanup() {
      for (const { child, at } of started.splice(0)) {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // the group is already gone
        }
        await reapOrphanedPlugins(at);
      }
    },
  };
}

/** The store's newest rollout of the lab stack. */
export function latestRollout(st: StoreUnderTest, p: LabProject): () => Promise<RolloutRecord | undefined> {
  return () => st.read(p.storePath, async (s) => (await s.listRollouts({ stack: "lab", limit: 1 }))[0]);
}

/** One line for the table: the rollout's status and reason. */
export function describeOutcome(r: RolloutRecord | undefined, extra = ""): string {
  if (!r) return `no rollout${extra ? `; ${extra}` : ""}`;
  return `${r.status}: ${r.statusReason ?? ""}${extra ? `; ${extra}` : ""}`.slice(0, 160);
}

export interface RowContext {
  result: RunResult;
  run: FleetRun;
  rollout: RolloutRecord | undefined;
  before: Evidence;
  after: Evidence;
  judgement: Judgement;
}

export interface RowSpec {
  fault: string;
  /** The runtimes the row may change (the batch's intended blast radius). */
  radius: readonly string[];
  /** `fleet rollout` arguments (after `rollout`); --json is added. */
  rollout: string[];
  /** Before the rollout starts (inject a fault). */
  before?: () => Promise<void>;
  /** While it runs (strike at a step, seen in its progress lines). */
  during?: (run: FleetRun) => Promise<void>;
  /** The expected fleet action, asserted; returns the table's "what the fleet did". */
  expect: (ctx: RowContext) => Promise<string> | string;
  /** Always run at the end (clear the faults). */
  after?: () => Promise<void>;
  /** Runtimes whose stack config a person changed on purpose (not deployed): left out of "stable". */
  stableExcept?: readonly string[];
}

export interface Suite {
  p: LabProject;
  st: StoreUnderTest;
  cli: ReturnType<typeof fleetCli>;
}

/**
 * One row: evidence before, the fault, the rollout as a user runs it, the time to a stable fleet,
 * evidence after; the row is recorded for the table, then asserted.
 */
export async function runRow(s: Suite, spec: RowSpec): Promise<void> {
  const latest = latestRollout(s.st, s.p);
  const before = await hostEvidence(s.p);
  const t0 = Date.now();
  let action = "(did not finish)";
  let row: FaultRow | undefined;
  try {
    await spec.before?.();
    const run = s.cli.start("rollout", ...spec.rollout);
    await spec.during?.(run);
    const result = await run.done;
    const stableMs = await timeToStable(s.p, latest, t0, { except: spec.stableExcept ?? [] });
    const after = await hostEvidence(s.p);
    const records = await s.st.read(s.p.storePath, storeUpgrades);
    const judgement = judge(before, after, records, spec.radius);
    row = { fault: spec.fault, action, outside: judgement.outside, lost: judgement.lost, twice: judgement.twice, stableMs };
    // a record stored twice is a double too (the hosts' ids are unique per attempt)
    expect(new Set(records.map((r) => r.eventId)).size, "upgrade records stored twice").toBe(records.length);
    action = await spec.expect({ result, run, rollout: await latest(), before, after, judgement });
    row.action = action;
  } catch (error) {
    recordRow({ ...(row ?? { fault: spec.fault, outside: [], lost: [], twice: [], stableMs: null }), action: `${row?.action ?? action}; ${(error as Error).message.split("\n")[0]}`.slice(0, 200), ok: false });
    throw error;
  } finally {
    await spec.after?.();
    await s.cli.cleanup();
    await settleLeftovers(s);
    await repairDrift(s.p);
  }
  assertRow(row);
}

/**
 * After a row that failed midway: a rollout it left unfinished is aborted and its stack lock
 * freed, so the next row starts on a stack at rest (its own verdict, not this row's).
 */
async function settleLeftovers(s: Suite): Promise<void> {
  const left = await latestRollout(s.st, s.p)();
  if (left && !AT_REST.has(left.status)) await s.cli.fleet("rollout", "abort", left.rolloutId);
  await s.st.read(s.p.storePath, async (store) => {
    const holder = await store.getLock("lab");
    if (holder) await store.breakLock("lab", holder);
  });
}

/**
 * After a row (its evidence taken): a host left on other versions than the stack config says is
 * put back by running its script directly, so one row's defect does not spill into the next.
 */
export async function repairDrift(p: LabProject): Promise<string[]> {
  const want = desired(p);
  const now = await hostEvidence(p);
  const repaired: string[] = [];
  for (const host of labHosts(p.lab)) {
    const v = want.get(host.runtime);
    if (!v || now.get(host.runtime)?.served === v) continue;
    const [openclaw, runtimeService] = v.split("/");
    const r = await runUpgradeScript(host, ["upgrade", "--stdin"], JSON.stringify({ openclaw, runtimeService }));
    if (r.code !== 0) throw new Error(`repairing ${host.runtime} to ${v} failed: ${r.stdout}${r.stderr}`);
    repaired.push(host.runtime);
  }
  return repaired;
}

/** `--to X --runtime-service Y --allow-downgrade`: a version pair no host of the lab has run (lab faults spare what a host ran). */
export function freshTarget(p: LabProject): string[] {
  const ran = new Set(labHosts(p.lab).flatMap((h) => versionsRun(h)));
  for (const openclaw of [...OPENCLAW_RELEASES].reverse()) {
    if (BROKEN_RELEASES.includes(openclaw)) continue;
    for (const runtimeService of RUNTIME_SERVICE_RELEASES) {
      if (!ran.has(`${openclaw}+${runtimeService}`)) return ["--to", openclaw, "--runtime-service", runtimeService, "--allow-downgrade"];
    }
  }
  throw new Error("every release pair of the lab has run: the lab needs more releases for this many rows");
}

/** "openclaw/runtimeService" of freshTarget's arguments. */
export function servedAs(args: readonly string[]): string {
  return `${args[args.indexOf("--to") + 1]}/${args[args.indexOf("--runtime-service") + 1]}`;
}

/** The one line a refused CLI printed: stderr, or with --json its one JSON line's error. */
export function refusal(r: RunResult): string[] {
  const err = r.stderr.trim();
  if (err !== "") return err.split("\n");
  const lines = r.stdout.trim().split("\n").filter((l) => l !== "");
  const last = lines.at(-1);
  const doc = last ? (JSON.parse(last) as { ok?: boolean; error?: string }) : {};
  return doc.ok === false && doc.error ? [doc.error] : lines;
}

export function withStatus(j: Judgement, status: string): string[] {
  return [...j.entries].filter(([, es]) => es.some((e) => e.status === status)).map(([id]) => id).sort();
}
