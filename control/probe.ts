// Health probing over HTTP: a runtime's `/health` and `/version`, with timeouts and bounded
// concurrency, so probing a large fleet neither hangs on a dead host nor floods the network.
import pLimit from "p-limit";
import type { HealthProbe } from "../fleet/health";

export interface ProbeTarget {
  accountId: string;
  address: string;
  port: number;
}

export interface ProbeResult {
  accountId: string;
  at: number;
  /** The host answered HTTP at all. */
  reachable: boolean;
  /** `/health` answered 200. */
  healthy: boolean;
  httpStatus?: number;
  latencyMs: number;
  version?: { openclaw?: string; runtimeService?: string };
  /** The `/health` body, when it was JSON (metrics, activeConversations...). */
  health?: Record<string, unknown>;
  error?: string;
}

export interface ProbeOptions {
  timeoutMs?: number;
  concurrency?: number;
  now?: () => number;
}

export function probeUrl(target: ProbeTarget, path: "/health" | "/version" | "/metrics"): string {
  const host = target.address.includes(":") ? `[${target.address}]` : target.address;
  return `http://${host}:${target.port}${path}`;
}

async function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

export async function probeRuntime(target: ProbeTarget, options: ProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const now = options.now ?? Date.now;
  const at = now();
  const started = performance.now();
  try {
    const health = await getJson(probeUrl(target, "/health"), timeoutMs);
    const latencyMs = Math.round(performance.now() - started);
    const result: ProbeResult = {
      accountId: target.accountId,
      at,
      reachable: true,
      healthy: health.status === 200,
      httpStatus: health.status,
      latencyMs,
      ...(isRecord(health.body) ? { health: health.body } : {}),
    };
    try {
      const version = await getJson(probeUrl(target, "/version"), timeoutMs);
      if (version.status === 200 && isRecord(version.body)) {
        result.version = {
          ...(typeof version.body.openclaw === "string" ? { openclaw: version.body.openclaw } : {}),
          ...(typeof version.body.runtimeService === "string" ? { runtimeService: version.body.runtimeService } : {}),
        };
      }
    } catch (err) {
      result.error = `/version: ${describe(err)}`;
    }
    if (!result.healthy && result.error === undefined) {
      const reason = isRecord(health.body) && typeof health.body.reason === "string" ? `: ${health.body.reason}` : "";
      result.error = `/health answered ${health.status}${reason}`;
    }
    return result;
  } catch (err) {
    return { accountId: target.accountId, at, reachable: false, healthy: false, latencyMs: Math.round(performance.now() - started), error: describe(err) };
  }
}

export async function probeFleet(targets: readonly ProbeTarget[], options: ProbeOptions = {}): Promise<ProbeResult[]> {
  const limit = pLimit(options.concurrency ?? 16);
  return Promise.all(targets.map((t) => limit(() => probeRuntime(t, options))));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === "TimeoutError") return "timed out";
    const cause = (err as Error & { cause?: { code?: string } }).cause;
    return cause?.code ? `${cause.code}` : err.message;
  }
  return String(err);
}

/** A probe as fleet/health judges it (status and score come from there, not from here). */
export function healthProbeOf(p: ProbeResult, expected?: { openclaw: string; runtimeService?: string }): HealthProbe {
  return {
    reachable: p.reachable,
    healthy: p.healthy,
    latencyMs: p.latencyMs,
    checkedAt: p.at,
    ...(p.version?.openclaw ? { openclawVersion: p.version.openclaw } : {}),
    ...(p.version?.runtimeService ? { runtimeServiceVersion: p.version.runtimeService } : {}),
    ...(expected !== undefined ? { expectedOpenclawVersion: expected.openclaw } : {}),
    ...(expected?.runtimeService !== undefined ? { expectedRuntimeServiceVersion: expected.runtimeService } : {}),
  };
}
