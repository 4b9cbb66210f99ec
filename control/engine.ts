// The real Pulumi engine through the Automation API: targeted `pulumi up` and `pulumi preview`
// over a batch of runtimes, with each runtime's outcome read from the engine events.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace, PulumiCommand, type EngineEvent, type Stack } from "@pulumi/pulumi/automation";
import { RUNTIME_TYPE } from "../components/runtime";
import type { ResolvedRuntime } from "../fleet/config";

export const PROJECT_NAME = "runtime-fleet";

/** Children of a Runtime component, by the suffix of their resource name. */
export const RUNTIME_CHILDREN = {
  install: { type: "command:remote:Command", suffix: "install" },
  deploy: { type: "command:remote:Command", suffix: "deploy" },
  verify: { type: "command:remote:Command", suffix: "verify" },
  droplet: { type: "digitalocean:index/droplet:Droplet", suffix: "droplet" },
} as const;

export function runtimeUrn(stack: string, accountId: string): string {
  return `urn:pulumi:${stack}::${PROJECT_NAME}::${RUNTIME_TYPE}::${accountId}`;
}

export function childUrn(stack: string, accountId: string, child: keyof typeof RUNTIME_CHILDREN): string {
  const { type, suffix } = RUNTIME_CHILDREN[child];
  return `urn:pulumi:${stack}::${PROJECT_NAME}::${RUNTIME_TYPE}$${type}::${accountId}-${suffix}`;
}

/** Every URN a batch's `pulumi up` is targeted at: the component and its children. */
export function runtimeTargets(stack: string, runtime: Pick<ResolvedRuntime, "accountId" | "provider">): string[] {
  const urns = [runtimeUrn(stack, runtime.accountId)];
  if (runtime.provider === "digitalocean") urns.push(childUrn(stack, runtime.accountId, "droplet"));
  urns.push(
    childUrn(stack, runtime.accountId, "install"),
    childUrn(stack, runtime.accountId, "deploy"),
    childUrn(stack, runtime.accountId, "verify"),
  );
  return urns;
}

/** The account id a URN belongs to, when it is a Runtime or one of its children. */
export function accountOfUrn(urn: string): { accountId: string; child?: string } | undefined {
  const name = urn.split("::").at(-1) ?? "";
  if (urn.includes(`::${RUNTIME_TYPE}::`)) return { accountId: name };
  if (!urn.includes(`::${RUNTIME_TYPE}$`)) return undefined;
  const m = /^(.*)-(install|deploy|verify|droplet)$/.exec(name);
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

export interface EngineRunResult {
  ok: boolean;
  runtimes: Map<string, RuntimeRunResult>;
  /** Errors not attached to any runtime (program errors, policy violations, lock held...). */
  generalErrors: string[];
  outputs: Record<string, unknown>;
}

export interface ChangeSummary {
  accountId: string;
  resource: string;
  op: string;
  diffs: string[];
}

export interface StackEngine {
  up(targets: readonly Pick<ResolvedRuntime, "accountId" | "provider">[], env?: Record<string, string>): Promise<EngineRunResult>;
  /** With `configFile`, previews against that copy of the stack config instead of the stack's own. */
  preview(targets?: readonly Pick<ResolvedRuntime, "accountId" | "provider">[], env?: Record<string, string>, configFile?: string): Promise<{ changes: ChangeSummary[]; ok: boolean; errors: string[] }>;
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

export class AutomationEngine implements StackEngine {
  private stackPromise?: Promise<Stack>;

  constructor(private readonly options: EngineOptions) {}

  private stack(): Promise<Stack> {
    this.stackPromise ??= (async () => {
      const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: false }).catch(() => undefined);
      return LocalWorkspace.selectStack(
        { stackName: this.options.stack, workDir: this.options.projectDir },
        { envVars: { ...defaultEngineEnv(), ...(this.options.env ?? {}) }, ...(pulumiCommand ? { pulumiCommand } : {}) },
      );
    })();
    return this.stackPromise;
  }

  async up(targets: readonly Pick<ResolvedRuntime, "accountId" | "provider">[], env: Record<string, string> = {}): Promise<EngineRunResult> {
    const stack = await this.stack();
    const collector = new OutcomeCollector(targets.map((t) => t.accountId));
    const restore = withEnv(stack, env);
    try {
      const result = await stack.up({
        target: targets.flatMap((t) => runtimeTargets(this.options.stack, t)),
        onEvent: (e) => {
          collector.handle(e);
          this.options.onEvent?.(e);
        },
        color: "never",
        suppressProgress: true,
      });
      return {
        ok: [...collector.runtimes.values()].every((r) => r.ok),
        runtimes: collector.runtimes,
        generalErrors: collector.generalErrors,
        outputs: Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value])),
      };
    } catch (err) {
      // A failed resource makes `pulumi up` exit non-zero; which ones failed is in the events.
      const message = err instanceof Error ? err.message : String(err);
      if (collector.generalErrors.length === 0 && [...collector.runtimes.values()].every((r) => r.ok)) {
        collector.generalErrors.push(lastLines(message, 20));
      }
      return { ok: false, runtimes: collector.runtimes, generalErrors: collector.generalErrors, outputs: await this.outputs().catch(() => ({})) };
    } finally {
      restore();
    }
  }

  async preview(targets?: readonly Pick<ResolvedRuntime, "accountId" | "provider">[], env: Record<string, string> = {}, configFile?: string) {
    const stack = await this.stack();
    const collector = new OutcomeCollector(targets?.map((t) => t.accountId) ?? []);
    const restore = withEnv(stack, env);
    try {
      await stack.preview({
        ...(targets ? { target: targets.flatMap((t) => runtimeTargets(this.options.stack, t)) } : {}),
        ...(configFile ? { configFile } : {}),
        onEvent: (e) => collector.handle(e),
        color: "never",
        suppressProgress: true,
      });
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

/** No plugin downloads at run time, no update checks: the toolchain is what is installed. */
export function defaultEngineEnv(): Record<string, string> {
  return {
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
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
