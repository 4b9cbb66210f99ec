// One customer runtime: its host (a droplet, or an existing host by address) and the remote
// commands that install the on-host script, deploy the runtime's versions and verify them.
// Shaped like pulumi-eks: typed args, children parented to the component, small factories.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as digitalocean from "@pulumi/digitalocean";
import type { Policy, ResolvedRuntime } from "../fleet/config";
import { parseReleaseTag } from "../fleet/versions";
import { cloudInit } from "./cloudInit";
import { createAgentService } from "./agent";
import { agentBundleFile } from "./agentBundle";
import { agentBundleInstallCommand, installCommand, installerCommand, SCRIPT_PATH, scriptSha256, statusCommand, targetsStdin, upgradeCommand, upgradeScript, type TargetVersions } from "./onhost";

export const RUNTIME_TYPE = "runtime-fleet:index:Runtime";

/** DigitalOcean tag names allow letters, digits, ':', '-' and '_': account ids fit as they are. */
export function accountTag(accountId: string): string {
  return `account:${accountId}`;
}

export interface RuntimeArgs {
  /** The runtime as validated and resolved by fleet/config. */
  runtime: ResolvedRuntime;
  /** The fleet's SSH private key; always handled as a secret. */
  sshPrivateKey: pulumi.Input<string>;
  /** DigitalOcean SSH key ids or fingerprints for new droplets. */
  sshKeys?: Array<string | number>;
  /** Production stacks keep droplet backups on. */
  backups?: boolean;
  /** Git remote of OpenClaw, cloned by a new droplet's cloud-init. */
  openclawRemote?: string;
  /** Seconds per SSH dial attempt; with dialErrorLimit this bounds how long an unreachable host takes to fail. */
  dialTimeoutSeconds?: number;
  /** The on-host script's text (default: components/scripts/fleet-upgrade.sh); its digest must match scriptFile's. */
  script?: string;
  /** The file the install copies to the host (default: components/scripts/fleet-upgrade.sh). */
  scriptFile?: string;
  /** Post-deploy hooks bound to the deploy command (they record each runtime's result). */
  deployHooks?: pulumi.ResourceHookBinding;
  /** fleet:policy.snapshots: sent to the host with the versions; droplets may get a snapshot before a major release. */
  snapshots?: Policy["snapshots"];
}

/** Connection details shared by every remote command of a runtime. */
export function sshConnection(
  address: pulumi.Input<string>,
  runtime: ResolvedRuntime,
  privateKey: pulumi.Input<string>,
  dialTimeoutSeconds = 10,
): command.types.input.remote.ConnectionArgs {
  return {
    host: address,
    port: runtime.sshPort,
    user: runtime.sshUser,
    privateKey: pulumi.secret(privateKey),
    perDialTimeout: dialTimeoutSeconds,
    // Up to three attempts (the limit counts failures before giving up): a host that is down fails
    // within seconds, not the provider's default minutes.
    dialErrorLimit: 2,
    ...(runtime.hostKey ? { hostKey: runtime.hostKey } : {}),
  };
}

export class Runtime extends pulumi.ComponentResource {
  public readonly accountId: string;
  /** The droplet, for DigitalOcean runtimes. */
  public readonly droplet?: digitalocean.Droplet;
  /** A snapshot of the droplet taken before the deploy of a new major openclaw release (policy). */
  public readonly dropletSnapshot?: digitalocean.DropletSnapshot;
  public readonly address: pulumi.Output<string>;
  /** Copies the on-host script (and an agent's bundle) to the host, by path and digest. */
  public readonly install: command.local.Command;
  public readonly deploy: command.remote.Command;
  /**
   * An agent runtime's read-back of the versions on its host. A Pulumi-upgraded runtime has none:
   * its deploy's result line carries what the runtime reports as the script ends (one SSH
   * command per runtime and upgrade, not two).
   */
  public readonly verify?: command.remote.Command;
  /** The versions the stack asks this runtime to run. */
  public readonly versions: pulumi.Output<TargetVersions>;
  /** The versions the runtime itself reports after the deploy (from `/version`, via the on-host script). */
  public readonly reportedVersions: pulumi.Output<TargetVersions>;

