// The self-upgrade agent (seed section 4): runs on a host under systemd. Each heartbeat it reads
// its runtime's /health and /version, reports them to the store's signed endpoint with its own
// per-runtime key, and learns from the answer whether an upgrade is pending for it. A pending
// upgrade waits while the runtime reports active conversations (up to the upgrade's deadline),
// then: upgrade.started, the one on-host script (`fleet-upgrade upgrade --stdin`), a check of
// /version, upgrade.result (event id = the script's result id, executor "agent"), and exit so
// systemd starts it again on the new version. A result that could not be sent is kept in a
// state file and sent first on the next start.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { EVENTS_PATH, signedHeaders } from "../protocol/signature";
import { agentKeyId } from "../protocol/credential";
import { isAccountId, isStackName } from "../fleet/ids";
import { isOnTarget } from "../fleet/health";
import { parseUpgradeResult, targetsStdin, type UpgradeResult } from "../protocol/onhost";
import type { PendingUpgrade, UpgradeEvent } from "../store/types";

export const agentConfigSchema = z.strictObject({
  stack: z.string().refine(isStackName, "is not a stack name"),
  accountId: z.string().refine(isAccountId, "is not an account id"),
  /** Base URL of the store's endpoint (Convex site URL, or the embedded endpoint). */
  endpoint: z.url({ protocol: /^https?$/ }),
  /** The host root holding bin/fleet-upgrade, etc/ and state/. */
  hostRoot: z.string().regex(/^\/[A-Za-z0-9._/-]{0,255}$/),
  /** The runtime's own health URL, e.g. http://127.0.0.1:8080. */
  healthUrl: z.url({ protocol: /^https?$/ }),
  heartbeatSeconds: z.number().min(0.05).max(3600).default(30),
  /** File holding the agent's secret (root-only); default <hostRoot>/etc/agent.credential. */
  credentialFile: z.string().optional(),
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;

export interface AgentDeps {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
  /** Stop after this many heartbeats (tests); default: until an upgrade ends or a signal. */
  maxHeartbeats?: number;
  signal?: AbortSignal;
}

export type AgentExit = { reason: "upgraded"; result: UpgradeResult } | { reason: "stopped" };

/** Pending upgrades without a deadline are applied at once; with one, deferral ends there. */
export function shouldDefer(pending: Pick<PendingUpgrade, "deadline">, activeConversations: number, now: number): boolean {
  return activeConversations > 0 && pending.deadline !== undefined && now < pending.deadline;
}

interface Observed {
  reachable: boolean;
  healthy: boolean;
  openclaw?: string;
  runtimeService?: string;
  activeConversations: number;
}

async function getJson(url: string, timeoutMs = 3000): Promise<{ status: number; body: Record<string, unknown> } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: unknown = {};
    try {
      body = JSON.parse(text);
    } catch {
      body = {};
    }
    return { status: res.status, body: typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {} };
  } catch {
    return null;
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

export async function observe(healthUrl: string): Promise<Observed> {
  const base = healthUrl.replace(/\/$/, "");
  const [health, version] = await Promise.all([getJson(`${base}/health`), getJson(`${base}/version`)]);
  const active = health?.body.activeConversations;
  const oc = str(version?.body.openclaw) ?? str(health?.body.openclaw);
  const rs = str(version?.body.runtimeService) ?? str(health?.body.runtimeService);
  return {
    reachable: health !== null,
    healthy: health?.status === 200,
    ...(oc ? { openclaw: oc } : {}),
    ...(rs ? { runtimeService: rs } : {}),
    activeConversations: typeof active === "number" && active > 0 ? active : 0,
  };
}

export class AgentPostError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "AgentPostError";
  }
}

