// `fleet health` (probe every runtime once), `fleet monitor` (keep probing, alert, notify) and
// `fleet endpoint` (the embedded store's signed HTTP endpoint for agents and machine writers).
import { statSync } from "node:fs";
import { Option, type Command } from "commander";
import { needsStackOutputs, runtimeAddress } from "../../fleet/addresses";
import { parseDuration } from "../../fleet/units";
import type { FleetConfig } from "../../fleet/config";
import type { FleetStore } from "../../store/types";
import { startEndpoint, type Endpoint } from "../../store/endpoint";
import { chooseStore } from "../../store";
import type { CommandContext, Run } from "../cli";
import { createEngine, defaultStorePath, openFleetStore, stackContext, type StackContext } from "../../control/context";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../../control/errors";
import { Monitor, monitorFiles, type CycleReport, type MonitorTarget } from "../../monitor/monitor";
import { isWebhookUrl, logSink, Notifier, redactUrl, webhookSink, type Sink } from "../../monitor/notify";
import { probeFleet } from "../../control/probe";
import { printable } from "../text";


interface ProbeOpts {
  timeout: string;
  concurrency: string;
}

// `fleet health` and `fleet monitor` probe alike.
const probeTimeout = () => new Option("--timeout <duration>", "per-probe timeout").default("3s");
const probeConcurrency = () => new Option("--concurrency <n>", "probes at once (1..256)").default("32");

export function registerMonitor(program: Command, run: Run): void {
  program
    .command("health")
    .description("probe every runtime's /health and /version now; record status, score and metrics; evaluate alerts")
    .addOption(probeTimeout())
    .addOption(probeConcurrency())
    .action(async (opts: ProbeOpts, cmd: Command) => run((ctx) => healthCommand(ctx, opts), cmd));
  program
    .command("monitor")
    .description("probe the fleet every interval: metrics, status, alerts and notifications (JSON lines with --json)")
    .option("--interval <duration>", "time between probe rounds", "30s")
    .option("--webhook <url>", "Slack-compatible webhook for alert notifications (default: $FLEET_ALERT_WEBHOOK)")
    .option("--cycles <n>", "stop after this many rounds (default: run until interrupted)")
    .option("--serve-endpoint <port>", "also serve the embedded store's signed endpoint on 127.0.0.1:PORT")
    .addOption(probeTimeout())
    .addOption(probeConcurrency())
    .action(async (opts: MonitorOpts, cmd: Command) => run((ctx) => monitorCommand(ctx, opts), cmd));
  program
    .command("endpoint")
    .description("serve the embedded store's signed POST /fleet/events endpoint (for agents) until interrupted")
    .requiredOption("--port <port>", "port on the loopback address (0: any free port)")
    .option("--host <address>", "loopback address to listen on", "127.0.0.1")
    .action(async (opts: { port: string; host: string }, cmd: Command) => run((ctx) => endpointCommand(ctx, opts), cmd));
}

interface MonitorOpts extends ProbeOpts {
  interval: string;
  webhook?: string;
  cycles?: string;
  serveEndpoint?: string;
}