  constructor(name: string, args: RuntimeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(RUNTIME_TYPE, name, {}, opts);
    const { runtime } = args;
    this.accountId = runtime.accountId;
    const script = args.script ?? upgradeScript();

    if (runtime.provider === "digitalocean") {
      this.droplet = createDroplet(name, args, this);
      this.address = this.droplet.ipv4Address;
    } else {
      if (!runtime.host) throw new Error(`fleet:runtimes[${runtime.index}].host: missing: an existing-host runtime needs its address`);
      this.address = pulumi.output(runtime.host);
    }

    const connection = sshConnection(this.address, runtime, args.sshPrivateKey, args.dialTimeoutSeconds);
    this.install = createInstall(name, runtime, this.address, args, script, this);
    this.dropletSnapshot = this.droplet && args.snapshots?.dropletSnapshotOnMajor ? createMajorSnapshot(name, runtime, this.droplet, this) : undefined;
    // An agent runtime is upgraded by its agent only: instead of the deploy command (whose inputs
    // are the versions) it gets the agent's install, which carries no version.
    this.deploy =
      runtime.executor === "agent"
        ? createAgentService(name, runtime, connection, this.install, this)
        : createDeploy(name, runtime, connection, [this.install, ...(this.dropletSnapshot ? [this.dropletSnapshot] : [])], args.deployHooks, this, args.snapshots);
    this.verify = runtime.executor === "agent" ? createVerify(name, runtime, connection, this.deploy, this, args.snapshots) : undefined;

    this.versions = pulumi.output({ openclaw: runtime.openclaw, runtimeService: runtime.runtimeService });
    this.reportedVersions = (this.verify ?? this.deploy).stdout.apply(parseReported);

    this.registerOutputs({
      accountId: this.accountId,
      address: this.address,
      versions: this.versions,
      reportedVersions: this.reportedVersions,
    });
  }
}

function createDroplet(name: string, args: RuntimeArgs, parent: pulumi.Resource): digitalocean.Droplet {
  const { runtime } = args;
  return new digitalocean.Droplet(
    `${name}-droplet`,
    {
      name: `runtime-${runtime.accountId}`,
      image: runtime.image,
      region: runtime.region ?? "",
      size: runtime.size,
      sshKeys: (args.sshKeys ?? []).map(String),
      tags: [accountTag(runtime.accountId), "runtime-fleet"],
      monitoring: true,
      backups: args.backups ?? false,
      ipv6: false,
      userData: cloudInit({
        hostRoot: runtime.hostRoot,
        healthPort: runtime.healthPort,
        ...(args.openclawRemote ? { openclawRemote: args.openclawRemote } : {}),
        agentNode: runtime.executor === "agent",
      }),
    },
    // User data is only the first boot; the script comes with the install command.
    { parent, ignoreChanges: ["userData"] },
  );
}

/**
 * One DropletSnapshot per openclaw major version, named after it: moving to a new major creates a
 * new one before the deploy runs (the deploy depends on it). Kept when the resource goes away
 * (retainOnDelete): it is the way back, not state of the program.
 */
function createMajorSnapshot(name: string, runtime: ResolvedRuntime, droplet: digitalocean.Droplet, parent: pulumi.Resource): digitalocean.DropletSnapshot {
  const major = /^v(\d+)\./.exec(parseReleaseTag(runtime.openclaw, "openclaw"))?.[1] ?? "0";
  return new digitalocean.DropletSnapshot(
    `${name}-before-openclaw-v${major}`,
    { dropletId: droplet.id, name: `runtime-${runtime.accountId}-before-openclaw-v${major}` },
    { parent, retainOnDelete: true },
  );
}

/**
 * The install: a local command that copies the script (and an agent runtime's bundle) over SSH
 * (components/scripts/install-over-ssh.sh). Its inputs are the files' paths and sha256 and the
 * connection, so the state holds digests, not 40 KB of script per runtime, and a new script
 * re-runs this, never the deploy. The key is its stdin (secret); the rest is its environment.
 */
