// The policy pack's wiring: which resources each rule of rules.ts looks at, its enforcement level,
// its config schema, and where its defaults come from (the stack's own `fleet:*` config, which the
// engine hands the pack as PULUMI_CONFIG). index.ts serves these; tests call them directly.
import type {
  EnforcementLevel,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { z } from "zod";
import { NAMESPACE, STRATEGIES, defaultsSchema, policySchema, resolveRuntime, runtimeSchema, type ResolvedRuntime, type Strategy } from "../fleet/config";
import {
  accountTagProblems,
  allowedProblems,
  backupProblems,
  canaryFirstProblems,
  hostKeyProblems,
  monitoringProblems,
  sshKeyProblems,
  versionInputProblems,
  versionStdin,
  type ProposedRuntime,
} from "./rules";

export const PACK_NAME = "runtime-fleet";
export const DROPLET_TYPE = "digitalocean:index/droplet:Droplet";
export const REMOTE_COMMAND_TYPE = "command:remote:Command";
/** The Runtime component's type; the same string as components/runtime.ts RUNTIME_TYPE. */
export const RUNTIME_COMPONENT_TYPE = "runtime-fleet:index:Runtime";

/** What the pack knows of the stack from its `fleet:*` config; every part optional (a foreign stack has none). */
export interface StackSettings {
  minSupportedOpenclaw?: string;
  minSupportedRuntimeService?: string;
  strategy?: Strategy;
  production?: boolean;
  allowedRegions?: string[];
  allowedSizes?: string[];
  runtimes?: ResolvedRuntime[];
}

function json(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Reads the stack's `fleet:policy`, `fleet:defaults` and `fleet:runtimes` from the engine's config map
 * (values are JSON text). Secrets (fleet:sshPrivateKey) are never read. Parts that do not parse are
 * left out: the program itself reports bad config; the pack only borrows defaults from good config.
 */
export function stackSettings(config: Readonly<Record<string, string>>): StackSettings {
  const out: StackSettings = {};
  const policy = policySchema.safeParse(json(config[`${NAMESPACE}:policy`]));
  if (policy.success) {
    const p = policy.data;
    out.minSupportedOpenclaw = p.minSupportedOpenclaw;
    if (p.minSupportedRuntimeService !== undefined) out.minSupportedRuntimeService = p.minSupportedRuntimeService;
    out.strategy = p.strategy;
    out.production = p.production;
    if (p.allowedRegions !== undefined) out.allowedRegions = p.allowedRegions;
    if (p.allowedSizes !== undefined) out.allowedSizes = p.allowedSizes;
  }
  const defaults = defaultsSchema.safeParse(json(config[`${NAMESPACE}:defaults`]) ?? {});
  const runtimes = z.array(runtimeSchema).safeParse(json(config[`${NAMESPACE}:runtimes`]));
  if (runtimes.success) {
    const d = defaults.success ? defaults.data : defaultsSchema.parse({});
    out.runtimes = runtimes.data.map((r, i) => resolveRuntime(r, d, i));
  }
  return out;
}

/** The stack config of the pack's process (PULUMI_CONFIG); empty outside an engine run. */
export function processStackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const raw = env.PULUMI_CONFIG;
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed !== "object" || parsed === null) return {};
    return stackSettings(parsed as Record<string, string>);
  } catch {
    return {};
  }
}

// ---- policy config (pulumi preview --policy-pack-config FILE), defaults from the stack ----

const stringList = { type: "array", items: { type: "string" } } as const;

export interface VersionsConfig {
  minSupportedOpenclaw?: string;
  minSupportedRuntimeService?: string;
}
export interface CanaryConfig {
  strategy?: Strategy;
  /** Account ids treated as canaries (default: the stack's `canary: true` runtimes). */
  canaries?: string[];
}
export interface BackupsConfig {
  production?: boolean;
}
export interface RegionsConfig {
  allowedRegions?: string[];
}
export interface SizesConfig {
  allowedSizes?: string[];
}
export interface HostKeysConfig {
  /** host (address) -> OpenSSH public host key line. */
  knownHostKeys?: Record<string, string>;
}

type Reporter = ReportViolation;
const report = (reportViolation: Reporter, problems: string[], urn?: string) => {
  for (const p of problems) reportViolation(p, urn);
};

/** Merges stack-config host keys (fleet:runtimes[].hostKey by host) under the policy config's map. */
export function knownHostKeys(stack: StackSettings, configured: Record<string, string> | undefined): Record<string, string> {
  const known: Record<string, string> = {};
  for (const r of stack.runtimes ?? []) if (r.host !== undefined && r.hostKey !== undefined) known[r.host] = r.hostKey;
  return { ...known, ...(configured ?? {}) };
}

/** The proposed runtimes of a stack: each Runtime component's deploy command and the versions in its stdin. */
export function proposedRuntimes(resources: readonly PolicyResource[], stack: StackSettings, canaries?: readonly string[]): ProposedRuntime[] {
  const byId = new Map((stack.runtimes ?? []).map((r) => [r.accountId, r]));
  const out: ProposedRuntime[] = [];
  for (const res of resources) {
    if (res.type !== REMOTE_COMMAND_TYPE || !res.name.endsWith("-deploy")) continue;
    if (res.parent?.type !== RUNTIME_COMPONENT_TYPE) continue;
    const accountId = res.parent.name;
    const versions = versionStdin(res.props.stdin);
    if (versions === undefined || typeof versions.openclaw !== "string") continue;
    const configured = byId.get(accountId);
    const canary = canaries !== undefined ? canaries.includes(accountId) : (configured?.canary ?? false);
    out.push({ accountId, openclaw: versions.openclaw, canary, ...(configured?.pin !== undefined ? { pin: configured.pin } : {}) });
  }
  return out;
}

