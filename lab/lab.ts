// The lab: N simulated hosts on 127.0.0.(10+i), each with its own sshd (port 2222) and K simulated
// runtimes (ports 8080.., each with its own host root), plus a Pulumi.lab.yaml whose runtimes are
// those. With K > 1 a host's runtimes are served by one pool process (a process per runtime
// would not fit 1,000 runtimes on a small machine), and a host's runtimes share its sshd.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { delimiter, join, resolve } from "node:path";
import YAML from "yaml";
import { formatConfigErrors, parseFleetConfig } from "../fleet/config";
import { shellQuote } from "../components/onhost";
import {
  createHost,
  createKit,
  hostStatus,
  INITIAL_OPENCLAW,
  INITIAL_RUNTIME_SERVICE,
  parseFault,
  setFault,
  startRuntime,
  startRuntimePool,
  stopRuntime,
  stopRuntimePool,
  type FaultState,
  type HostStatus,
  type LabHost,
  type SshdInfo,
} from "./kit";
import { findProcesses, mapLimit, run, stopProcess } from "./procs";
import { createClientKeys, knownHostsLine, prepareSshd, sshControl, SSH_PORT, startSshd, stopSshd, type LabKeys } from "./sshd";

export const LAB_STACK = "lab";
export const MAX_HOSTS = 200;
export const MAX_RUNTIMES_PER_HOST = 50;
export const HEALTH_PORT = 8080;
/** Encrypts only the lab's throwaway key in the lab's own file backend: not a real secret. */
export const LAB_PASSPHRASE = "fleet-lab-not-a-secret";
const REPO_ROOT = resolve(__dirname, "..");

export function defaultLabDir(): string {
  return join(process.env.TMPDIR || tmpdir(), "runtime-fleet-lab");
}

/**
 * Host i lives on <net>.(10+i), <net> = $FLEET_LAB_NET (default 127.0.0): two labs on one machine
 * (say, two developers' test runs) each take their own /24 of the loopback range.
 */
export function labNet(env: NodeJS.ProcessEnv = process.env): string {
  const net = env.FLEET_LAB_NET ?? "127.0.0";
  if (!/^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/.test(net)) {
    throw new LabError(`FLEET_LAB_NET: ${JSON.stringify(net)} is not a loopback /24 prefix like 127.0.3`, 2);
  }
  return net;
}

export function hostAddress(index: number): string {
  return `${labNet()}.${10 + index}`;
}

export function runtimeName(index: number): string {
  return `lab-${String(index).padStart(2, "0")}`;
}

export interface LabHostRecord {
  runtime: string;
  address: string;
  healthPort: number;
  root: string;
  canary: boolean;
  ssh: SshdInfo;
  /** The socket of the pool process serving this runtime (labs with several runtimes per host). */
  pool?: string;
}

/** lab.json: everything a later command (or a test) needs to find and drive the lab. */
export interface LabRecord {
  version: 1;
  dir: string;
  createdAt: string;
  node: string;
  user: string;
  projectDir: string;
  stack: string;
  backendUrl: string;
  passphrase: string;
  keys: LabKeys;
  origin: { path: string; url: string };
  registry: string;
  docker: string;
  /** Directory holding `pulumi`, when one was found at `up`. */
  pulumiDir: string | null;
  hosts: LabHostRecord[];
}

export function labFile(dir: string): string {
  return join(dir, "lab.json");
}

export function readLab(dir = defaultLabDir()): LabRecord {
  const file = labFile(resolve(dir));
  if (!existsSync(file)) throw new LabError(`no lab in ${dir} (run: fleet-lab up --hosts N --dir ${dir})`);
  return JSON.parse(readFileSync(file, "utf8")) as LabRecord;
}

export function labHosts(lab: LabRecord): LabHost[] {
  return lab.hosts.map((h) => ({
    runtime: h.runtime,
    root: h.root,
    address: h.address,
    healthPort: h.healthPort,
    script: join(h.root, "bin", "fleet-upgrade"),
    docker: lab.docker,
    ssh: h.ssh,
  }));
}

export function findHost(lab: LabRecord, runtime: string): LabHost {
  const host = labHosts(lab).find((h) => h.runtime === runtime);
  if (!host) throw new LabError(`unknown runtime ${JSON.stringify(runtime)} (lab runtimes: ${lab.hosts.map((h) => h.runtime).join(", ")})`, 2);
  return host;
}

