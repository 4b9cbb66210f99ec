// The stack config schema: `Pulumi.<stack>.yaml` is the fleet's desired state.
// Every error names its exact config path and value; all errors are reported, not only the first.
import { z } from "zod";
import { isReleaseTag, isSupported, releaseTagProblem, type ReleaseTag } from "./versions";
import { ACCOUNT_ID_EXPECTED, isAccountId, isHostAddress } from "./ids";
import { DEFAULT_GATE_THRESHOLDS } from "./gates";

export const NAMESPACE = "fleet";

const releaseTag = z.custom<ReleaseTag>(isReleaseTag, { error: (iss) => releaseTagProblem(iss.input) });
const accountId = z.custom<string>(isAccountId, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an account id (expected ${ACCOUNT_ID_EXPECTED})`,
});
const hostAddress = z.custom<string>(isHostAddress, {
  error: (iss) => `${JSON.stringify(iss.input)} is not a host name or IP address`,
});
/** A DigitalOcean SSH key: its numeric id or its fingerprint. */
const sshKeyRef = z.custom<string | number>(
  (v) => (typeof v === "number" && Number.isInteger(v) && v > 0) || (typeof v === "string" && /^[A-Za-z0-9:+/=._-]{1,128}$/.test(v)),
  { error: (iss) => `${JSON.stringify(iss.input)} is not a DigitalOcean SSH key id or fingerprint` },
);
const port = z.number().int().min(1).max(65535);
const percent = z.number().min(0).max(100);
/** Droplet slugs, regions, images, users: short tokens without shell or YAML surprises. */
const token = (what: string) =>
  z.custom<string>((v) => typeof v === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v), {
    error: (iss) => `${JSON.stringify(iss.input)} is not a valid ${what} (letters, digits, '.', '_' or '-')`,
  });
const sshUser = z.custom<string>((v) => typeof v === "string" && /^[a-z_][a-z0-9_-]{0,31}$/.test(v), {
  error: (iss) => `${JSON.stringify(iss.input)} is not a valid SSH user name`,
});
const absolutePath = z.custom<string>((v) => typeof v === "string" && /^\/[A-Za-z0-9._/-]{0,255}$/.test(v), {
  error: (iss) => `${JSON.stringify(iss.input)} is not an absolute path of letters, digits, '.', '_', '-' and '/'`,
});
/** An OpenSSH public host key line: `ssh-ed25519 AAAA...`. */
const hostKey = z.custom<string>(
  (v) => typeof v === "string" && /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}$/.test(v),
  { error: (iss) => `${JSON.stringify(iss.input)} is not an OpenSSH public host key (expected "ssh-ed25519 AAAA...")` },
);

export const PROVIDERS = ["digitalocean", "existing"] as const;
export type Provider = (typeof PROVIDERS)[number];
export const STRATEGIES = ["rolling", "canary", "immediate"] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const EXECUTORS = ["pulumi", "agent"] as const;
export type Executor = (typeof EXECUTORS)[number];

export const releaseSchema = z.strictObject({
  openclaw: releaseTag,
  runtimeService: releaseTag,
});

/** One weighted metric of the canary analysis: its share of the score, and the smallest change for the worse that fails it. */
const analysisMetricPolicy = (weight: number, tolerance: number) =>
  z
    .strictObject({
      weight: z.number().min(0).max(100).default(weight),
      /** In the metric's unit (percentage points for rates, ms for latency): a smaller shift is no regression. */
      tolerance: z.number().min(0).max(1e6).default(tolerance),
    })
    .prefault({});

/**
 * The canary analysis (fleet/analysis.ts): the upgraded cohort against a control cohort on the
 * old release over the same window. Defaults are tuned on the lab's noisy workload model
 * (`npm run bench:analysis`): no more than 5% false halts, +3% errors and +200 ms caught.
 */
export const analysisPolicySchema = z
  .strictObject({
    /** Seconds between two scrapes of `/metrics`: one sample per runtime and interval. */
    intervalSeconds: z.number().int().min(1).max(3600).default(10),
    /** Fewest samples per cohort and metric for a verdict; fewer is inconclusive (pause). */
    minSamples: z.number().int().min(3).max(10_000).default(12),
    /** Most runtimes still on the old release sampled as the control cohort. */
    controlSize: z.number().int().min(1).max(200).default(5),
    /** Score (0..100) at or above which the analysis says go; below marginalScore it halts; between, it pauses. */
    passScore: percent.default(85),
    marginalScore: percent.default(70),
    /** Two-sided Mann-Whitney p below which a change for the worse is marginal, and below failP (with the tolerance) fails. */
    marginalP: z.number().gt(0).max(0.5).default(0.05),
    failP: z.number().gt(0).max(0.5).default(0.01),
    metrics: z
      .strictObject({
        error_rate: analysisMetricPolicy(40, 1),
        latency_ms: analysisMetricPolicy(40, 100),
        notification_failure_rate: analysisMetricPolicy(20, 2),
      })
      .prefault({}),
  })
  .refine((a) => a.marginalScore <= a.passScore, { path: ["marginalScore"], error: (iss) => `${JSON.stringify((iss.input as { marginalScore?: unknown }).marginalScore)} is above passScore (expected marginalScore <= passScore)` })
  .refine((a) => a.failP <= a.marginalP, { path: ["failP"], error: (iss) => `${JSON.stringify((iss.input as { failP?: unknown }).failP)} is above marginalP (expected failP <= marginalP)` })
  .prefault({});

export const policySchema = z.strictObject({
  minSupportedOpenclaw: releaseTag,
  minSupportedRuntimeService: releaseTag.optional(),
  strategy: z.enum(STRATEGIES).default("rolling"),
  batchPercent: z.number().int().min(1).max(100).default(10),
  waitSeconds: z.number().int().min(0).max(86_400).default(60),
  bakeMinutes: z.number().min(0).max(1_440).default(30),
  maxBatchFailurePercent: percent.default(DEFAULT_GATE_THRESHOLDS.maxBatchFailurePercent),
  pauseOnFailurePercent: percent.default(DEFAULT_GATE_THRESHOLDS.pauseOnFailurePercent),
  minHealthyPercent: percent.default(DEFAULT_GATE_THRESHOLDS.minHealthyPercent),
  autoRollback: z.boolean().default(DEFAULT_GATE_THRESHOLDS.autoRollback),
  /** Production stacks: droplet backups on (checked by the policy pack). */
  production: z.boolean().default(false),
  allowedRegions: z.array(token("region")).optional(),
  allowedSizes: z.array(token("droplet size")).optional(),
  /** Snapshots of each runtime's state taken by the on-host script before every upgrade. */
  snapshots: z
    .strictObject({
      /** How many snapshots each host keeps (the newest). */
      keep: z.number().int().min(1).max(1000).default(3),
      /** The most bytes a host's snapshots may take together. */
      budgetBytes: z.number().int().min(0).max(1e15).default(1024 ** 3),
      /** Droplets: a DigitalOcean snapshot of the droplet before a major release. */
      dropletSnapshotOnMajor: z.boolean().default(false),
    })
    .prefault({}),
  /** Releases that migrate the state: going back across one needs the snapshot from before it. */
  migratingReleases: z.array(releaseTag).max(1000).default([]),
  analysis: analysisPolicySchema,
});

export const defaultsSchema = z.strictObject({
  provider: z.enum(PROVIDERS).default("digitalocean"),
  region: token("region").optional(),
  size: token("droplet size").default("s-2vcpu-4gb"),
  image: token("image").default("ubuntu-24-04-x64"),
  sshUser: sshUser.default("root"),
  sshPort: port.default(22),
  healthPort: port.default(8080),
  /** Where the on-host script and its state live on every host. */
  hostRoot: absolutePath.default("/opt/runtime-fleet"),
  executor: z.enum(EXECUTORS).default("pulumi"),
  /** DigitalOcean SSH key ids or fingerprints installed on new droplets. */
  sshKeys: z.array(sshKeyRef).default([]),
  /** Seconds to wait for an SSH connection before the deploy fails. */
  dialTimeoutSeconds: z.number().int().min(1).max(600).default(10),
});

export const runtimeSchema = z.strictObject({
  accountId,
  name: z.string().min(1).max(200).optional(),
  provider: z.enum(PROVIDERS).optional(),
  region: token("region").optional(),
  size: token("droplet size").optional(),
  image: token("image").optional(),
  host: hostAddress.optional(),
  port: port.optional(),
  sshUser: sshUser.optional(),
  healthPort: port.optional(),
  hostRoot: absolutePath.optional(),
  hostKey: hostKey.optional(),
  executor: z.enum(EXECUTORS).optional(),
  openclaw: releaseTag,
  runtimeService: releaseTag,
  canary: z.boolean().default(false),
  /** Pinned: rollouts never select it; it stays on this openclaw release. */
  pin: releaseTag.optional(),
});

const secretValue = z.custom<{ secure: string }>(
  (v) => typeof v === "object" && v !== null && typeof (v as { secure?: unknown }).secure === "string",
  {
    error: (iss) =>
      iss.input === undefined
        ? "missing (required): pulumi config set --secret fleet:sshPrivateKey < key"
        : typeof iss.input === "string"
        ? "is stored in plain text; it must be a secret (pulumi config set --secret fleet:sshPrivateKey < key)"
        : `${JSON.stringify(iss.input)} is not a secret value (pulumi config set --secret fleet:sshPrivateKey < key)`,
  },
);

export const releaseSourceSchema = z.strictObject({
  /** Git remote holding the OpenClaw release tags (`git ls-remote --tags`). */
  openclaw: z.string().min(1).max(1000),
  /** Git remote holding runtime service tags; defaults to the openclaw remote. */
  runtimeService: z.string().min(1).max(1000).optional(),
});

/** Every `fleet:*` key a stack may hold, and its schema. Anything else under `fleet:` is an error. */
export const stackConfigSchema = z.object({
  [`${NAMESPACE}:release`]: releaseSchema,
  [`${NAMESPACE}:policy`]: policySchema,
  [`${NAMESPACE}:defaults`]: defaultsSchema.default(defaultsSchema.parse({})),
  [`${NAMESPACE}:runtimes`]: z.array(runtimeSchema).max(10_000),
  [`${NAMESPACE}:sshPrivateKey`]: secretValue,
  [`${NAMESPACE}:releaseSource`]: releaseSourceSchema.optional(),
});

export const KNOWN_KEYS: readonly string[] = Object.keys(stackConfigSchema.shape);

export type Release = z.infer<typeof releaseSchema>;
export type Policy = z.infer<typeof policySchema>;
export type AnalysisPolicy = z.infer<typeof analysisPolicySchema>;
export type Defaults = z.infer<typeof defaultsSchema>;
export type RuntimeEntry = z.infer<typeof runtimeSchema>;

/** A runtime with the stack's defaults applied: what components/ and control/ work with. */
export interface ResolvedRuntime {
  accountId: string;
  name: string;
  provider: Provider;
  region?: string;
  size: string;
  image: string;
  host?: string;
  sshPort: number;
  sshUser: string;
  healthPort: number;
  hostRoot: string;
  hostKey?: string;
  executor: Executor;
  openclaw: ReleaseTag;
  runtimeService: ReleaseTag;
  canary: boolean;
  pin?: ReleaseTag;
  /** Index in `fleet:runtimes`: where a rollout writes this runtime's versions. */
  index: number;
}

export interface FleetConfig {
  release: Release;
  policy: Policy;
  defaults: Defaults;
  runtimes: ResolvedRuntime[];
  releaseSource?: z.infer<typeof releaseSourceSchema>;
}

export interface ConfigError {
  /** Exact config path, e.g. `fleet:runtimes[2].openclaw`. */
  path: string;
  message: string;
}

export type ParseResult = { ok: true; config: FleetConfig } | { ok: false; errors: ConfigError[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part as string];
  }
  return cur;
}

/** zod's generic messages get the offending value appended, so every line names path and value. */
function describeIssue(raw: unknown, issue: z.core.$ZodIssue): ConfigError[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      message: `unknown key (expected one of: ${expectedKeys(issue.path).join(", ")})`,
    }));
  }
  const value = valueAt(raw, issue.path);
  if (value === undefined && issue.code === "invalid_type") {
    return [{ path: formatPath(issue.path), message: "missing (required)" }];
  }
  const shown = shortValue(value);
  const message = issue.code === "custom" || issue.message.includes(String(shown)) ? issue.message : `${shown}: ${issue.message}`;
  return [{ path: formatPath(issue.path), message }];
}

/** The value as JSON, or a short description of it: an error line never carries a whole list. */
function shortValue(value: unknown): string {
  if (Array.isArray(value)) return `a list of ${value.length} entries`;
  const json = JSON.stringify(value) ?? String(value);
  return json.length <= 120 ? json : `${json.slice(0, 100)}... (${json.length} characters)`;
}

function expectedKeys(path: readonly PropertyKey[]): string[] {
  const [root, second] = path;
  const byRoot: Record<string, z.ZodObject> = {
    [`${NAMESPACE}:release`]: releaseSchema,
    [`${NAMESPACE}:policy`]: policySchema,
    [`${NAMESPACE}:defaults`]: defaultsSchema,
    [`${NAMESPACE}:releaseSource`]: releaseSourceSchema,
  };
  if (path.length === 0) return [...KNOWN_KEYS];
  if (root === `${NAMESPACE}:runtimes` && typeof second === "number") return Object.keys(runtimeSchema.shape);
  const schema = typeof root === "string" ? byRoot[root] : undefined;
  return schema ? Object.keys(schema.shape) : [];
}

/**
 * Validates a stack's `config:` map (keys like `fleet:runtimes`; other namespaces are ignored)
 * and resolves each runtime against the defaults.
 */
export function parseFleetConfig(rawConfig: Record<string, unknown>): ParseResult {
  const errors: ConfigError[] = [];
  const fleetOnly: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rawConfig)) {
    if (!key.startsWith(`${NAMESPACE}:`)) continue;
    if (!KNOWN_KEYS.includes(key)) {
      errors.push({ path: key, message: `unknown key (expected one of: ${KNOWN_KEYS.join(", ")})` });
      continue;
    }
    fleetOnly[key] = value;
  }
  // Each key, and each runtime, is parsed on its own so that one bad entry does not hide the
  // cross-checks (duplicates, minimum supported) of the others.
  const part = <T>(key: string, schema: z.ZodType<T>, value: unknown, path: PropertyKey[] = [key]): T | undefined => {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      errors.push(...describeIssue(fleetOnly, { ...issue, path: [...path, ...issue.path] }));
    }
    return undefined;
  };
  const release = part(`${NAMESPACE}:release`, releaseSchema, fleetOnly[`${NAMESPACE}:release`]);
  const policy = part(`${NAMESPACE}:policy`, policySchema, fleetOnly[`${NAMESPACE}:policy`]);
  const defaults =
    part(`${NAMESPACE}:defaults`, defaultsSchema, fleetOnly[`${NAMESPACE}:defaults`] ?? {}) ?? defaultsSchema.parse({});
  part(`${NAMESPACE}:sshPrivateKey`, secretValue, fleetOnly[`${NAMESPACE}:sshPrivateKey`]);
  const releaseSource = part(`${NAMESPACE}:releaseSource`, releaseSourceSchema.optional(), fleetOnly[`${NAMESPACE}:releaseSource`]);
  const runtimesKey = `${NAMESPACE}:runtimes`;
  const rawRuntimes = fleetOnly[runtimesKey];
  const runtimes: ResolvedRuntime[] = [];
  if (part(runtimesKey, z.array(z.unknown()).max(10_000), rawRuntimes) !== undefined) {
    (rawRuntimes as unknown[]).forEach((entry, index) => {
      const parsed = part(runtimesKey, runtimeSchema, entry, [runtimesKey, index]);
      if (parsed) runtimes.push(resolveRuntime(parsed, defaults, index));
    });
  }
  errors.push(...duplicateAccounts(Array.isArray(rawRuntimes) ? rawRuntimes : []));
  // A policy with an unrelated error still lends its minimum supported release to the checks.
  const minOnly = policy ?? minimumFrom(fleetOnly[`${NAMESPACE}:policy`]);
  errors.push(...crossCheck(release, minOnly, runtimes));
  if (runtimes.some((r) => r.provider === "digitalocean") && defaults.sshKeys.length === 0) {
    errors.push({
      path: `${NAMESPACE}:defaults.sshKeys`,
      message: "missing: droplets log in with SSH keys only (add a DigitalOcean SSH key id or fingerprint)",
    });
  }
  if (errors.length > 0 || !release || !policy) return { ok: false, errors: sortErrors(errors) };
  return { ok: true, config: { release, policy, defaults, runtimes, ...(releaseSource ? { releaseSource } : {}) } };
}

/** Config order: by key, then runtime index, then field, so a long list reads top to bottom. */
function sortErrors(errors: ConfigError[]): ConfigError[] {
  const rank = (p: string) => {
    const key = p.split(/[.[]/)[0] ?? p;
    const known = KNOWN_KEYS.indexOf(key);
    const idx = /^[^[]*\[(\d+)\]/.exec(p);
    return [known === -1 ? KNOWN_KEYS.length : known, idx ? Number(idx[1]) : -1] as const;
  };
  return errors
    .map((e, i) => ({ e, i, r: rank(e.path) }))
    .sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.i - b.i)
    .map((x) => x.e);
}

export function resolveRuntime(entry: RuntimeEntry, defaults: Defaults, index: number): ResolvedRuntime {
  const provider = entry.provider ?? defaults.provider;
  const resolved: ResolvedRuntime = {
    accountId: entry.accountId,
    name: entry.name ?? entry.accountId,
    provider,
    size: entry.size ?? defaults.size,
    image: entry.image ?? defaults.image,
    sshPort: entry.port ?? defaults.sshPort,
    sshUser: entry.sshUser ?? defaults.sshUser,
    healthPort: entry.healthPort ?? defaults.healthPort,
    hostRoot: entry.hostRoot ?? defaults.hostRoot,
    executor: entry.executor ?? defaults.executor,
    openclaw: entry.openclaw,
    runtimeService: entry.runtimeService,
    canary: entry.canary,
    index,
  };
  const region = entry.region ?? defaults.region;
  if (region !== undefined) resolved.region = region;
  if (entry.host !== undefined) resolved.host = entry.host;
  if (entry.hostKey !== undefined) resolved.hostKey = entry.hostKey;
  if (entry.pin !== undefined) resolved.pin = entry.pin;
  return resolved;
}

function minimumFrom(rawPolicy: unknown): Pick<Policy, "minSupportedOpenclaw" | "minSupportedRuntimeService"> | undefined {
  const parsed = policySchema.pick({ minSupportedOpenclaw: true, minSupportedRuntimeService: true }).safeParse(
    typeof rawPolicy === "object" && rawPolicy !== null
      ? {
          minSupportedOpenclaw: (rawPolicy as Record<string, unknown>).minSupportedOpenclaw,
          minSupportedRuntimeService: (rawPolicy as Record<string, unknown>).minSupportedRuntimeService,
        }
      : undefined,
  );
  return parsed.success ? parsed.data : undefined;
}

function crossCheck(
  release: Release | undefined,
  policy: Pick<Policy, "minSupportedOpenclaw" | "minSupportedRuntimeService"> | undefined, runtimes: ResolvedRuntime[]): ConfigError[] {
  const errors: ConfigError[] = [];
  const min = policy?.minSupportedOpenclaw;
  const minRs = policy?.minSupportedRuntimeService;
  const below = (v: string, m: string, key: string) =>
    `${JSON.stringify(v)} is below the minimum supported ${m} (fleet:policy.${key})`;
  if (release && min && !isSupported(release.openclaw, min)) {
    errors.push({ path: "fleet:release.openclaw", message: below(release.openclaw, min, "minSupportedOpenclaw") });
  }
  if (release && minRs && !isSupported(release.runtimeService, minRs)) {
    errors.push({
      path: "fleet:release.runtimeService",
      message: below(release.runtimeService, minRs, "minSupportedRuntimeService"),
    });
  }
  for (const r of runtimes) {
    const at = `fleet:runtimes[${r.index}]`;
    if (r.provider === "digitalocean" && r.region === undefined) {
      errors.push({ path: `${at}.region`, message: "missing: a digitalocean runtime needs a region (here or in fleet:defaults.region)" });
    }
    if (r.provider === "existing" && r.host === undefined) {
      errors.push({ path: `${at}.host`, message: "missing: an existing-host runtime needs its address" });
    }
    if (min && !isSupported(r.openclaw, min)) {
      errors.push({ path: `${at}.openclaw`, message: below(r.openclaw, min, "minSupportedOpenclaw") });
    }
    if (minRs && !isSupported(r.runtimeService, minRs)) {
      errors.push({ path: `${at}.runtimeService`, message: below(r.runtimeService, minRs, "minSupportedRuntimeService") });
    }
    if (r.pin !== undefined && r.pin !== r.openclaw) {
      errors.push({
        path: `${at}.openclaw`,
        message: `${JSON.stringify(r.openclaw)} differs from its pin ${r.pin} (fleet:runtimes[${r.index}].pin)`,
      });
    }
  }
  return errors;
}

/** Checked on the raw entries, so a duplicate is reported even when the entry has other errors. */
function duplicateAccounts(rawRuntimes: unknown[]): ConfigError[] {
  const errors: ConfigError[] = [];
  const firstIndex = new Map<string, number>();
  rawRuntimes.forEach((entry, index) => {
    const id = typeof entry === "object" && entry !== null ? (entry as { accountId?: unknown }).accountId : undefined;
    if (typeof id !== "string") return;
    const seen = firstIndex.get(id);
    if (seen === undefined) firstIndex.set(id, index);
    else
      errors.push({
        path: `fleet:runtimes[${index}].accountId`,
        message: `${JSON.stringify(id)} duplicates fleet:runtimes[${seen}].accountId (account ids are unique)`,
      });
  });
  return errors;
}

/** Lines listed in full before the rest is summarised (10,001 bad runtimes must not print 1 MB). */
export const MAX_LISTED_ERRORS = 20;

/**
 * One line per error, up to `limit`; the rest as one line per kind (the path with its indices
 * as `[*]`), so a long list stays readable and bounded by the schema's size, not the file's.
 */
export function formatConfigErrors(errors: readonly ConfigError[], limit = MAX_LISTED_ERRORS): string {
  const lines = errors.slice(0, limit).map((e) => `${e.path}: ${e.message}`);
  const rest = new Map<string, number>();
  for (const e of errors.slice(limit)) {
    const kind = e.path.replace(/\[\d+\]/g, "[*]");
    rest.set(kind, (rest.get(kind) ?? 0) + 1);
  }
  for (const [kind, count] of rest) lines.push(`... and ${count} more of the same kind at ${kind}`);
  return lines.join("\n");
}