export function fleetPolicies(stack: StackSettings, levels: { mandatory: EnforcementLevel } = { mandatory: "mandatory" }) {
  const level = levels.mandatory;

  const releaseVersions: ResourceValidationPolicy = {
    name: "release-tag-versions",
    description: "Every runtime version input is a release tag (vMAJOR.MINOR.PATCH) at or above the minimum supported release.",
    enforcementLevel: level,
    configSchema: {
      properties: {
        minSupportedOpenclaw: { type: "string", pattern: "^v\\d" },
        minSupportedRuntimeService: { type: "string", pattern: "^v\\d" },
      },
    },
    validateResource: (args: ResourceValidationArgs, reportViolation) => {
      if (args.type !== REMOTE_COMMAND_TYPE) return;
      const versions = versionStdin(args.props.stdin);
      if (versions === undefined) return;
      const cfg = args.getConfig<VersionsConfig>();
      const min = {
        ...(cfg.minSupportedOpenclaw ?? stack.minSupportedOpenclaw ? { openclaw: cfg.minSupportedOpenclaw ?? stack.minSupportedOpenclaw } : {}),
        ...(cfg.minSupportedRuntimeService ?? stack.minSupportedRuntimeService
          ? { runtimeService: cfg.minSupportedRuntimeService ?? stack.minSupportedRuntimeService }
          : {}),
      };
      report(reportViolation, versionInputProblems(versions, min, `${args.name} stdin`));
    },
  };

  const canaryFirst: StackValidationPolicy = {
    name: "canary-first",
    description: "No non-canary runtime runs an openclaw release newer than every canary (unless the stack's strategy is immediate).",
    enforcementLevel: level,
    configSchema: {
      properties: {
        strategy: { type: "string", enum: [...STRATEGIES] },
        canaries: stringList,
      },
    },
    validateStack: (args: StackValidationArgs, reportViolation) => {
      const cfg = args.getConfig<CanaryConfig>();
      const runtimes = proposedRuntimes(args.resources, stack, cfg.canaries);
      if (runtimes.length === 0) args.notApplicable("no Runtime deploy commands in this stack");
      report(reportViolation, canaryFirstProblems(runtimes, cfg.strategy ?? stack.strategy));
    },
  };

  const droplet = (
    name: string,
    description: string,
    check: (props: Record<string, unknown>, args: ResourceValidationArgs) => string[],
    configSchema?: ResourceValidationPolicy["configSchema"],
  ): ResourceValidationPolicy => ({
    name,
    description,
    enforcementLevel: level,
    ...(configSchema ? { configSchema } : {}),
    validateResource: (args, reportViolation) => {
      if (args.type !== DROPLET_TYPE) return;
      report(reportViolation, check(args.props as Record<string, unknown>, args));
    },
  });

  const hostKeys: ResourceValidationPolicy = {
    name: "remote-command-host-key",
    description: "Remote commands pin the SSH host key (connection.hostKey) of every host whose key is known.",
    enforcementLevel: level,
    configSchema: { properties: { knownHostKeys: { type: "object", additionalProperties: { type: "string" } } } },
    validateResource: (args, reportViolation) => {
      if (args.type !== REMOTE_COMMAND_TYPE) return;
      const conn = (args.props.connection ?? {}) as { host?: unknown; hostKey?: unknown };
      const known = knownHostKeys(stack, args.getConfig<HostKeysConfig>().knownHostKeys);
      report(reportViolation, hostKeyProblems({ host: conn.host, hostKey: conn.hostKey }, known, args.name));
    },
  };

  return [
    releaseVersions,
    canaryFirst,
    droplet("droplet-account-tag", "Droplets carry their account tag (account:<id>).", (p) => accountTagProblems(p)),
    droplet("droplet-monitoring", "Droplets have monitoring on.", (p) => monitoringProblems(p)),
    droplet(
      "droplet-backups-in-production",
      "Droplets in production stacks (fleet:policy.production) have backups on.",
      (p, args) => backupProblems(p, args.getConfig<BackupsConfig>().production ?? stack.production ?? false),
      { properties: { production: { type: "boolean" } } },
    ),
    droplet("droplet-ssh-keys", "Droplets log in with SSH keys only (sshKeys non-empty, no root password).", (p) => sshKeyProblems(p)),
    droplet(
      "droplet-allowed-region",
      "Droplets stay within the allowed regions (policy config allowedRegions, default fleet:policy.allowedRegions).",
      (p, args) => {
        const configured = args.getConfig<RegionsConfig>().allowedRegions;
        return allowedProblems("region", p.region, configured ?? stack.allowedRegions, configured ? "policy config allowedRegions" : "fleet:policy.allowedRegions");
      },
      { properties: { allowedRegions: stringList } },
    ),
    droplet(
      "droplet-allowed-size",
      "Droplets use allowed sizes (policy config allowedSizes, default fleet:policy.allowedSizes).",
      (p, args) => {
        const configured = args.getConfig<SizesConfig>().allowedSizes;
        return allowedProblems("size", p.size, configured ?? stack.allowedSizes, configured ? "policy config allowedSizes" : "fleet:policy.allowedSizes");
      },
      { properties: { allowedSizes: stringList } },
    ),
    hostKeys,
  ];
}
