// What commands share: the stack's config file, its validated fleet, the store and the engine.
import os from "node:os";
import path from "node:path";
import { formatConfigErrors, type FleetConfig } from "../fleet/config";
import { chooseStore, openStore } from "../store";
import type { FleetStore } from "../store/types";
import { AutomationEngine, type StackEngine } from "./engine";
import { UsageError } from "./errors";
import { probeFleet, type ProbeResult, type ProbeTarget } from "./probe";
import { readStackConfig, stackConfigPath, validateStackConfig } from "./stackConfig";
import { resolveStack } from "./stackName";

export interface StackContext {
  stack: string;
  configFile: string;
  loadFleet: () => FleetConfig;
}

/** What a caller (the CLI, the dashboard) says about where it works. */
export interface Where {
  globals: { stack?: string | undefined };
  projectDir: string;
}

/** A stack config file read and validated: its fleet, or bad input naming the file (`prefix` names the option that chose it). */
export function loadFleetFile(file: string, prefix = ""): FleetConfig {
  const result = validateStackConfig(readStackConfig(file));
  if (!result.ok) throw new UsageError(`${prefix}${file} is not valid:\n${formatConfigErrors(result.errors)}`);
  return result.config;
}

export async function stackContext(ctx: Where): Promise<StackContext> {
  const stack = await resolveStack(ctx.globals.stack, ctx.projectDir);
  const configFile = stackConfigPath(ctx.projectDir, stack);
  const loadFleet = () => loadFleetFile(configFile);
  loadFleet(); // bad config is bad input: refuse before anything else happens
  return { stack, configFile, loadFleet };
}

/** The embedded store lives in the project unless FLEET_STORE_PATH or a Convex deployment says otherwise. */
export function defaultStorePath(projectDir: string): string {
  return process.env.FLEET_STORE_PATH ?? path.join(projectDir, ".fleet", "store.db");
}

/**
 * A history cursor is what the previous page printed: the embedded store's `<time>:<seq>`, or a
 * Convex cursor (opaque, of URL-safe characters). Checked before the store is opened.
 */
export function checkHistoryCursor(cursor: string, field: string, localPath: string): void {
  const local = chooseStore({ localPath }).kind === "local";
  const ok = local ? /^\d{1,16}:\d{1,16}$/.test(cursor) : /^[A-Za-z0-9_.:=+/-]{1,400}$/.test(cursor);
  if (!ok) throw new UsageError(`${field}: ${JSON.stringify(cursor)} is not a history cursor (expected the one \`fleet history\` printed after its last page)`);
}

export async function openFleetStore(projectDir: string): Promise<FleetStore> {
  return openStore({ localPath: defaultStorePath(projectDir) });
}

/** Environment the engine (and so the post-deploy hooks in the program) runs with. */
export function engineEnv(projectDir: string): Record<string, string> {
  return {
    FLEET_STORE_PATH: path.resolve(defaultStorePath(projectDir)),
    FLEET_ACTOR: process.env.FLEET_ACTOR ?? actorName(),
  };
}

export function createEngine(projectDir: string, stack: string): StackEngine {
  return new AutomationEngine({ projectDir, stack, env: engineEnv(projectDir) });
}

export function actorName(): string {
  return `${process.env.USER ?? os.userInfo().username}@${os.hostname()}`;
}

export function probe(targets: ProbeTarget[]): Promise<ProbeResult[]> {
  return probeFleet(targets, { timeoutMs: 3_000, concurrency: 32 });
}