/** An error the CLI reports without a stack trace; exitCode 2 = bad input. */
export class LabError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "LabError";
  }
}

/** Where a lab's runtime pools put their sockets (one per host, with several runtimes per host). */
export function poolSocket(dir: string, hostIndex: number): string {
  return join(resolve(dir), "pools", `host-${String(hostIndex).padStart(3, "0")}.sock`);
}

/** Every process of a lab dir still alive: simulated runtimes, runtime pools and sshds (found in /proc). */
export function labProcesses(dir: string): number[] {
  const hostsDir = `${resolve(dir)}/hosts/`;
  return [
    ...findProcesses(["sim-runtime.mjs", `--root ${hostsDir}`]),
    ...findProcesses(["sim-runtime.mjs", `--pool ${resolve(dir)}/pools/`]),
    ...findProcesses(["sshd", hostsDir, "sshd_config"]),
  ];
}

export interface LabUpOptions {
  hosts: number;
  /** Runtimes on each host (own host root and health port each; default 1). */
  runtimesPerHost?: number;
  dir?: string;
  projectDir?: string;
  /** Run configureLabStack (needs the Pulumi CLI). Default true. */
  configureStack?: boolean;
  log?: (line: string) => void;
  /** Releases of the lab origin that migrate the state (`.fleet/migrating` in their tree). */
  migratingReleases?: readonly string[];
}

export interface LabUpResult {
  lab: LabRecord;
  stackFile: string;
  /** failed: Pulumi was there but the stack could not be configured (the lab still runs). */
  stack: { configured: boolean; failed?: boolean; message: string };
  timingsMs: Record<string, number>;
}

