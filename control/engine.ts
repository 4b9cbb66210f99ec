// The real Pulumi engine through the Automation API: targeted `pulumi up` and `pulumi preview`
// over a batch of runtimes, with each runtime's outcome read from the engine events.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace, PulumiCommand, type EngineEvent, type OutputMap, type Stack } from "@pulumi/pulumi/automation";
import { BATCH_ENV, fleetProgram, OUTPUTS_ENV, type ProgramOptions } from "../components/program";
import { RUNTIME_TYPE } from "../components/runtime";
import type { ResolvedRuntime } from "../fleet/config";
import { parseUpgradeResult } from "../protocol/onhost";

export const PROJECT_NAME = "runtime-fleet";

/** Children of a Runtime component, by the suffix of their resource name. */
export const RUNTIME_CHILDREN = {
  install: { type: "command:local:Command", suffix: "install" },
  deploy: { type: "command:remote:Command", suffix: "deploy" },
  verify: { type: "command:remote:Command", suffix: "verify" },
  /** An agent runtime's install of its agent, in place of the deploy. */
  agent: { type: "command:remote:Command", suffix: "agent" },
  droplet: { type: "digitalocean:index/droplet:Droplet", suffix: "droplet" },
} as const;

export function runtimeUrn(stack: string, accountId: string): string {
  return `urn:pulumi:${stack}::${PROJECT_NAME}::${RUNTIME_TYPE}::${accountId}`;
}

export function childUrn(stack: string, accountId: string, child: keyof typeof RUNTIME_CHILDREN): string {
  const { type, suffix } = RUNTIME_CHILDREN[child];
  return `urn:pulumi:${stack}::${PROJECT_NAME}::${RUNTIME_TYPE}$${type}::${accountId}-${suffix}`;
}

/** What the engine needs to know of a runtime to target it. */
export type EngineTarget = Pick<ResolvedRuntime, "accountId" | "provider"> & { executor?: ResolvedRuntime["executor"] };

/**
 * Every URN a batch's `pulumi up` is targeted at: the component and its children (a target the
 * stack neither has nor registers fails the run, so only the children the component makes).
 */
export function runtimeTargets(stack: string, runtime: EngineTarget): string[] {
  const urns = [runtimeUrn(stack, runtime.accountId)];
  if (runtime.provider === "digitalocean") urns.push(childUrn(stack, runtime.accountId, "droplet"));
  urns.push(childUrn(stack, runtime.accountId, "install"));
  if (runtime.executor === "agent") urns.push(childUrn(stack, runtime.accountId, "agent"), childUrn(stack, runtime.accountId, "verify"));
  else urns.push(childUrn(stack, runtime.accountId, "deploy"));
  return urns;
}

/** The account id a URN belongs to, when it is a Runtime or one of its children. */
export function accountOfUrn(urn: string): { accountId: string; child?: string } | undefined {
  const name = urn.split("::").at(-1) ?? "";
  if (urn.includes(`::${RUNTIME_TYPE}::`)) return { accountId: name };
  if (!urn.includes(`::${RUNTIME_TYPE}$`)) return undefined;
  const m = /^(.*)-(install|deploy|verify|agent|droplet)$/.exec(name);
  return m ? { accountId: m[1]!, child: m[2]! } : undefined;
}

export interface RuntimeRunResult {
  accountId: string;
  /** The engine reported no failure for any of its resources. */
  ok: boolean;
  /** Operations the engine performed on its deploy command (e.g. "update"); empty when unchanged. */
  deployOps: string[];
  /** Error diagnostics the engine attached to its resources. */
  errors: string[];
}

export interface EngineRunTimings {
  /** Wall time of the whole `pulumi up`, from the call to its end. */
  totalMs: number;
  /** From the call to the engine's first step on a resource: CLI start, program start and registration. */
  programStartMs: number;
  /**
   * Per runtime: how long its remote commands ran (first step started to last step done), and
   * how long the on-host script itself said it took (its result line's durationMs), when it ran.
   */
  perRuntime: Record<string, { commandMs: number; scriptMs?: number }>;
  /** From the last step's end to the end of the call: the engine saving the state, then outputs and summary read back. */
  afterStepsMs?: number;
}

