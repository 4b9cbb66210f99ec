// The Pulumi program: stack config -> validated fleet -> one Runtime component each.
import { existsSync, readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { formatConfigErrors, NAMESPACE, parseFleetConfig } from "./fleet/config";
import { Runtime } from "./components/runtime";
import { deployHooksFromEnv } from "./components/hooks";

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

const parsed = parseFleetConfig(rawStackConfig());
if (!parsed.ok) {
  throw new pulumi.RunError(`invalid stack config:\n${formatConfigErrors(parsed.errors)}`);
}
const fleet = parsed.config;
const sshPrivateKey = new pulumi.Config(NAMESPACE).requireSecret("sshPrivateKey");
const deployHooks = deployHooksFromEnv(pulumi.getStack());

/**
 * A targeted run of the engine (control/engine.ts) names its batch here: only the batch is
 * registered, so the program's cost follows the batch, not the fleet. A targeted update leaves
 * the runtimes it does not register as they are; a run without this variable (`pulumi up` or
 * `preview` by hand, CI) registers the whole fleet.
 */
function batchRuntimes(all: typeof fleet.runtimes, listed: string | undefined, outputsFile: string | undefined): typeof fleet.runtimes {
  if (listed === undefined) return all;
  // The engine's file lives only for its run: a variable left in a shell must not narrow an
  // untargeted `pulumi up` (it would delete every runtime it left out).
  if (!outputsFile || !existsSync(outputsFile)) {
    throw new pulumi.RunError("FLEET_ENGINE_TARGETS: set outside a run of the fleet's engine (its FLEET_ENGINE_OUTPUTS_FILE is missing); unset it");
  }
  const ids = listed.split(",").filter((id) => id !== "");
  const known = new Set(all.map((r) => r.accountId));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) throw new pulumi.RunError(`FLEET_ENGINE_TARGETS: ${JSON.stringify(unknown.join(","))} is not in fleet:runtimes (expected account ids of the stack)`);
  const wanted = new Set(ids);
  return all.filter((r) => wanted.has(r.accountId));
}

const runtimes = batchRuntimes(fleet.runtimes, process.env.FLEET_ENGINE_TARGETS, process.env.FLEET_ENGINE_OUTPUTS_FILE).map(
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

/** A batch run's stack output keeps the entries of the runtimes it did not register (the engine passes them). */
function previousRuntimeOutputs(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  const registered = new Set(runtimes.map((r) => r.accountId));
  const inFleet = new Set(fleet.runtimes.map((r) => r.accountId));
  const previous = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(previous).filter(([id]) => inFleet.has(id) && !registered.has(id)));
}

export const release = fleet.release;
export const fleetRuntimes = Object.fromEntries([
  ...Object.entries(previousRuntimeOutputs(process.env.FLEET_ENGINE_OUTPUTS_FILE)),
  ...runtimes.map((r) => [
    r.accountId,
    { address: r.address, versions: r.versions, reportedVersions: r.reportedVersions },
  ]),
]);