export async function labUp(options: LabUpOptions): Promise<LabUpResult> {
  const n = options.hosts;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS) throw new LabError(`--hosts must be an integer 1..${MAX_HOSTS}`, 2);
  const perHost = options.runtimesPerHost ?? 1;
  if (!Number.isInteger(perHost) || perHost < 1 || perHost > MAX_RUNTIMES_PER_HOST) {
    throw new LabError(`--runtimes-per-host: ${JSON.stringify(perHost)} is not an integer 1..${MAX_RUNTIMES_PER_HOST}`, 2);
  }
  const dir = resolve(options.dir ?? defaultLabDir());
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const log = options.log ?? (() => undefined);
  const timingsMs: Record<string, number> = {};
  const t0 = Date.now();
  const mark = (what: string) => (timingsMs[what] = Date.now() - t0);

  const alive = existsSync(dir) ? labProcesses(dir) : [];
  if (alive.length > 0) {
    throw new LabError(`a lab is already running in ${dir} (${alive.length} processes); run: fleet-lab down --dir ${dir}`);
  }
  // A stopped lab's leftovers are replaced; only the lab's own entries are removed.
  for (const entry of ["lab.json", "hosts", "pools", "origin", "registry", "bin", "keys", "pulumi-state"]) {
    rmSync(join(dir, entry), { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });

  log(`creating the release origin and ${n} hosts${perHost > 1 ? ` of ${perHost} runtimes` : ""} in ${dir}`);
  const kit = await createKit(dir, process.execPath, options.migratingReleases ? { migratingReleases: options.migratingReleases } : {});
  const keys = await createClientKeys(dir);
  const user = userInfo().username;
  mark("kit");

  const hosts: LabHost[] = [];
  const records: LabHostRecord[] = [];
  const pools = perHost > 1 ? Array.from({ length: n }, (_, h) => poolSocket(dir, h + 1)) : [];
  try {
    if (pools.length > 0) {
      mkdirSync(join(dir, "pools"), { recursive: true });
      await mapLimit(pools, 8, (socket) => startRuntimePool(kit.node, socket, 30_000));
    }
    // Runtime i (1-based) lives on host ceil(i / K), health port 8080 + its place on the host.
    const created = await mapLimit(
      Array.from({ length: n * perHost }, (_, i) => i + 1),
      4,
      async (i) => {
        const hostIndex = Math.ceil(i / perHost);
        const host = await createHost(kit, {
          runtime: runtimeName(i),
          root: join(dir, "hosts", runtimeName(i)),
          address: hostAddress(hostIndex),
          healthPort: HEALTH_PORT + ((i - 1) % perHost),
          ...(pools.length > 0 ? { pool: pools[hostIndex - 1]! } : {}),
        });
        // A host's runtimes share its one sshd: the first runtime's root holds it.
        if ((i - 1) % perHost === 0) host.ssh = await prepareSshd(host, keys, SSH_PORT);
        return host;
      },
    );
    for (const [i, host] of created.entries()) host.ssh ??= created[i - (i % perHost)]!.ssh;
    hosts.push(...created);
    mark("hostsCreated");
    const sshHosts = hosts.filter((_, i) => i % perHost === 0);
    writeFileSync(keys.knownHosts, `${sshHosts.map(knownHostsLine).join("\n")}\n`);
    log("starting sshds and runtimes");
    await mapLimit(sshHosts, 8, (host) => startSshd(host, 30_000));
    await mapLimit(hosts, 8, (host) => startRuntime(host, 30_000));
    mark("hostsStarted");
  } catch (error) {
    await stopHosts(hosts, dir);
    await Promise.all(pools.map(stopRuntimePool));
    throw error;
  }
  for (const [i, host] of hosts.entries()) {
    records.push({
      runtime: host.runtime,
      address: host.address,
      healthPort: host.healthPort,
      root: host.root,
      canary: i === 0,
      ssh: host.ssh as SshdInfo,
      ...(pools.length > 0 ? { pool: pools[Math.floor(i / perHost)]! } : {}),
    });
  }

  const lab: LabRecord = {
    version: 1,
    dir,
    createdAt: new Date().toISOString(),
    node: kit.node,
    user,
    projectDir,
    stack: LAB_STACK,
    backendUrl: `file://${join(dir, "pulumi-state")}`,
    passphrase: LAB_PASSPHRASE,
    keys,
    origin: { path: kit.originPath, url: kit.originUrl },
    registry: kit.registryFile,
    docker: kit.docker,
    pulumiDir: null,
    hosts: records,
  };
  mkdirSync(join(dir, "pulumi-state"), { recursive: true });
  writeFileSync(labFile(dir), `${JSON.stringify(lab, null, 2)}\n`);
  const stackFile = writeStackConfig(projectDir, lab);
  mark("stackFile");
  log(`wrote ${stackFile}`);

  let stack: LabUpResult["stack"] = { configured: false, message: "skipped (configureStack: false)" };
  if (options.configureStack !== false) {
    try {
      stack = await configureLabStack(projectDir, dir, log);
    } catch (error) {
      // The lab itself is up and usable; the caller decides whether a missing secret matters.
      stack = { configured: false, failed: true, message: `the lab is up, but configuring stack ${LAB_STACK} failed: ${(error as Error).message}` };
    }
    mark("stackConfigured");
  }
  log(stack.message);
  return { lab: readLab(dir), stackFile, stack, timingsMs };
}

/**
 * The stack config of the lab: the desired state is the lab as created (everyone on v1.2.3).
 * `runtimes` narrows it to a cell of the lab (a stack of some of its runtimes; the first is the
 * cell's canary).
 */
export function labStackConfig(lab: LabRecord, runtimes: readonly LabHostRecord[] = lab.hosts): Record<string, unknown> {
  return {
    "fleet:release": { openclaw: INITIAL_OPENCLAW, runtimeService: INITIAL_RUNTIME_SERVICE },
    "fleet:policy": {
      minSupportedOpenclaw: "v1.1.0",
      strategy: "canary",
      batchPercent: 25,
      waitSeconds: 1,
      bakeMinutes: 0.1,
    },
    "fleet:defaults": { provider: "existing", dialTimeoutSeconds: 5 },
    "fleet:releaseSource": { openclaw: lab.origin.url },
    "fleet:runtimes": runtimes.map((h, i) => ({
      accountId: h.runtime,
      provider: "existing",
      host: h.address,
      port: h.ssh.port,
      sshUser: lab.user,
      healthPort: h.healthPort,
      hostRoot: h.root,
      hostKey: h.ssh.hostPublicKey,
      openclaw: INITIAL_OPENCLAW,
      runtimeService: INITIAL_RUNTIME_SERVICE,
      ...(h.canary || (runtimes !== lab.hosts && i === 0) ? { canary: true } : {}),
    })),
  };
}

/**
 * Writes Pulumi.lab.yaml, validated with fleet/config.ts (the SSH key secret is added by
 * configureLabStack, so it is checked here with a placeholder).
 */