export interface EngineRunResult {
  ok: boolean;
  runtimes: Map<string, RuntimeRunResult>;
  /** Errors not attached to any runtime (program errors, policy violations, lock held...). */
  generalErrors: string[];
  outputs: Record<string, unknown>;
  /** Where the run's time went (for benchmarks and the plan's estimate). */
  timings?: EngineRunTimings;
}

export interface ChangeSummary {
  accountId: string;
  resource: string;
  op: string;
  diffs: string[];
}

export interface StackEngine {
  up(targets: readonly EngineTarget[], env?: Record<string, string>): Promise<EngineRunResult>;
  /** With `configFile`, previews against that copy of the stack config instead of the stack's own. */
  preview(targets?: readonly EngineTarget[], env?: Record<string, string>, configFile?: string): Promise<{ changes: ChangeSummary[]; ok: boolean; errors: string[] }>;
  outputs(): Promise<Record<string, unknown>>;
  /**
   * Clears what a killed run left: waits (bounded) for a `pulumi` process of this stack that is
   * still running to end, then removes a lock whose process is gone.
   */
  clearStaleLock(timeoutMs?: number): Promise<void>;
}

export interface EngineOptions {
  projectDir: string;
  stack: string;
  /**
   * How the program runs. "inline" (the default): in this process, through the Automation API's
   * inline programs (components/program.ts), so a batch pays for no Node start, SDK load or
   * transpile of the program; one run at a time per process. "local": the language host runs
   * index.ts, as a `pulumi up` by hand does (several stacks at once from one process).
   */
  program?: "inline" | "local";
  /** Extra environment for every engine run (backend URL, passphrase...). */
  env?: Record<string, string>;
  onEvent?: (event: EngineEvent) => void;
}

/** Collects per-runtime outcomes from the engine's event stream. */
export class OutcomeCollector {
  readonly runtimes = new Map<string, RuntimeRunResult>();
  readonly generalErrors: string[] = [];
  readonly changes: ChangeSummary[] = [];

  constructor(accountIds: readonly string[]) {
    for (const id of accountIds) this.runtimes.set(id, { accountId: id, ok: true, deployOps: [], errors: [] });
  }

  private entry(accountId: string): RuntimeRunResult {
    let e = this.runtimes.get(accountId);
    if (!e) {
      e = { accountId, ok: true, deployOps: [], errors: [] };
      this.runtimes.set(accountId, e);
    }
    return e;
  }

  handle(event: EngineEvent): void {
    const failed = event.resOpFailedEvent;
    if (failed) {
      const owner = accountOfUrn(failed.metadata.urn);
      if (owner) this.entry(owner.accountId).ok = false;
    }
    const pre = event.resourcePreEvent;
    if (pre) {
      const owner = accountOfUrn(pre.metadata.urn);
      if (owner?.child && pre.metadata.op !== "same") {
        this.changes.push({ accountId: owner.accountId, resource: owner.child, op: pre.metadata.op, diffs: pre.metadata.diffs ?? [] });
        if (owner.child === "deploy") this.entry(owner.accountId).deployOps.push(pre.metadata.op);
      }
    }
    const diag = event.diagnosticEvent;
    if (diag && diag.severity === "error") {
      const owner = diag.urn ? accountOfUrn(diag.urn) : undefined;
      const message = diag.message.trim();
      if (owner) {
        const e = this.entry(owner.accountId);
        e.ok = false;
        e.errors.push(message);
      } else if (message) {
        this.generalErrors.push(message);
      }
    }
  }
}

/** Times a run from its engine events: when steps on each runtime's resources began and ended. */
export class TimingCollector {
  private readonly started: number;
  private firstStep?: number;
  private lastStep?: number;
  private readonly spans = new Map<string, { from: number; to: number; scriptMs?: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.started = now();
  }