function intOption(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a whole number from ${min} to ${max}`);
  return n;
}

function probeSettings(opts: ProbeOpts) {
  const timeoutMs = parseDuration(opts.timeout, "--timeout", 120) * 1000;
  if (timeoutMs < 100) throw new UsageError(`--timeout: ${JSON.stringify(opts.timeout)} is too short (expected at least 100ms)`);
  return { timeoutMs, concurrency: intOption("--concurrency", opts.concurrency, 1, 256) };
}

/** Every runtime of the stack with the address to probe: `host`, or the droplet's stack output. */
export function targetsOf(fleet: FleetConfig, outputs: Record<string, unknown> | null): MonitorTarget[] {
  return fleet.runtimes.map((r) => ({
    accountId: r.accountId,
    address: runtimeAddress(r, outputs) ?? null,
    port: r.healthPort,
    openclaw: r.openclaw,
    runtimeService: r.runtimeService,
    provider: r.provider,
    canary: r.canary,
  }));
}

async function setup(ctx: CommandContext, opts: ProbeOpts, sinks: Sink[]) {
  const sc = await stackContext(ctx);
  const probe = probeSettings(opts);
  // Droplet addresses live in the stack's outputs: read once, and only when a runtime needs it.
  let outputs: Record<string, unknown> | null | undefined;
  // The round's stack config, read once by targets() (each round starts with it) and used for the minimum too.
  let fleet: FleetConfig | undefined;
  const targets = async () => {
    fleet = sc.loadFleet();
    if (outputs === undefined && needsStackOutputs(fleet.runtimes)) {
      outputs = await createEngine(ctx.projectDir, sc.stack)
        .outputs()
        .catch((e: unknown) => {
          ctx.out.warn(`fleet: stack outputs unavailable (${(e as Error).message.split("\n")[0]}); droplets without a known address are skipped`);
          return null;
        });
    }
    return targetsOf(fleet, outputs ?? null);
  };
  const store = await openFleetStore(ctx.projectDir);
  const files = monitorFiles(defaultStorePath(ctx.projectDir), sc.stack);
  const notifier = new Notifier(files.ledger, sinks);
  const monitor = new Monitor({
    store,
    stack: sc.stack,
    targets,
    minSupportedOpenclaw: () => (fleet ?? sc.loadFleet()).policy.minSupportedOpenclaw,
    probe: (t, now) => probeFleet(t, { ...probe, now }),
    stateFile: files.state,
    notifier,
  });
  return { sc, store, monitor };
}

function summaryLine(r: CycleReport): string {
  const by = new Map<string, number>();
  for (const x of r.runtimes) by.set(x.status, (by.get(x.status) ?? 0) + 1);
  const counts = [...by].map(([s, n]) => `${n} ${s}`).join(", ");
  const alerts = r.alerts.opened.length + r.alerts.closed.length > 0 ? `; alerts opened ${r.alerts.opened.length}, closed ${r.alerts.closed.length}` : "";
  return `${new Date(r.at).toISOString()} ${r.stack}: ${r.runtimes.length} runtimes (${counts}); ${r.written} recorded${alerts}; ${r.alerts.open} open alerts; probed in ${r.probeMs} ms`;
}

async function healthCommand(ctx: CommandContext, opts: ProbeOpts): Promise<number> {
  const started = Date.now();
  const { sc, store, monitor } = await setup(ctx, opts, [logSink((l) => ctx.out.warn(l))]);
  try {
    const report = await monitor.cycle();
    const bad = report.runtimes.filter((r) => r.status !== "online" && r.status !== "upgrading");
    if (ctx.out.json) ctx.out.emit({ ...report, stack: sc.stack, probed: report.runtimes.length, healthy: report.runtimes.length - bad.length, wallMs: Date.now() - started });
    else {
      for (const r of report.runtimes) {
        ctx.out.say(
          `${printable(r.accountId).padEnd(14)} ${printable(r.status).padEnd(11)} ${String(r.healthScore ?? "-").padStart(3)} ${printable(r.openclaw ?? "-").padEnd(8)} ${printable(r.runtimeService ?? "-").padEnd(8)} ${r.latencyMs !== undefined ? `${String(r.latencyMs).padStart(5)} ms` : "       -"}${r.error ? `  ${printable(r.error)}` : ""}`,
        );
      }
      // One updater per host: the fleet's. A host whose OpenClaw updater came back on is named.
      for (const r of report.runtimes.filter((x) => x.autoUpdate)) {
        ctx.out.say(`${printable(r.accountId)}: OpenClaw's own auto-updater is on (update.auto in openclaw.json): turn it off (fleet-upgrade updater-off); the fleet is this host's one updater`);
      }
      ctx.out.say(`${report.runtimes.length - bad.length}/${report.runtimes.length} online (${Date.now() - started} ms)`);
    }
    return bad.length === 0 ? EXIT_OK : EXIT_FAILED;
  } finally {
    await store.close();
  }
}

function webhookUrl(opts: MonitorOpts): string | undefined {
  const url = opts.webhook ?? process.env.FLEET_ALERT_WEBHOOK;
  if (url === undefined || url === "") return undefined;
  const from = opts.webhook !== undefined ? "--webhook" : "FLEET_ALERT_WEBHOOK";
  if (!isWebhookUrl(url)) throw new UsageError(`${from}: ${redactUrl(url)} is not an http(s) URL (expected e.g. https://hooks.slack.com/services/...)`);
  return url;
}

interface EndpointSettings {
  port: number;
  host: string;
  secret: string;
}

/** Checked before the store is opened: refused input creates nothing. */
function endpointSettings(ctx: CommandContext, portText: string, host = "127.0.0.1"): EndpointSettings {
  const port = intOption("--port", portText, 0, 65535);
  if (!/^127\.|^::1$|^localhost$/.test(host)) throw new UsageError(`--host: ${JSON.stringify(host)} is not a loopback address (expected 127.x.x.x or ::1)`);
  const secret = process.env.FLEET_HMAC_SECRET;
  if (!secret) throw new UsageError("FLEET_HMAC_SECRET: missing: the endpoint needs the fleet's HMAC secret to check signatures");
  if (chooseStore({ localPath: defaultStorePath(ctx.projectDir) }).kind !== "local") {
    throw new UsageError("the endpoint serves the embedded store; with a Convex deployment, agents post to the deployment itself");
  }
  return { port, host, secret };
}

/**
 * The runtimes of the stack config, read again when the file changes (a config being edited that
 * does not validate keeps the last good list): the endpoint refuses events about any other.
 */
export function configuredRuntimes(sc: StackContext): (stack: string, accountId: string) => boolean {
  let seen: { version: string; ids: Set<string> } | undefined;
  return (stack, accountId) => {
    const st = statSync(sc.configFile);
    const version = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (seen?.version !== version) {
      try {
        seen = { version, ids: new Set(sc.loadFleet().runtimes.map((r) => r.accountId)) };
      } catch {
        if (seen === undefined) throw new Error(`${sc.configFile} does not validate: the endpoint cannot tell its runtimes`);
      }
    }
    return stack === sc.stack && seen!.ids.has(accountId);
  };
}

async function serveEndpoint(ctx: CommandContext, sc: StackContext, store: FleetStore, e: EndpointSettings): Promise<Endpoint> {
  const ep = await startEndpoint({ store, hmacSecret: e.secret, host: e.host, port: e.port, log: (l) => ctx.out.warn(l), knows: configuredRuntimes(sc) });
  ctx.out.warn(`fleet: endpoint listening on ${ep.url}/fleet/events`);
  return ep;
}

/** Aborts on SIGINT or SIGTERM, for a command that serves until interrupted; dispose() removes both listeners. */
export function untilSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return { signal: ac.signal, dispose: () => (process.off("SIGINT", stop), process.off("SIGTERM", stop)) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

async function monitorCommand(ctx: CommandContext, opts: MonitorOpts): Promise<number> {
  const intervalMs = parseDuration(opts.interval, "--interval", 86_400) * 1000;
  if (intervalMs < 1000) throw new UsageError(`--interval: ${JSON.stringify(opts.interval)} is too short (expected at least 1s)`);
  const cycles = opts.cycles !== undefined ? intOption("--cycles", opts.cycles, 1, 1_000_000) : Infinity;
  const url = webhookUrl(opts);
  const sinks: Sink[] = [logSink((l) => ctx.out.warn(l))];
  if (url) sinks.push(webhookSink(url));
  const endpointAt = opts.serveEndpoint !== undefined ? endpointSettings(ctx, opts.serveEndpoint) : undefined;
  const { sc, store, monitor } = await setup(ctx, opts, sinks);
  const { signal, dispose } = untilSignal();
  let endpoint: Endpoint | undefined;
  try {
    if (endpointAt) endpoint = await serveEndpoint(ctx, sc, store, endpointAt);
    if (url) ctx.out.warn(`fleet: alert notifications to ${redactUrl(url)}`);
    for (let i = 0; i < cycles && !signal.aborted; i++) {
      const started = Date.now();
      const report = await monitor.cycle();
      if (ctx.out.json) ctx.out.emit(report);
      else ctx.out.say(summaryLine(report));
      for (const f of report.notifications?.failed ?? []) ctx.out.warn(`fleet: notification not delivered yet (${printable(f.error)}); retried next round`);
      if (i + 1 < cycles) await sleep(Math.max(0, intervalMs - (Date.now() - started)), signal);
    }
    return EXIT_OK;
  } finally {
    dispose();
    await endpoint?.close();
    await store.close();
  }
}

async function endpointCommand(ctx: CommandContext, opts: { port: string; host: string }): Promise<number> {
  const sc = await stackContext(ctx);
  const at = endpointSettings(ctx, opts.port, opts.host);
  const store = await openFleetStore(ctx.projectDir);
  const { signal, dispose } = untilSignal();
  try {
    const ep = await serveEndpoint(ctx, sc, store, at);
    if (ctx.out.json) ctx.out.emit({ url: ep.url, path: "/fleet/events" });
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
    await ep.close();
    return EXIT_OK;
  } finally {
    dispose();
    await store.close();
  }
}
