// The Pulumi program's body: stack config -> validated fleet -> one Runtime component each, and
// the stack outputs. One body, two hosts: index.ts (a `pulumi up`/`preview` by hand, CI: the
// language host runs it) and the fleet's engine (control/engine.ts), which runs it inside its
// own process as an Automation API inline program, so a batch does not start Node, load the SDK
// and transpile the program again on every targeted `pulumi up`.
import { existsSync, readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { formatConfigErrors, NAMESPACE, parseFleetConfig, type FleetConfig } from "../fleet/config";
import { Runtime } from "./runtime";
import { deployHooksFromEnv } from "./hooks";

export interface ProgramOptions {
  /**
   * The account ids of a targeted batch: only they are registered (a targeted update leaves the
   * runtimes it does not register as they are). Absent: the whole fleet.
   */
  only?: readonly string[];
  /** The stack's previous `fleetRuntimes` entries, kept for the runtimes a batch does not register. */
  previousRuntimes?: Record<string, unknown>;
  /** Where the post-deploy hooks find their store, actor and rollout (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Gets what to close once the run is over (the hooks' store). */
  onEnd?: (close: () => Promise<void>) => void;
}

export interface ProgramOutputs {
  release: FleetConfig["release"];
  fleetRuntimes: Record<string, unknown>;
}

/** The stack's `fleet:*` config as the schema wants it; the SSH key stays out (it is a secret). */
function rawStackConfig(): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!key.startsWith(`${NAMESPACE}:`)) continue;
    if (key === `${NAMESPACE}:sshPrivateKey`) {
      raw[key] = { secure: "[secret]" };
      continue;
    }
    try {
      raw[key] = JSON.parse(value);
    } catch {
      raw[key] = value;
    }
  }
  return raw;
}

export function fleetProgram(options: ProgramOptions = {}): ProgramOutputs {
  const parsed = parseFleetConfig(rawStackConfig());
  if (!parsed.ok) {
    throw new pulumi.RunError(`invalid stack config:\n${formatConfigErrors(parsed.errors)}`);
  }
  const fleet = parsed.config;
  const sshPrivateKey = new pulumi.Config(NAMESPACE).requireSecret("sshPrivateKey");
  const deployHooks = deployHooksFromEnv(pulumi.getStack(), options.env ?? process.env, options.onEnd);

  const runtimes = batchRuntimes(fleet.runtimes, options.only).map(
    (runtime) =>
      new Runtime(runtime.accountId, {
        runtime,
        sshPrivateKey,
        sshKeys: fleet.defaults.sshKeys,
        backups: fleet.policy.production,
        dialTimeoutSeconds: fleet.defaults.dialTimeoutSeconds,
        ...(fleet.releaseSource ? { openclawRemote: fleet.releaseSource.openclaw } : {}),
        deployHooks,
        snapshots: fleet.policy.snapshots,
      }),
  );

  // A batch's output keeps the entries of the runtimes it did not register (a runtime no longer
  // in the fleet drops out).
  const registered = new Set(runtimes.map((r) => r.accountId));
  const inFleet = new Set(fleet.runtimes.map((r) => r.accountId));
  const kept = Object.entries(options.previousRuntimes ?? {}).filter(([id]) => inFleet.has(id) && !registered.has(id));
  return {
    release: fleet.release,
    fleetRuntimes: Object.fromEntries([
      ...kept,
      ...runtimes.map((r) => [r.accountId, { address: r.address, versions: r.versions, reportedVersions: r.reportedVersions }]),
    ]),
  };
}

function batchRuntimes(all: FleetConfig["runtimes"], only: readonly string[] | undefined): FleetConfig["runtimes"] {
  if (only === undefined) return all;
  const known = new Set(all.map((r) => r.accountId));
  const unknown = only.filter((id) => !known.has(id));
  if (unknown.length > 0) throw new pulumi.RunError(`FLEET_ENGINE_TARGETS: ${JSON.stringify(unknown.join(","))} is not in fleet:runtimes (expected account ids of the stack)`);
  const wanted = new Set(only);
  return all.filter((r) => wanted.has(r.accountId));
}

/** The engine's batch variable: names the runtimes of a targeted run of the program from a language host. */
export const BATCH_ENV = "FLEET_ENGINE_TARGETS";
/** A JSON file of the stack's previous `fleetRuntimes` output, for the runtimes a batch does not register. */
export const OUTPUTS_ENV = "FLEET_ENGINE_OUTPUTS_FILE";

/**
 * The program's options when a language host runs it (index.ts): the whole fleet, unless the
 * engine named a batch. The engine's outputs file lives only for its run, so the variable left
 * in a shell is refused: it must not narrow an untargeted `pulumi up` (which would delete every
 * runtime it left out).
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ProgramOptions {
  const listed = env[BATCH_ENV];
  const file = env[OUTPUTS_ENV];
  if (listed === undefined) return { env };
  if (!file || !existsSync(file)) {
    throw new pulumi.RunError(`${BATCH_ENV}: set outside a run of the fleet's engine (its ${OUTPUTS_ENV} is missing); unset it`);
  }
  return {
    only: listed.split(",").filter((id) => id !== ""),
    previousRuntimes: JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>,
    env,
  };
}