/** Runs the on-host script with the targets on stdin; resolves with its result line. */
export function runUpgradeScript(hostRoot: string, target: { openclaw: string; runtimeService: string }): Promise<UpgradeResult> {
  const input = targetsStdin(target); // validated release tags, or it throws before anything runs
  return new Promise((resolve) => {
    const child = spawn(path.join(hostRoot, "bin", "fleet-upgrade"), ["upgrade", "--stdin"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", () => undefined);
    child.on("error", (e) => resolve({ status: "failed", from: null, to: null, durationMs: 0, error: `could not run fleet-upgrade: ${e.message}` }));
    child.on("close", (code) => resolve(parseUpgradeResult(out) ?? { status: "failed", from: null, to: null, durationMs: 0, error: `fleet-upgrade exited ${code} without a result line` }));
    child.stdin.end(input);
  });
}

export class Agent {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (line: string) => void;
  private lastTs = 0;
  private readonly stateFile: string;

  constructor(
    private readonly config: AgentConfig,
    private readonly secret: string,
    private readonly deps: AgentDeps = {},
  ) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.log = deps.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.stateFile = path.join(config.hostRoot, "state", "agent-outbox.json");
  }

  /** Posts one signed event; returns the endpoint's `result`. */
  async post<T>(event: Record<string, unknown> & { type: string; id: string }): Promise<T> {
    const body = JSON.stringify(event);
    this.lastTs = Math.max(this.now(), this.lastTs + 1); // never the same signature twice
    const headers = await signedHeaders(this.secret, body, this.lastTs, agentKeyId(this.config.stack, this.config.accountId));
    const res = await fetch(`${this.config.endpoint.replace(/\/$/, "")}${EVENTS_PATH}`, { method: "POST", body, headers, signal: AbortSignal.timeout(10_000) });
    const parsed = (await res.json().catch(() => ({}))) as { ok?: boolean; result?: T; error?: string };
    if (res.status !== 200 || !parsed.ok) throw new AgentPostError(res.status, `${event.type}: HTTP ${res.status} ${parsed.error ?? ""}`.trim());
    return parsed.result as T;
  }

  /** One heartbeat: report what the runtime shows; the answer carries the pending upgrade. */
  async heartbeat(): Promise<{ observed: Observed; pending: PendingUpgrade | null }> {
    const observed = await observe(this.config.healthUrl);
    const now = this.now();
    const runtime = {
      stack: this.config.stack,
      accountId: this.config.accountId,
      ...(observed.openclaw ? { openclawVersion: observed.openclaw } : {}),
      ...(observed.runtimeService ? { runtimeServiceVersion: observed.runtimeService } : {}),
      ...(observed.reachable ? { lastHealthCheck: now } : {}),
      observedAt: now,
    };
    const result = await this.post<{ pendingUpgrade?: PendingUpgrade | null }>({ id: `hb:${this.config.accountId}:${now}:${crypto.randomUUID()}`, type: "runtime.upsert", runtimes: [runtime] });
    return { observed, pending: result?.pendingUpgrade ?? null };
  }

  /** Sends a result kept from an earlier run (the agent died or the endpoint was down). */
  async flushOutbox(): Promise<void> {
    let kept: UpgradeEvent | undefined;
    try {
      kept = JSON.parse(readFileSync(this.stateFile, "utf8")) as UpgradeEvent;
    } catch {
      return;
    }
    await this.post({ id: `upgrade:${kept.eventId}`, type: "upgrade.result", upgrade: kept });
    rmSync(this.stateFile, { force: true });
    this.log(`agent: delivered the kept result ${kept.eventId}`);
  }

  async upgrade(pending: PendingUpgrade, observed: Observed): Promise<UpgradeResult> {
    const { stack, accountId, hostRoot, healthUrl } = this.config;
    const target = { openclaw: pending.targetOpenclawVersion, runtimeService: pending.targetRuntimeVersion };
    const startedAt = this.now();
    await this.post({
      id: `started:${accountId}:${pending.initiatedAt}`,
      type: "upgrade.started",
      stack,
      accountId,
      ...(pending.rolloutId ? { rolloutId: pending.rolloutId } : {}),
      targetOpenclawVersion: target.openclaw,
      targetRuntimeVersion: target.runtimeService,
      strategy: pending.strategy,
      initiatedBy: pending.initiatedBy,
      at: startedAt,
    });
    this.log(`agent: upgrading ${accountId} to ${target.openclaw}/${target.runtimeService}`);
    let result = await runUpgradeScript(hostRoot, target);
    // A noop after a run whose caller died: the run that did the work is the record.
    if (result.status === "noop" && result.last) result = { ...result.last, status: result.last.status };
    if (result.status === "success") {
      const after = await observe(healthUrl);
      // On target = both versions (fleet/health's one meaning); the script itself waited for /health.
      if (!isOnTarget(after, target)) {
        result = { ...result, status: "failed", error: `verify: /version reports ${after.openclaw ?? "?"}/${after.runtimeService ?? "?"}, expected ${target.openclaw}/${target.runtimeService}` };
      }
    }
    const from = { openclaw: result.from?.openclaw ?? observed.openclaw ?? target.openclaw, runtimeService: result.from?.runtimeService ?? observed.runtimeService ?? target.runtimeService };
    const completedAt = result.completedAt ?? this.now();
    const event: UpgradeEvent = {
      eventId: result.id ?? `agent-${accountId}-${startedAt}`,
      stack,
      accountId,
      ...(pending.rolloutId ? { rolloutId: pending.rolloutId } : {}),
      fromOpenclaw: from.openclaw,
      toOpenclaw: target.openclaw,
      fromRuntimeService: from.runtimeService,
      toRuntimeService: target.runtimeService,
      status: result.status,
      startedAt,
      completedAt,
      durationMs: result.durationMs,
      ...(result.error ? { error: result.error } : {}),
      initiatedBy: pending.initiatedBy,
      executor: "agent",
    };
    // Kept before it is sent: a crash or an unreachable endpoint never loses the record.
    mkdirSync(path.dirname(this.stateFile), { recursive: true });
    writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(event), { mode: 0o600 });
    renameSync(`${this.stateFile}.tmp`, this.stateFile);
    await this.flushOutbox().catch((e: unknown) => this.log(`agent: result kept for later: ${(e as Error).message}`));
    this.log(`agent: upgrade ${result.status}${result.error ? ` (${result.error})` : ""}`);
    return result;
  }

  /** Heartbeats until an upgrade ran (then the process should exit) or it is stopped. */
  async run(): Promise<AgentExit> {
    const max = this.deps.maxHeartbeats ?? Infinity;
    await this.flushOutbox().catch((e: unknown) => this.log(`agent: kept result not delivered yet: ${(e as Error).message}`));
    let deferredLogged = 0;
    for (let i = 0; i < max && !this.deps.signal?.aborted; i++) {
      try {
        const { observed, pending } = await this.heartbeat();
        if (pending) {
          if (shouldDefer(pending, observed.activeConversations, this.now())) {
            if (this.now() - deferredLogged > 60_000 || deferredLogged === 0) {
              this.log(`agent: deferring the upgrade to ${pending.targetOpenclawVersion}: ${observed.activeConversations} active conversations (deadline ${new Date(pending.deadline!).toISOString()})`);
              deferredLogged = this.now();
            }
          } else {
            return { reason: "upgraded", result: await this.upgrade(pending, observed) };
          }
        }
      } catch (e) {
        this.log(`agent: heartbeat failed: ${(e as Error).message}`);
      }
      if (i + 1 < max) await this.sleep(this.config.heartbeatSeconds * 1000);
    }
    return { reason: "stopped" };
  }
}