  handle(event: EngineEvent): void {
    const pre = event.resourcePreEvent;
    const t = this.now();
    if (pre && !pre.planning) {
      this.firstStep ??= t;
      const owner = accountOfUrn(pre.metadata.urn);
      if (owner?.child && pre.metadata.op !== "same") {
        const span = this.spans.get(owner.accountId);
        if (span) span.to = Math.max(span.to, t);
        else this.spans.set(owner.accountId, { from: t, to: t });
      }
    }
    const done = event.resOutputsEvent ?? event.resOpFailedEvent;
    if (done && !("planning" in done && done.planning)) {
      this.lastStep = t;
      const owner = accountOfUrn(done.metadata.urn);
      const span = owner?.child ? this.spans.get(owner.accountId) : undefined;
      if (owner && span) {
        span.to = Math.max(span.to, t);
        if (owner.child === "deploy") {
          const stdout = done.metadata.new?.outputs?.stdout;
          const result = typeof stdout === "string" ? parseUpgradeResult(stdout) : undefined;
          if (result && result.durationMs > 0) span.scriptMs = result.durationMs;
        }
      }
    }
  }

  result(): EngineRunTimings {
    const end = this.now();
    const perRuntime: EngineRunTimings["perRuntime"] = {};
    for (const [id, span] of this.spans) perRuntime[id] = { commandMs: span.to - span.from, ...(span.scriptMs !== undefined ? { scriptMs: span.scriptMs } : {}) };
    return { totalMs: end - this.started, programStartMs: (this.firstStep ?? end) - this.started, perRuntime, ...(this.lastStep !== undefined ? { afterStepsMs: end - this.lastStep } : {}) };
  }
}

export class AutomationEngine implements StackEngine {
  private stackPromise?: Promise<Stack>;
  /** The stack's `fleetRuntimes` output as the last run left it (a batch's program keeps the others' entries). */
  private runtimeOutputs?: Record<string, unknown>;

  constructor(private readonly options: EngineOptions) {}

  /** What the next inline run of the program registers (the run in progress, runs being one at a time). */
  private programRun: ProgramOptions = {};

  private get inline(): boolean {
    return (this.options.program ?? "inline") === "inline";
  }