export function writeStackConfig(projectDir: string, lab: LabRecord, stack: string = LAB_STACK, runtimes: readonly LabHostRecord[] = lab.hosts): string {
  const config = labStackConfig(lab, runtimes);
  const checked = parseFleetConfig({ ...config, "fleet:sshPrivateKey": { secure: "placeholder" } });
  if (!checked.ok) throw new LabError(`the generated lab stack config is invalid:\n${formatConfigErrors(checked.errors)}`);
  const file = join(projectDir, `Pulumi.${stack}.yaml`);
  const header = "# Generated by `fleet-lab up`; the lab's hosts as existing runtimes. Rewritten by each `up`.\n";
  writeFileSync(file, header + YAML.stringify({ config }, { lineWidth: 0 }));
  return file;
}

/** Environment for the Pulumi CLI against the lab's own file backend. */
export function labPulumiEnv(lab: LabRecord): Record<string, string> {
  return {
    PULUMI_BACKEND_URL: lab.backendUrl,
    PULUMI_CONFIG_PASSPHRASE: lab.passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
}

function pathLookup(program: string, pathVar = process.env.PATH ?? ""): string | null {
  for (const d of pathVar.split(delimiter)) {
    if (d !== "" && existsSync(join(d, program))) return d;
  }
  return null;
}

/**
 * The directory holding `pulumi`: $FLEET_PULUMI_DIR, then PATH, then (when allowed)
 * the last line printed by `bash tools/setup-pulumi.sh`. Null when there is none.
 */
export async function findPulumiDir({ runSetup = true } = {}): Promise<string | null> {
  const fromEnv = process.env.FLEET_PULUMI_DIR;
  if (fromEnv && existsSync(join(fromEnv, "pulumi"))) return fromEnv;
  const onPath = pathLookup("pulumi");
  if (onPath) return onPath;
  const setup = join(REPO_ROOT, "tools", "setup-pulumi.sh");
  if (!runSetup || !existsSync(setup)) return null;
  const result = await run("bash", [setup], { cwd: REPO_ROOT, timeoutMs: 30 * 60_000 });
  const last = result.stdout.trim().split("\n").at(-1)?.trim() ?? "";
  return result.code === 0 && last !== "" && existsSync(join(last, "pulumi")) ? last : null;
}

/**
 * Creates the `lab` stack in the lab's file backend (if needed) and stores the lab's SSH private
 * key as the secret fleet:sshPrivateKey. Skipped, with a message, when no Pulumi CLI is found.
 */
export async function configureLabStack(
  projectDir: string,
  labDir: string,
  log: (line: string) => void = () => undefined,
  stackName: string = LAB_STACK,
): Promise<{ configured: boolean; message: string }> {
  const lab = readLab(labDir);
  if (!existsSync(join(projectDir, "Pulumi.yaml"))) {
    return { configured: false, message: `no Pulumi.yaml in ${projectDir}: stack ${stackName} not configured (pass --project <the Pulumi project dir>)` };
  }
  const pulumiDir = await findPulumiDir();
  if (!pulumiDir) {
    return {
      configured: false,
      message:
        "Pulumi CLI not found (PATH, $FLEET_PULUMI_DIR, tools/setup-pulumi.sh): Pulumi.lab.yaml lacks fleet:sshPrivateKey; " +
        `later run: eval "$(fleet-lab env --dir ${labDir})" && pulumi stack init lab; pulumi config set --secret fleet:sshPrivateKey --stack lab < ${lab.keys.privateKey}`,
    };
  }
  const pulumi = join(pulumiDir, "pulumi");
  const env = { ...process.env, ...labPulumiEnv(lab), PATH: `${pulumiDir}${delimiter}${process.env.PATH ?? ""}` };
  mkdirSync(join(lab.dir, "pulumi-state"), { recursive: true });
  const cwd = resolve(projectDir);
  const select = await run(pulumi, ["stack", "select", stackName, "--non-interactive"], { cwd, env, timeoutMs: 120_000 });
  if (select.code !== 0) {
    log(`pulumi stack init ${stackName}`);
    const init = await run(pulumi, ["stack", "init", stackName, "--non-interactive"], { cwd, env, timeoutMs: 120_000 });
    if (init.code !== 0) throw new LabError(`pulumi stack init ${stackName} failed: ${init.stderr.trim()}`);
  }
  const set = await run(pulumi, ["config", "set", "--secret", "fleet:sshPrivateKey", "--stack", stackName, "--non-interactive"], {
    cwd,
    env,
    input: readFileSync(lab.keys.privateKey, "utf8"),
    timeoutMs: 120_000,
  });
  if (set.code !== 0) throw new LabError(`pulumi config set --secret fleet:sshPrivateKey failed: ${set.stderr.trim()}`);
  writeFileSync(labFile(lab.dir), `${JSON.stringify({ ...lab, pulumiDir }, null, 2)}\n`);
  return { configured: true, message: `stack ${stackName} configured (fleet:sshPrivateKey stored as a secret) with ${pulumi}` };
}

/**
 * A cell of the lab: a stack `name` of some of its runtimes (Pulumi.<name>.yaml, its secret
 * set). A fleet larger than one stack can hold (the whole stack config reaches the program in
 * one environment variable, at most 128 KiB on Linux: pulumi/pulumi#8680) is run as cells.
 */
export async function labCell(projectDir: string, labDir: string, name: string, runtimes: readonly LabHostRecord[]): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name)) throw new LabError(`cell: ${JSON.stringify(name)} is not a stack name (letters, digits, '_', '.', '-')`, 2);
  const lab = readLab(labDir);
  const file = writeStackConfig(projectDir, lab, name, runtimes);
  const configured = await configureLabStack(projectDir, labDir, () => undefined, name);
  if (!configured.configured) throw new LabError(configured.message);
  return file;
}