export function loadAgentConfig(file: string): { config: AgentConfig; secret: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not readable JSON (${(e as Error).message})`);
  }
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`${file}: ${i.path.join(".") || "(config)"}: ${i.message}`);
  }
  const config = parsed.data;
  const credentialFile = config.credentialFile ?? path.join(config.hostRoot, "etc", "agent.credential");
  const secret = readFileSync(credentialFile, "utf8").trim();
  if (!/^[0-9a-f]{64}$/.test(secret)) throw new Error(`${credentialFile}: not an agent credential (expected 64 hex characters)`);
  return { config, secret };
}

/** `fleet-agent --config FILE`: exit 0 after an upgrade (systemd restarts it), 2 on bad config. */
export async function agentMain(argv: readonly string[]): Promise<number> {
  const i = argv.indexOf("--config");
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) {
    process.stderr.write("usage: fleet-agent --config FILE\n");
    return 2;
  }
  let loaded;
  try {
    loaded = loadAgentConfig(file);
  } catch (e) {
    process.stderr.write(`fleet-agent: ${(e as Error).message}\n`);
    return 2;
  }
  const ac = new AbortController();
  process.once("SIGTERM", () => ac.abort());
  process.once("SIGINT", () => ac.abort());
  const agent = new Agent(loaded.config, loaded.secret, { signal: ac.signal, sleep: (ms) => abortableSleep(ms, ac.signal) });
  process.stderr.write(`agent: ${loaded.config.accountId} (${loaded.config.stack}) heartbeat every ${loaded.config.heartbeatSeconds}s to ${new URL(loaded.config.endpoint).host}\n`);
  await agent.run();
  return 0;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