  private stack(): Promise<Stack> {
    this.stackPromise ??= (async () => {
      const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: false }).catch(() => undefined);
      const opts = { workDir: this.options.projectDir, envVars: { ...defaultEngineEnv(), ...(this.options.env ?? {}) }, ...(pulumiCommand ? { pulumiCommand } : {}) };
      // Inline: the project (Pulumi.yaml) and stack config are the project directory's; only the
      // program runs here, as the language host would run index.ts.
      return this.inline
        ? LocalWorkspace.selectStack({ stackName: this.options.stack, projectName: PROJECT_NAME, program: async () => fleetProgram(this.programRun) }, opts)
        : LocalWorkspace.selectStack({ stackName: this.options.stack, workDir: this.options.projectDir }, opts);
    })();
    return this.stackPromise;
  }

  /** Runs `fn` with the program's options for its run; inline runs take turns in this process (the SDK's runtime state is global). */
  private async withProgram<T>(stack: Stack, run: Omit<ProgramOptions, "env" | "onEnd">, fn: () => Promise<T>): Promise<T> {
    if (!this.inline) return fn();
    return exclusive(async () => {
      const closers: Array<() => Promise<void>> = [];
      this.programRun = { ...run, env: { ...process.env, ...stack.workspace.envVars }, onEnd: (close) => closers.push(close) };
      try {
        return await fn();
      } finally {
        this.programRun = {};
        await Promise.all(closers.map((close) => close().catch(() => undefined)));
      }
    });
  }

  /**
   * A language host's program reads the previous outputs of the runtimes its batch leaves out
   * from a file the engine writes for the run (an inline program gets them as an option).
   */
  private languageHostBatch(targets: readonly EngineTarget[]): { env: Record<string, string>; cleanup(): void } {
    if (this.inline || targets.length === 0) return { env: {}, cleanup: () => undefined };
    const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-engine-"));
    const file = path.join(dir, "fleet-runtimes.json");
    // Addresses and versions only (never a secret): the entries of runtimes outside the batch.
    writeFileSync(file, JSON.stringify(this.runtimeOutputs), { mode: 0o600 });
    return { env: { [OUTPUTS_ENV]: file }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  async up(targets: readonly EngineTarget[], env: Record<string, string> = {}): Promise<EngineRunResult> {
    const timing = new TimingCollector();
    const stack = await this.stack();
    const collector = new OutcomeCollector(targets.map((t) => t.accountId));
    this.runtimeOutputs ??= ((await this.outputs().catch(() => ({}))) as { fleetRuntimes?: Record<string, unknown> }).fleetRuntimes ?? {};
    const hostBatch = this.languageHostBatch(targets);
    const restore = withEnv(stack, { ...batchEnv(targets, this.inline ? "inline" : "local"), ...hostBatch.env, ...env });
    const batch = targets.length > 0 ? { only: targets.map((t) => t.accountId), previousRuntimes: this.runtimeOutputs } : {};
    const remember = (outputs: Record<string, unknown>) => {
      const runtimes = (outputs as { fleetRuntimes?: Record<string, unknown> }).fleetRuntimes;
      this.runtimeOutputs = runtimes ?? undefined;
      return outputs;
    };
    const stackOutputs = new StackOutputsCollector();
    try {
      const result = await this.withProgram(stack, batch, () => withoutReadBack(stack, stackOutputs).up({
        target: targets.flatMap((t) => runtimeTargets(this.options.stack, t)),
        ...batchParallel(targets.length, { ...process.env, ...stack.workspace.envVars }),
        onEvent: (e) => {
          collector.handle(e);
          timing.handle(e);
          stackOutputs.handle(e);
          this.options.onEvent?.(e);
        },
        color: "never",
        suppressProgress: true,
      }));
      return {
        ok: [...collector.runtimes.values()].every((r) => r.ok),
        runtimes: collector.runtimes,
        generalErrors: collector.generalErrors,
        outputs: remember(Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value]))),
        timings: timing.result(),
      };
    } catch (err) {
      // A failed resource makes `pulumi up` exit non-zero; which ones failed is in the events.
      const message = err instanceof Error ? err.message : String(err);
      if (collector.generalErrors.length === 0 && [...collector.runtimes.values()].every((r) => r.ok)) {
        collector.generalErrors.push(lastLines(message, 20));
      }
      const outputs = await this.outputs().catch(() => undefined);
      this.runtimeOutputs = undefined; // read again next time: the failed run may have changed some
      return { ok: false, runtimes: collector.runtimes, generalErrors: collector.generalErrors, outputs: outputs ?? {}, timings: timing.result() };
    } finally {
      restore();
      hostBatch.cleanup();
      this.pruneHistory();
    }
  }

  /** The file backend copies the whole checkpoint into its history on every update: keep the newest few. */
  private pruneHistory(): void {
    const backend = this.options.env?.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL ?? "";
    if (!backend.startsWith("file://")) return;
    try {
      pruneFileBackendCopies(fileURLToPath(backend), PROJECT_NAME, this.options.stack, HISTORY_CHECKPOINTS_KEPT);
    } catch {
      // pruning is housekeeping: a failure must never fail a deployment
    }
  }

  async preview(targets?: readonly EngineTarget[], env: Record<string, string> = {}, configFile?: string) {
    const stack = await this.stack();
    const collector = new OutcomeCollector(targets?.map((t) => t.accountId) ?? []);
    const restore = withEnv(stack, env);
    try {
      await this.withProgram(stack, {}, () => stack.preview({
        ...(targets ? { target: targets.flatMap((t) => runtimeTargets(this.options.stack, t)) } : {}),
        ...(configFile ? { configFile } : {}),
        onEvent: (e) => collector.handle(e),
        color: "never",
        suppressProgress: true,
      }));
      return { changes: collector.changes, ok: true, errors: [] as string[] };
    } catch (err) {
      const errors = collector.generalErrors.length > 0 ? collector.generalErrors : [lastLines(err instanceof Error ? err.message : String(err), 20)];
      return { changes: collector.changes, ok: false, errors };
    } finally {
      restore();
    }
  }

  async outputs(): Promise<Record<string, unknown>> {
    const stack = await this.stack();
    const outs = await stack.outputs();
    return Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.value]));
  }

  async clearStaleLock(timeoutMs = 10 * 60_000): Promise<void> {
    const backend = this.options.env?.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL ?? "";
    if (!backend.startsWith("file://")) {
      // The service backend tracks its own updates; `pulumi cancel` ends an abandoned one.
      await (await this.stack()).cancel().catch(() => undefined);
      return;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const locks = fileBackendLocks(fileURLToPath(backend), this.options.stack);
      const live = locks.filter((l) => l.hostname === os.hostname() && processAlive(l.pid));
      if (live.length === 0) {
        // On the file backend `pulumi cancel` only removes the lock: exactly what a dead run needs.
        if (locks.length > 0) await (await this.stack()).cancel();
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`stack ${this.options.stack} is still being updated by pulumi pid ${live.map((l) => l.pid).join(", ")}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

interface FileLock {
  pid: number;
  hostname: string;
  file: string;
}

/** Lock files of a stack in a file backend (`.pulumi/locks/<org>/<project>/<stack>/*.json`). */
export function fileBackendLocks(backendDir: string, stack: string): FileLock[] {
  const root = path.join(backendDir, ".pulumi", "locks");
  if (!existsSync(root)) return [];
  const out: FileLock[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".json") && path.basename(dir) === stack) {
        try {
          const lock = JSON.parse(readFileSync(full, "utf8")) as { pid?: number; hostname?: string };
          out.push({ pid: Number(lock.pid ?? 0), hostname: String(lock.hostname ?? ""), file: full });
        } catch {
          out.push({ pid: 0, hostname: "", file: full });
        }
      }
    }
  };
  walk(root);
  return out;
}

