// `fleet dashboard`: serves the admin UI (dashboard/) for one stack until interrupted.
import type { Command } from "commander";
import { isHostAddress } from "../../fleet/ids";
import { openStore } from "../../store";
import type { FleetStore } from "../../store/types";
import { convexAuthenticator, generateToken, tokenAuthenticator, type Authenticator } from "../../dashboard/auth";
import { DashboardFleet } from "../../dashboard/fleet";
import { startDashboardServer } from "../../dashboard/server";
import type { CommandContext, Run } from "../cli";
import { untilSignal } from "./monitor";
import { actorName, defaultStorePath, openFleetStore, stackContext } from "../../control/context";
import { EXIT_OK, UsageError } from "../../control/errors";


export function registerDashboard(program: Command, run: Run): void {
  program
    .command("dashboard")
    .description("serve the admin dashboard (Runtime Management, runtimes, rollouts) on 127.0.0.1")
    .option("--port <port>", "TCP port (0: any free port)", "8787")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .action(async (opts: { port: string; host: string }, cmd: Command) => run((ctx) => dashboardCommand(ctx, opts), cmd));
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

async function dashboardCommand(ctx: CommandContext, opts: { port: string; host: string }): Promise<number> {
  const port = Number(opts.port);
  if (!/^\d{1,5}$/.test(opts.port) || port > 65_535) throw new UsageError(`--port: ${JSON.stringify(opts.port)} is not a TCP port (expected 0..65535)`);
  if (!isHostAddress(opts.host)) throw new UsageError(`--host: ${JSON.stringify(opts.host)} is not a host name or IP address`);
  if (!LOOPBACK.test(opts.host)) ctx.out.warn(`fleet dashboard: listening on ${opts.host}, beyond loopback: put TLS in front of it`);
  const sc = await stackContext(ctx);

  let auth: Authenticator;
  let shared: FleetStore | undefined;
  let printedToken: string | undefined;
  if (process.env.FLEET_CONVEX_URL) {
    // Each admin's Convex JWT opens their own store: Convex decides who is a super admin.
    auth = convexAuthenticator((jwt) =>
      openStore({ localPath: defaultStorePath(ctx.projectDir), env: { ...process.env, FLEET_CONVEX_AUTH_TOKEN: jwt } }),
    );
  } else {
    // Checked before the store is opened: refused input creates nothing.
    const given = process.env.FLEET_DASHBOARD_TOKEN;
    if (given !== undefined && given.length < 16) throw new UsageError("FLEET_DASHBOARD_TOKEN: expected at least 16 characters");
    shared = await openFleetStore(ctx.projectDir);
    const token = given ?? generateToken();
    if (given === undefined) printedToken = token;
    auth = tokenAuthenticator(token, shared, `${actorName()} (dashboard)`);
  }

  const fleet = new DashboardFleet({ ctx, sc, log: (l) => ctx.out.warn(`dashboard: ${l}`) });
  const running = await startDashboardServer({ fleet, auth, host: opts.host, port, log: (l) => ctx.out.warn(`dashboard: ${l}`) });
  const loginUrl = auth.kind === "token" ? `${running.url}?token=${printedToken ?? "$FLEET_DASHBOARD_TOKEN"}` : `${running.url}?token=<your Convex JWT>`;
  if (ctx.out.json) ctx.out.emit({ type: "listening", url: running.url, port: running.port, host: opts.host, stack: sc.stack, auth: auth.kind });
  else {
    ctx.out.say(`fleet dashboard for stack ${sc.stack}: ${running.url}`);
    // The generated token is shown once, here, so the operator can sign in; it is never logged.
    ctx.out.say(`sign in: ${loginUrl}`);
  }
  if (ctx.out.json && printedToken) ctx.out.emit({ type: "login", url: loginUrl });

  const { signal, dispose } = untilSignal();
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
  dispose();
  ctx.out.warn("fleet dashboard: stopping");
  await running.close();
  // A rollout running here records every step, so one cut short resumes with `fleet rollout resume`.
  await fleet.idle(5_000);
  await shared?.close();
  return EXIT_OK;
}
