// Rollouts over agent runtimes: instead of `pulumi up`, each runtime's pending upgrade is set in
// the store; its agent picks it up on a heartbeat, runs the on-host script and reports. This
// waits (polling the store, with a deadline) for every report and returns outcomes shaped like
// fleet/gates.ts RuntimeOutcome, so the same gates decide what happens next.
import type { RuntimeOutcome } from "../fleet/gates";
import type { FleetStore, PendingUpgrade, Release, UpgradeEvent, UpgradeStrategy } from "../store/types";

export interface AgentDeployClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface AgentDeployOptions {
  /** How long to wait for every agent's report. */
  timeoutMs: number;
  clock?: AgentDeployClock;
  /** Store polling interval (default 2 s). */
  pollMs?: number;
  initiatedBy?: string;
  strategy?: UpgradeStrategy;
  /** Agents may defer for active conversations until this long after the start (default: not at all). */
  deferForMs?: number;
}

const systemClock: AgentDeployClock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** An agent's result as a gate outcome: success (or a noop at the target) is deployed. */
export function outcomeOfReport(accountId: string, target: Release, e: UpgradeEvent | undefined, timeoutMs: number): RuntimeOutcome {
  if (e === undefined) return { accountId, deployed: false, error: `no report from the agent within ${Math.round(timeoutMs / 1000)}s` };
  if (e.status === "success" || e.status === "noop") {
    const versionMatches = e.toOpenclaw === target.openclaw && e.toRuntimeService === target.runtimeService;
    return { accountId, deployed: true, versionMatches, ...(versionMatches ? {} : { error: `reported ${e.toOpenclaw}/${e.toRuntimeService}, expected ${target.openclaw}/${target.runtimeService}` }) };
  }
  return { accountId, deployed: false, error: e.error ?? (e.status === "rolled_back" ? "the upgrade failed and was rolled back" : "the upgrade failed") };
}

export async function deployViaAgents(
  store: FleetStore,
  stack: string,
  runtimes: readonly { accountId: string }[],
  target: Release,
  rolloutId: string,
  opts: AgentDeployOptions,
): Promise<RuntimeOutcome[]> {
  const clock = opts.clock ?? systemClock;
  const started = clock.now();
  const pollMs = opts.pollMs ?? 2_000;
  const ids = runtimes.map((r) => r.accountId);
  for (const accountId of ids) {
    const pending: PendingUpgrade = {
      targetOpenclawVersion: target.openclaw,
      targetRuntimeVersion: target.runtimeService,
      initiatedAt: started,
      initiatedBy: opts.initiatedBy ?? "fleet",
      strategy: opts.strategy ?? "rolling",
      rolloutId,
      ...(opts.deferForMs !== undefined ? { deadline: started + opts.deferForMs } : {}),
    };
    await store.setPendingUpgrade(stack, accountId, pending);
  }
  const reports = new Map<string, UpgradeEvent>();
  const deadline = started + opts.timeoutMs;
  for (;;) {
    for (const accountId of ids) {
      if (reports.has(accountId)) continue;
      // The agent's record of this rollout (newest first): one history query per runtime still out.
      const page = await store.listUpgrades({ stack, accountId, rolloutId, limit: 5 });
      const e = page.items.find((x) => x.executor === "agent" && x.startedAt >= started - 60_000);
      if (e) reports.set(accountId, e);
    }
    if (reports.size === ids.length || clock.now() >= deadline) break;
    await clock.sleep(Math.min(pollMs, Math.max(0, deadline - clock.now())));
  }
  // Agents that never started are told to stand down, so a late heartbeat cannot upgrade a
  // runtime the rollout already counted as failed. One that started is left to report.
  for (const accountId of ids) {
    if (reports.has(accountId)) continue;
    const rt = await store.getRuntime(stack, accountId, { upgrades: 0 });
    if (rt?.status !== "upgrading") await store.setPendingUpgrade(stack, accountId, null).catch(() => undefined);
  }
  return ids.map((accountId) => outcomeOfReport(accountId, target, reports.get(accountId), opts.timeoutMs));
}