export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * No plugin downloads at run time, no update checks: the toolchain is what is installed. And
 * what keeps a run's cost flat in the fleet's size: no type-check of the program at deploy time
 * (CI's typecheck guards it), no full checkpoint backup per update on the file backend, and the
 * state written compressed (it is mostly repeated structure).
 */
export function defaultEngineEnv(): Record<string, string> {
  return {
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS: "true",
    PULUMI_DIY_BACKEND_ZSTD: "true",
  };
}


/**
 * Environment of one targeted run. The program registers only the batch (untargeted resources
 * that are not registered are left as they are by a targeted update), so a batch costs the same
 * in a fleet of 100 or 1,000. Without droplets in the batch every step is a remote command the
 * on-host script makes idempotent, so intermediate checkpoints are skipped: after a crash the
 * state is the one before the run, and running the batch again finds the hosts already on
 * target (a noop that reports the interrupted attempt). Droplets keep every checkpoint: a
 * created droplet must never be forgotten.
 */
export function batchEnv(targets: readonly EngineTarget[], program: "inline" | "local" = "local"): Record<string, string> {
  // No targets is an untargeted update of the whole stack: it must register the whole fleet
  // (an untargeted update deletes what the program does not register).
  if (targets.length === 0) return {};
  // A language host's program learns its batch from the environment (an inline one, from its options).
  const env: Record<string, string> = program === "local" ? { [BATCH_ENV]: targets.map((t) => t.accountId).join(",") } : {};
  if (targets.every((t) => t.provider !== "digitalocean")) env.PULUMI_SKIP_CHECKPOINTS = "true";
  return env;
}

/** The most operations a batch runs at once (SSH handshakes from one machine). */
export const BATCH_PARALLEL_MAX = 64;
/** The engine's own default `--parallel`: this many operations per CPU. */
export const ENGINE_PARALLEL_PER_CPU = 4;

/**
 * `--parallel` for a batch of `size` runtimes: every runtime's deploy at once, as the batch means,
 * up to BATCH_PARALLEL_MAX (the engine's default, 4 per CPU, would run a batch of 10 on 2 cores in
 * two waves). PULUMI_PARALLEL, when set, is the user's choice and is left to the engine; so is an
 * untargeted run (size 0).
 */
export function batchParallel(size: number, env: NodeJS.ProcessEnv = process.env, cpus: number = os.availableParallelism()): { parallel?: number } {
  if (size <= 0 || (env.PULUMI_PARALLEL ?? "") !== "") return {};
  const wanted = Math.min(size, BATCH_PARALLEL_MAX);
  return wanted > cpus * ENGINE_PARALLEL_PER_CPU ? { parallel: wanted } : {};
}

/** Runs one inline program at a time in this process: the SDK keeps a run's state in module globals. */
let inlineRuns: Promise<unknown> = Promise.resolve();
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = inlineRuns.then(fn, fn);
  inlineRuns = run.catch(() => undefined);
  return run;
}

