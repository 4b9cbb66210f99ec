// The Pulumi program: stack config -> validated fleet -> one Runtime component each.
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

const runtimes = fleet.runtimes.map(
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

export const release = fleet.release;
export const fleetRuntimes = Object.fromEntries(
  runtimes.map((r) => [
    r.accountId,
    { address: r.address, versions: r.versions, reportedVersions: r.reportedVersions },
  ]),
);