function createInstall(
  name: string,
  runtime: ResolvedRuntime,
  address: pulumi.Output<string>,
  args: RuntimeArgs,
  script: string,
  parent: pulumi.Resource,
): command.local.Command {
  const scriptFile = args.scriptFile ?? SCRIPT_PATH;
  const sha256 = scriptSha256(script);
  const agent = runtime.executor === "agent" ? agentBundleFile() : undefined;
  const environment: Record<string, pulumi.Input<string>> = {
    FLEET_SSH_HOST: address,
    FLEET_SSH_PORT: String(runtime.sshPort),
    FLEET_SSH_USER: runtime.sshUser,
    FLEET_SSH_DIAL_TIMEOUT: String(args.dialTimeoutSeconds ?? 10),
    ...(runtime.hostKey ? { FLEET_SSH_HOST_KEY: runtime.hostKey } : {}),
    FLEET_SCRIPT_FILE: scriptFile,
    FLEET_SCRIPT_INSTALL: installCommand(runtime.hostRoot, sha256, { waitCloudInit: runtime.provider === "digitalocean" }),
    ...(agent ? { FLEET_AGENT_FILE: agent.path, FLEET_AGENT_INSTALL: agentBundleInstallCommand(runtime.hostRoot, agent.sha256) } : {}),
  };
  return new command.local.Command(
    `${name}-install`,
    { create: installerCommand(), stdin: pulumi.secret(args.sshPrivateKey), environment, addPreviousOutputInEnv: false },
    { parent },
  );
}

function createDeploy(
  name: string,
  runtime: ResolvedRuntime,
  connection: command.types.input.remote.ConnectionArgs,
  dependsOn: pulumi.Resource[],
  hooks: pulumi.ResourceHookBinding | undefined,
  parent: pulumi.Resource,
  snapshots: Policy["snapshots"] | undefined,
): command.remote.Command {
  // Bound to the version inputs through stdin: it runs again exactly when a version changes.
  // No `triggers` (they replace, running the new create before the old delete) and no
  // `environment` (sent with SSH Setenv, refused unless sshd's AcceptEnv allows it).
  return new command.remote.Command(
    `${name}-deploy`,
    {
      connection,
      create: upgradeCommand(runtime.hostRoot),
      stdin: targetsStdin(runtime, snapshots ? { snapshots } : {}),
      // Nothing reads the previous output, and sending it needs sshd's AcceptEnv.
      addPreviousOutputInEnv: false,
    },
    { parent, dependsOn, ...(hooks ? { hooks } : {}) },
  );
}

function createVerify(
  name: string,
  runtime: ResolvedRuntime,
  connection: command.types.input.remote.ConnectionArgs,
  deploy: command.remote.Command,
  parent: pulumi.Resource,
  snapshots: Policy["snapshots"] | undefined,
): command.remote.Command {
  // Same stdin as the deploy, so it re-reads the runtime's versions whenever the deploy ran.
  return new command.remote.Command(
    `${name}-verify`,
    { connection, create: statusCommand(runtime.hostRoot), stdin: targetsStdin(runtime, snapshots ? { snapshots } : {}), addPreviousOutputInEnv: false },
    { parent, dependsOn: [deploy] },
  );
}

/**
 * The reported versions of a status line (`status`) or an upgrade's result line (`reported`);
 * empty strings when the host said nothing usable.
 */
export function parseReported(stdout: string | undefined): TargetVersions {
  const line = (stdout ?? "").trim().split(/\r?\n/).at(-1) ?? "";
  try {
    const parsed = JSON.parse(line) as { reported?: Partial<TargetVersions> | null; status?: unknown } & Partial<TargetVersions>;
    // A result line without `reported` (it said nothing usable) names no reported versions.
    const source = parsed.reported ?? (typeof parsed.status === "string" ? {} : parsed);
    return { openclaw: source.openclaw ?? "", runtimeService: source.runtimeService ?? "" };
  } catch {
    return { openclaw: "", runtimeService: "" };
  }
}