/** How many full checkpoint copies the file backend's history keeps (`pulumi stack export --version`). */
export const HISTORY_CHECKPOINTS_KEPT = 5;

/**
 * Removes all but the newest `keep` checkpoint copies in a file backend's history and backups of
 * one stack (the `.history.json` update records stay: they are small and `pulumi stack history`
 * reads them). Returns the number of files removed.
 */
export function pruneFileBackendCopies(backendDir: string, project: string, stack: string, keep: number): number {
  let removed = 0;
  const dirs = [
    { dir: path.join(backendDir, ".pulumi", "history", project, stack), copy: /\.checkpoint\.json(\.gz|\.zst)?$/ },
    { dir: path.join(backendDir, ".pulumi", "backups", project, stack), copy: /\.json(\.gz|\.zst)?$/ },
  ];
  for (const { dir, copy } of dirs) {
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir)
      .filter((f) => copy.test(f))
      .map((f) => ({ f, at: statSync(path.join(dir, f)).mtimeMs }))
      .sort((a, b) => b.at - a.at || b.f.localeCompare(a.f));
    for (const { f } of files.slice(keep)) {
      rmSync(path.join(dir, f), { force: true });
      rmSync(path.join(dir, `${f}.attrs`), { force: true });
      removed++;
    }
  }
  return removed;
}

/** The stack's outputs as the run's last event on the stack resource carries them. */
export class StackOutputsCollector {
  outputs?: Record<string, unknown>;

  handle(event: EngineEvent): void {
    const done = event.resOutputsEvent;
    if (!done || done.planning || done.metadata.type !== "pulumi:pulumi:Stack") return;
    const outputs = done.metadata.new?.outputs;
    if (outputs && typeof outputs === "object") this.outputs = outputs as Record<string, unknown>;
  }

  /** As `pulumi stack output --json` has them; undefined when the event had none or masks a secret. */
  outputMap(): OutputMap | undefined {
    const outputs = this.outputs;
    if (!outputs || Object.values(outputs).some((v) => v === SECRET_MASK)) return undefined;
    return Object.fromEntries(Object.entries(outputs).map(([k, value]) => [k, { value, secret: false }]));
  }
}

/** How engine events show a secret value. */
const SECRET_MASK = "[secret]";

/**
 * The stack for one `up` without the two CLI runs the Automation API makes after it: `pulumi stack
 * output` (the outputs, here from the stack resource's last event, when it has them unmasked)
 * and `pulumi stack history` (the summary, which the fleet does not read). Each is a process
 * start and a read of the whole state: about 0.3 s apiece per batch on the lab's 2 cores.
 * `Stack.up` reads both through `this` after the run (the SDK's own TODO, pulumi/pulumi#6050,
 * notes they run after it, in series); a prototype-derived stack answers them from the run.
 */
export function withoutReadBack(stack: Stack, outputs: StackOutputsCollector): Stack {
  return Object.create(stack, {
    outputs: { value: async (): Promise<OutputMap> => outputs.outputMap() ?? (await stack.outputs()) },
    info: { value: async (): Promise<undefined> => undefined },
  }) as Stack;
}

/** Sets per-run environment on the workspace; returns the undo. */
function withEnv(stack: Stack, env: Record<string, string>): () => void {
  const vars = stack.workspace.envVars;
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, vars[k]]));
  Object.assign(vars, env);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete vars[k];
      else vars[k] = v;
    }
  };
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

export { BATCH_ENV, OUTPUTS_ENV } from "../components/program";