export async function labStatus(dir = defaultLabDir()): Promise<{ hosts: HostStatus[] }> {
  const lab = readLab(dir);
  const hosts = await mapLimit(labHosts(lab), 16, hostStatus);
  return { hosts };
}

/** Applies a fault to one lab runtime (see kit.ts parseFault for the kinds). */
export async function labFault(dir: string, runtime: string, kind: string): Promise<FaultState> {
  const lab = readLab(dir);
  let fault;
  try {
    fault = parseFault(kind);
  } catch (error) {
    throw new LabError((error as Error).message, 2);
  }
  return setFault(findHost(lab, runtime), fault, sshControl);
}

async function stopHosts(hosts: LabHost[], dir: string): Promise<number> {
  await mapLimit(hosts, 16, async (host) => {
    await stopRuntime(host);
    await stopSshd(host);
  });
  const poolsDir = join(resolve(dir), "pools");
  if (existsSync(poolsDir)) {
    for (const f of readdirSync(poolsDir).filter((name) => name.endsWith(".sock"))) await stopRuntimePool(join(poolsDir, f));
  }
  // Whatever the pid files missed (a crashed CLI, a lost pid file), /proc still knows.
  const left = labProcesses(dir);
  await Promise.all(left.map((pid) => stopProcess(pid, [])));
  return left.length;
}

/** Stops every process of the lab and checks none is left. Idempotent. */
export async function labDown(dir = defaultLabDir()): Promise<{ stopped: number }> {
  const resolved = resolve(dir);
  const before = existsSync(resolved) ? labProcesses(resolved).length : 0;
  const hosts = existsSync(labFile(resolved)) ? labHosts(readLab(resolved)) : [];
  await stopHosts(hosts, resolved);
  const left = existsSync(resolved) ? labProcesses(resolved) : [];
  if (left.length > 0) throw new LabError(`processes of the lab are still running: ${left.join(", ")}`);
  return { stopped: before };
}

/** `export` lines for a shell: the lab's Pulumi backend, passphrase and PATH. */
export async function labEnv(dir = defaultLabDir()): Promise<string> {
  const lab = readLab(dir);
  const q = shellQuote;
  const pulumiDir = lab.pulumiDir ?? (await findPulumiDir({ runSetup: false }));
  // the project's tools (tsx, fleet, fleet-lab); the repo's own when the project dir has none
  const bins = [join(lab.projectDir, "node_modules", ".bin"), join(REPO_ROOT, "node_modules", ".bin")].filter((d) => existsSync(d));
  const path = [pulumiDir, ...new Set(bins)].filter((p): p is string => !!p);
  const lines = Object.entries(labPulumiEnv(lab)).map(([k, v]) => `export ${k}=${q(v)}`);
  lines.push(`export PATH=${q(path.join(delimiter))}${delimiter}"$PATH"`);
  return `${lines.join("\n")}\n`;
}
