// The simulated host kit: a release origin, a runtime service "registry", a docker stand-in, and
// hosts (a directory ROOT + a loopback address) with the real on-host script installed.
// Used by the lab (lab.ts) and directly by e2e tests (no SSH needed for the script itself).
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { getJson, isProcess, pollUntil, run, runOk, stopProcess } from "./procs";
import { shellQuote } from "../components/onhost";

export const LAB_SOURCE_DIR = __dirname;
export const UPGRADE_SCRIPT = resolve(__dirname, "..", "components", "scripts", "fleet-upgrade.sh");
export const DOCKER_STANDIN = resolve(__dirname, "bin", "docker-standin.mjs");
export const SIM_RUNTIME = resolve(__dirname, "runtime", "sim-runtime.mjs");

/** Release tags of the lab origin; v1.2.6 is the broken release. */
export const OPENCLAW_RELEASES = ["v1.1.5", "v1.2.0", "v1.2.1", "v1.2.3", "v1.2.5", "v1.2.6", "v1.3.0"] as const;
export const BROKEN_RELEASES: readonly string[] = ["v1.2.6"];
export const RUNTIME_SERVICE_RELEASES = ["v0.5.0", "v0.5.2"] as const;
export const INITIAL_OPENCLAW = "v1.2.3";
export const INITIAL_RUNTIME_SERVICE = "v0.5.0";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "fleet-lab",
  GIT_AUTHOR_EMAIL: "fleet-lab@localhost",
  GIT_COMMITTER_NAME: "fleet-lab",
  GIT_COMMITTER_EMAIL: "fleet-lab@localhost",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
};

const git = (args: string[], cwd?: string) => runOk("git", args, { cwd, env: GIT_ENV });

/** Everything hosts share: where the origin, the registry and the docker stand-in are. */
export interface Kit {
  dir: string;
  node: string;
  originPath: string;
  originUrl: string;
  registryFile: string;
  docker: string;
}

export interface OriginOptions {
  /** Releases marked as migrating: `.fleet/migrating` in their tree, and they rewrite the state on start. */
  migratingReleases?: readonly string[];
}

/** A bare git origin for OpenClaw with one commit+annotated tag per release. */
export async function createOrigin(dir: string, options: OriginOptions = {}): Promise<{ path: string; url: string; tags: string[] }> {
  const path = join(dir, "origin", "openclaw.git");
  const work = join(dir, "origin", "work");
  rmSync(join(dir, "origin"), { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await git(["init", "--quiet", "--bare", "--initial-branch=main", path]);
  await git(["init", "--quiet", "--initial-branch=main", work]);
  const compose = [
    "# Placeholder compose project of the lab: the docker stand-in implements it.",
    "services:",
    "  runtime:",
    "    image: runtime-service:${RUNTIME_SERVICE_TAG}",
    "",
  ].join("\n");
  writeFileSync(join(work, "docker-compose.yml"), compose);
  for (const tag of OPENCLAW_RELEASES) {
    const migrates = options.migratingReleases?.includes(tag) ?? false;
    const release = { version: tag, healthy: !BROKEN_RELEASES.includes(tag), ...(migrates ? { migratesState: true } : {}) };
    writeFileSync(join(work, "RELEASE.json"), `${JSON.stringify(release)}\n`);
    rmSync(join(work, ".fleet"), { recursive: true, force: true });
    if (migrates) {
      mkdirSync(join(work, ".fleet"), { recursive: true });
      writeFileSync(join(work, ".fleet", "migrating"), `${tag} rewrites the state: going back needs the snapshot from before it\n`);
    }
    await git(["add", "-A"], work);
    await git(["commit", "--quiet", "-m", `OpenClaw ${tag}`], work);
    await git(["tag", "-a", "-m", `OpenClaw ${tag}`, tag], work);
  }
  await git(["push", "--quiet", path, "main", "--tags"], work);
  rmSync(work, { recursive: true, force: true });
  return { path, url: pathToFileURL(path).href, tags: [...OPENCLAW_RELEASES] };
}

/** The runtime service "registry": a file listing the image tags that exist. */
export function createRegistry(dir: string, tags: readonly string[] = RUNTIME_SERVICE_RELEASES): string {
  mkdirSync(join(dir, "registry"), { recursive: true });
  const file = join(dir, "registry", "runtime-service.txt");
  writeFileSync(file, `${tags.join("\n")}\n`);
  return file;
}

/** LAB/bin/docker: execs the stand-in with this Node binary (absolute path baked in). */
export function writeDockerWrapper(dir: string, node = process.execPath): string {
  mkdirSync(join(dir, "bin"), { recursive: true });
  const file = join(dir, "bin", "docker");
  writeFileSync(file, `#!/bin/sh\n# fleet-lab docker stand-in\nexec ${shellQuote(node)} ${shellQuote(DOCKER_STANDIN)} "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

/** Checks the Node binary is new enough to run the simulated runtimes (Node 24 from npm). */
export async function checkNode(node = process.execPath): Promise<void> {
  const version = (await runOk(node, ["--version"])).trim();
  const major = Number(/^v(\d+)/.exec(version)?.[1] ?? 0);
  if (major < 22) throw new Error(`the lab needs Node >= 22 to run its runtimes; ${node} is ${version} (run it via npx / npm scripts)`);
}

export async function createKit(dir: string, node = process.execPath, options: OriginOptions = {}): Promise<Kit> {
  await checkNode(node);
  mkdirSync(dir, { recursive: true });
  const origin = await createOrigin(dir, options);
  return {
    dir,
    node,
    originPath: origin.path,
    originUrl: origin.url,
    registryFile: createRegistry(dir),
    docker: writeDockerWrapper(dir, node),
  };
}

export interface HostSpec {
  /** Runtime (account) id, e.g. lab-01. */
  runtime: string;
  root: string;
  address: string;
  healthPort: number;
  openclaw?: string;
  runtimeService?: string;
  /** FLEET_HEALTH_TIMEOUT of the host (seconds). */
  healthTimeoutSeconds?: number;
  /** FLEET_LOCK_TIMEOUT of the host (seconds). */
  lockTimeoutSeconds?: number;
  /** FLEET_SNAPSHOT_KEEP / FLEET_SNAPSHOT_BUDGET_BYTES of the host. */
  snapshotKeep?: number;
  snapshotBudgetBytes?: number;
  /** The socket of the runtime pool serving this runtime (several runtimes per lab host); none: its own process. */
  pool?: string;
}

/** The customer's state the lab's runtimes keep (relative to ROOT), as OpenClaw's docs name it. */
export const LAB_STATE_PATHS = ["data/openclaw.json", "data/credentials", "data/workspace"] as const;

/** sha256 of every file of a host's state (LAB_STATE_PATHS), by path relative to ROOT. */
export function stateChecksums(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const abs = join(root, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) for (const name of readdirSync(abs)) walk(join(rel, name));
    else out[rel] = createHash("sha256").update(readFileSync(abs)).digest("hex");
  };
  for (const p of LAB_STATE_PATHS) walk(p);
  return out;
}

/** A first state: configuration (its own updater off), a credential, a workspace file. */
export function writeInitialState(root: string, runtime: string): void {
  const data = join(root, "data");
  mkdirSync(join(data, "credentials"), { recursive: true });
  mkdirSync(join(data, "workspace"), { recursive: true });
  writeFileSync(join(data, "openclaw.json"), `${JSON.stringify({ agent: runtime, stateSchema: 1, update: { auto: false } }, null, 2)}\n`);
  writeFileSync(join(data, "credentials", "token.json"), JSON.stringify({ account: runtime, token: "lab-token" }));
  writeFileSync(join(data, "workspace", "MEMORY.md"), `# ${runtime}\n- likes short answers\n`);
}

export interface LabHost {
  runtime: string;
  root: string;
  address: string;
  healthPort: number;
  /** ROOT/bin/fleet-upgrade */
  script: string;
  docker: string;
  ssh?: SshdInfo;
}

export interface SshdInfo {
  port: number;
  config: string;
  log: string;
  pidFile: string;
  hostKeyFile: string;
  /** "ssh-ed25519 AAAA..." (no comment): what Pulumi's `hostKey` expects. */
  hostPublicKey: string;
}

export function labStateDir(root: string): string {
  return join(root, "state", "lab");
}

/** Creates a host ROOT: checkout at the initial release, script, fleet.env, state. Not started. */
export async function createHost(kit: Kit, spec: HostSpec): Promise<LabHost> {
  const { root } = spec;
  const openclaw = spec.openclaw ?? INITIAL_OPENCLAW;
  const runtimeService = spec.runtimeService ?? INITIAL_RUNTIME_SERVICE;
  rmSync(root, { recursive: true, force: true });
  for (const d of ["bin", "etc", "state/lab"]) mkdirSync(join(root, d), { recursive: true });
  const checkout = join(root, "openclaw");
  await git(["clone", "--quiet", "--no-checkout", kit.originPath, checkout]);
  await git(["-C", checkout, "checkout", "--quiet", "--force", `refs/tags/${openclaw}`]);
  writeFileSync(join(checkout, ".env"), `COMPOSE_PROJECT_NAME=openclaw\nRUNTIME_SERVICE_TAG=${runtimeService}\n`);
  writeInitialState(root, spec.runtime);

  const script = join(root, "bin", "fleet-upgrade");
  copyFileSync(UPGRADE_SCRIPT, script); // a copy, like an install: the script finds ROOT from its own path
  chmodSync(script, 0o755);

  writeFileSync(
    join(root, "etc", "fleet.env"),
    [
      "# fleet-lab host settings (parsed by fleet-upgrade, never sourced)",
      `FLEET_HEALTH_URL=http://${spec.address}:${spec.healthPort}`,
      `FLEET_DOCKER=${kit.docker}`,
      `FLEET_HEALTH_TIMEOUT=${spec.healthTimeoutSeconds ?? 15}`,
      "FLEET_HEALTH_INTERVAL=0.2",
      `FLEET_LOCK_TIMEOUT=${spec.lockTimeoutSeconds ?? 120}`,
      `FLEET_HOST_NAME=${spec.runtime}`,
      `FLEET_STATE_PATHS="${LAB_STATE_PATHS.join(" ")}"`,
      `FLEET_SNAPSHOT_KEEP=${spec.snapshotKeep ?? 3}`,
      `FLEET_SNAPSHOT_BUDGET_BYTES=${spec.snapshotBudgetBytes ?? 16 * 1024 * 1024}`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(labStateDir(root), "host.json"),
    JSON.stringify({ runtime: spec.runtime, address: spec.address, port: spec.healthPort, registry: kit.registryFile, ...(spec.pool ? { pool: spec.pool } : {}) }, null, 2),
  );
  writeFileSync(join(labStateDir(root), "restarts"), "0");
  writeFileSync(join(root, "state", "current.json"), JSON.stringify({ openclaw, runtimeService, updatedAt: new Date().toISOString() }));
  return { runtime: spec.runtime, root, address: spec.address, healthPort: spec.healthPort, script, docker: kit.docker };
}

/** Runs the docker stand-in for a host, as the script would (cwd = the checkout). */
export function compose(host: LabHost, args: string[]) {
  return run(host.docker, ["compose", ...args], {
    cwd: join(host.root, "openclaw"),
    env: { ...process.env, FLEET_ROOT: host.root },
    timeoutMs: 60_000,
  });
}

const runtimeMarks = (host: LabHost) => ["sim-runtime.mjs", host.root];

/** Pid of the host's simulated runtime if it is running. */
export function runtimePid(host: LabHost): number | null {
  try {
    const pid = Number.parseInt(readFileSync(join(labStateDir(host.root), "runtime.pid"), "utf8"), 10);
    return isProcess(pid, runtimeMarks(host)) ? pid : null;
  } catch {
    return null;
  }
}

/** The pool socket serving a host's runtime, when it has one (host.json `pool`). */
export function runtimePool(host: LabHost): string | undefined {
  try {
    const pool = (JSON.parse(readFileSync(join(labStateDir(host.root), "host.json"), "utf8")) as { pool?: unknown }).pool;
    return typeof pool === "string" ? pool : undefined;
  } catch {
    return undefined;
  }
}

/** One request to a runtime pool (lab/runtime/sim-runtime.mjs --pool): up, down, crash or status of a root. */
export function poolRequest(socket: string, op: "up" | "down" | "crash" | "status", root: string): Promise<{ ok: boolean; running: boolean; error?: string }> {
  return new Promise((resolvePromise, reject) => {
    const conn = connect(socket);
    let text = "";
    conn.setEncoding("utf8");
    conn.on("data", (chunk: string) => (text += chunk));
    conn.on("end", () => {
      try {
        resolvePromise(JSON.parse(text) as { ok: boolean; running: boolean; error?: string });
      } catch {
        reject(new Error(`runtime pool ${socket} answered ${JSON.stringify(text)}`));
      }
    });
    conn.on("error", (err) => reject(new Error(`runtime pool ${socket}: ${err.message}`)));
    conn.end(`${JSON.stringify({ op, root })}\n`);
  });
}

/** Whether a host's runtime is running: its process, or its slot in its pool. */
export async function runtimeRunning(host: LabHost): Promise<boolean> {
  const pool = runtimePool(host);
  if (!pool) return runtimePid(host) !== null;
  return (await poolRequest(pool, "status", host.root).catch(() => ({ running: false }))).running;
}

const poolMarks = (socket: string) => ["sim-runtime.mjs", "--pool", socket];

/** Pid of the pool process serving `socket`, if it is running. */
export function poolPid(socket: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(`${socket}.pid`, "utf8"), 10);
    return isProcess(pid, poolMarks(socket)) ? pid : null;
  } catch {
    return null;
  }
}

/** Starts a runtime pool (detached, like an sshd) and waits until it answers on its socket. */
export async function startRuntimePool(node: string, socket: string, timeoutMs = 15_000): Promise<number> {
  const running = poolPid(socket);
  if (running !== null) return running;
  const out = openSync(`${socket}.log`, "a");
  const child = spawn(node, [SIM_RUNTIME, "--pool", socket], { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start the runtime pool ${socket}`);
  child.unref();
  writeFileSync(`${socket}.pid`, String(child.pid));
  const pid = child.pid;
  await pollUntil(`runtime pool ${socket}`, async () => {
    if (!isProcess(pid, poolMarks(socket))) throw new Error(`the runtime pool exited; see ${socket}.log`);
    return (await poolRequest(socket, "status", "/").catch(() => undefined))?.ok === true;
  }, { timeoutMs });
  return pid;
}

export async function stopRuntimePool(socket: string): Promise<void> {
  const pid = poolPid(socket);
  if (pid !== null) await stopProcess(pid, poolMarks(socket));
}

/** `compose up -d` then wait (polling) until /health answers 200. */
export async function startRuntime(host: LabHost, timeoutMs = 15_000): Promise<void> {
  const result = await compose(host, ["up", "-d"]);
  if (result.code !== 0) throw new Error(`${host.runtime}: compose up -d failed: ${result.stderr.trim()}`);
  await waitHealthy(host, timeoutMs);
}

export async function waitHealthy(host: LabHost, timeoutMs = 15_000): Promise<void> {
  await pollUntil(`${host.runtime} /health = 200`, async () => (await getJson(host.address, host.healthPort, "/health"))?.status === 200, {
    timeoutMs,
  });
}

/** Stops the runtime (and waits until the process is gone, or its pool has let it go). */
export async function stopRuntime(host: LabHost): Promise<void> {
  const pool = runtimePool(host);
  if (pool) {
    await poolRequest(pool, "down", host.root).catch(() => undefined); // a stopped pool runs nothing
    return;
  }
  const pid = runtimePid(host);
  if (pid !== null) await stopProcess(pid, runtimeMarks(host));
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The JSON line on stdout (null if there was not exactly one parsable line). */
  json: Record<string, unknown> | null;
}

/** Runs ROOT/bin/fleet-upgrade directly (no SSH). */
export async function runUpgradeScript(host: LabHost, args: string[], input?: string, timeoutMs = 120_000): Promise<ScriptResult> {
  const result = await run(host.script, args, { input, timeoutMs });
  const lines = result.stdout.split("\n").filter((l) => l.trim() !== "");
  let json: Record<string, unknown> | null = null;
  if (lines.length === 1) {
    try {
      json = JSON.parse(lines[0] as string) as Record<string, unknown>;
    } catch {
      json = null;
    }
  }
  return { ...result, json };
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------
export const FAULT_KINDS = ["fail-upgrade", "unhealthy", "degrade:SECONDS", "unreachable", "slow:SECONDS", "crash", "readonly-state", "migrate-state", "disk-full", "drop-ssh", "slow-start:SECONDS", "degrade-now", "regress:errors=+PCT%", "regress:latency=+MSms", "noisy", "clear"] as const;

export type Fault =
  | { kind: "fail-upgrade" }
  | { kind: "unhealthy" }
  | { kind: "degrade"; seconds: number }
  | { kind: "unreachable" }
  | { kind: "slow"; seconds: number }
  | { kind: "crash" }
  | { kind: "readonly-state" }
  | { kind: "migrate-state" }
  | { kind: "disk-full" }
  /** Versions not run yet serve more errors (rate, 0.03 = +3 points) or slower replies; /health stays 200. */
  | { kind: "regress-errors"; rate: number }
  | { kind: "regress-latency"; ms: number }
  | { kind: "noisy" }
  | { kind: "drop-ssh" }
  | { kind: "degrade-now" }
  | { kind: "slow-start"; seconds: number }
  | { kind: "clear" };

type SimpleFault = Exclude<(typeof FAULT_KINDS)[number], `${string}:${string}`> & Fault["kind"];

/** Parses "fail-upgrade", "degrade:30", ...; throws a message listing the kinds. */
export function parseFault(text: string): Fault {
  // The kinds without a parameter are the ones FAULT_KINDS lists without ":".
  const simple = FAULT_KINDS.filter((k): k is SimpleFault => !k.includes(":"));
  if ((simple as readonly string[]).includes(text)) return { kind: text as SimpleFault };
  const m = /^(degrade|slow|slow-start):(\d{1,5}(?:\.\d{1,3})?)$/.exec(text);
  if (m && Number(m[2]) >= 0) return { kind: m[1] as "degrade" | "slow" | "slow-start", seconds: Number(m[2]) };
  const errors = /^regress:errors=\+(\d{1,2}(?:\.\d{1,3})?)%$/.exec(text);
  if (errors && Number(errors[1]) <= 100) return { kind: "regress-errors", rate: Number(errors[1]) / 100 };
  const latency = /^regress:latency=\+(\d{1,5})ms$/.exec(text);
  if (latency) return { kind: "regress-latency", ms: Number(latency[1]) };
  throw new Error(`unknown fault ${JSON.stringify(text)} (expected one of: ${FAULT_KINDS.join(", ")})`);
}

export interface FaultState {
  failUpgrade?: true;
  unhealthy?: { healthyVersions: string[] };
  degrade?: { seconds: number; healthyVersions: string[] };
  unreachable?: true;
  slow?: number;
  crash?: true;
  readonlyState?: true;
  /** Versions not run yet rewrite the state on start (the old ones then refuse it). */
  migrateState?: { healthyVersions: string[] };
  diskFull?: true;
  /** The workload model's shifts (lab/runtime/workload.mjs shiftFor): versions run before are spared. */
  regressErrors?: { rate: number; healthyVersions: string[] };
  regressLatency?: { ms: number; healthyVersions: string[] };
  noisy?: true;
  /** The next upgrade's SSH connection is cut from the host's side during its pull (once). */
  dropSsh?: true;
  /** Versions not run yet take this long to start listening (slower than a health deadline). */
  slowStart?: { seconds: number; healthyVersions: string[] };
}

const faultsFile = (host: LabHost) => join(labStateDir(host.root), "faults.json");

export function readFaults(host: LabHost): FaultState {
  try {
    return JSON.parse(readFileSync(faultsFile(host), "utf8")) as FaultState;
  } catch {
    return {};
  }
}

function writeFaults(host: LabHost, faults: FaultState): void {
  const tmp = `${faultsFile(host)}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(faults));
  // rename: readers (stand-in, runtime) never see half a file
  renameSync(tmp, faultsFile(host));
}

/** The host's state directory read-only for everyone (faults.json lives in state/lab/, still writable). */
async function setImmutable(dir: string, on: boolean): Promise<void> {
  try {
    await runOk("chattr", [on ? "+i" : "-i", dir]);
  } catch (err) {
    throw new Error(`readonly-state: chattr ${on ? "+i" : "-i"} ${dir} failed (needs root on a filesystem with file attributes): ${(err as Error).message}`);
  }
}

/**
 * A full disk where snapshots go: a small tmpfs mounted over state/snapshots and filled to the
 * last byte, so the script sees (and would hit) a real ENOSPC. Needs root, like readonly-state.
 */
async function setDiskFull(root: string, on: boolean): Promise<void> {
  const dir = join(root, "state", "snapshots");
  try {
    if (on) {
      mkdirSync(dir, { recursive: true });
      await runOk("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "fleet-lab-disk-full", dir]);
      await run("dd", ["if=/dev/zero", `of=${join(dir, ".fill")}`, "bs=4k", "count=64"]); // ends with ENOSPC: full
    } else {
      await runOk("umount", [dir]);
    }
  } catch (err) {
    throw new Error(`disk-full: ${on ? "mount" : "umount"} of a tmpfs on ${dir} failed (needs root): ${(err as Error).message}`);
  }
}

/** Version pairs ("v1.2.3+v0.5.0") this host has run so far. */
export function versionsRun(host: LabHost): string[] {
  try {
    return JSON.parse(readFileSync(join(labStateDir(host.root), "versions-run.json"), "utf8")) as string[];
  } catch {
    return [];
  }
}

/** The version pair ("v1.2.3+v0.5.0") the host's state/current.json says it runs. */
function readRunning(host: LabHost): string | null {
  try {
    const c = JSON.parse(readFileSync(join(host.root, "state", "current.json"), "utf8")) as { openclaw?: string; runtimeService?: string };
    return `${c.openclaw}+${c.runtimeService}`;
  } catch {
    return null;
  }
}

/** Hooks for the SSH part of faults; the lab passes its sshd start/stop, the bare kit has none. */
export interface SshControl {
  stop(host: LabHost): Promise<void>;
  start(host: LabHost): Promise<void>;
  running(host: LabHost): boolean;
}

/** Applies a fault to a host. Faults accumulate until `clear`. */
export async function setFault(host: LabHost, fault: Fault | string, ssh?: SshControl): Promise<FaultState> {
  const f = typeof fault === "string" ? parseFault(fault) : fault;
  const faults = readFaults(host);
  switch (f.kind) {
    case "fail-upgrade":
      faults.failUpgrade = true;
      break;
    case "unhealthy":
      faults.unhealthy = { healthyVersions: versionsRun(host) };
      break;
    case "degrade":
      faults.degrade = { seconds: f.seconds, healthyVersions: versionsRun(host) };
      break;
    case "slow":
      faults.slow = f.seconds;
      break;
    case "slow-start":
      faults.slowStart = { seconds: f.seconds, healthyVersions: versionsRun(host) };
      break;
    case "drop-ssh":
      faults.dropSsh = true;
      break;
    case "degrade-now": {
      // What the host runs now turns unhealthy (later than any check of its batch); what it ran before stays good.
      const running = readRunning(host);
      faults.unhealthy = { healthyVersions: versionsRun(host).filter((v) => v !== running) };
      break;
    }
    case "unreachable":
      if (!ssh || !host.ssh) throw new Error(`${host.runtime}: unreachable needs the host's sshd (a lab host)`);
      faults.unreachable = true;
      writeFaults(host, faults);
      await ssh.stop(host);
      return faults;
    case "crash": {
      faults.crash = true;
      writeFaults(host, faults);
      const pool = runtimePool(host);
      if (pool) {
        await poolRequest(pool, "crash", host.root);
        return faults;
      }
      const pid = runtimePid(host);
      if (pid !== null) await stopProcess(pid, runtimeMarks(host), 0); // abrupt: SIGTERM, no grace
      return faults;
    }
    case "readonly-state":
      // Immutable, not chmod: the lab runs as root, and root writes through permission bits.
      await setImmutable(join(host.root, "state"), true);
      faults.readonlyState = true;
      break;
    case "migrate-state":
      faults.migrateState = { healthyVersions: versionsRun(host) };
      break;
    case "disk-full":
      if (!faults.diskFull) await setDiskFull(host.root, true);
      faults.diskFull = true;
      break;
    case "regress-errors":
      faults.regressErrors = { rate: f.rate, healthyVersions: versionsRun(host) };
      break;
    case "regress-latency":
      faults.regressLatency = { ms: f.ms, healthyVersions: versionsRun(host) };
      break;
    case "noisy":
      faults.noisy = true;
      break;
    case "clear": {
      const wasCrashed = faults.crash === true;
      if (faults.readonlyState) await setImmutable(join(host.root, "state"), false);
      if (faults.diskFull) await setDiskFull(host.root, false);
      writeFaults(host, {});
      if (ssh && host.ssh && !ssh.running(host)) await ssh.start(host);
      if (wasCrashed || !(await runtimeRunning(host))) await startRuntime(host);
      return {};
    }
  }
  writeFaults(host, faults);
  return faults;
}

// ---------------------------------------------------------------------------------------------
// Observed status of one host
// ---------------------------------------------------------------------------------------------
export interface HostStatus {
  runtime: string;
  address: string;
  openclaw: string | null;
  runtimeService: string | null;
  healthy: boolean;
  upgrades: number;
  restarts: number;
}

/** Lines of state/upgrade.log that record an upgrade (noop runs are never logged; restarts are). */
export function countUpgrades(root: string): number {
  const file = join(root, "state", "upgrade.log");
  if (!existsSync(file)) return 0;
  let n = 0;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      const entry = JSON.parse(line) as { status?: string; action?: string };
      if (entry.status !== "noop" && (entry.action ?? "upgrade") === "upgrade") n++;
    } catch {
      // a torn line is not an upgrade
    }
  }
  return n;
}

export function readUpgradeLog(root: string): Record<string, unknown>[] {
  const file = join(root, "state", "upgrade.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function countRestarts(root: string): number {
  try {
    return Number.parseInt(readFileSync(join(labStateDir(root), "restarts"), "utf8"), 10) || 0;
  } catch {
    return 0;
  }
}

/** What the host serves over HTTP right now, plus its upgrade and restart counters. */
export async function hostStatus(host: LabHost): Promise<HostStatus> {
  const [version, health] = await Promise.all([
    getJson(host.address, host.healthPort, "/version"),
    getJson(host.address, host.healthPort, "/health"),
  ]);
  const v = version?.status === 200 && typeof version.body === "object" && version.body !== null ? (version.body as Record<string, unknown>) : {};
  const str = (x: unknown) => (typeof x === "string" ? x : null);
  return {
    runtime: host.runtime,
    address: host.address,
    openclaw: str(v.openclaw),
    runtimeService: str(v.runtimeService),
    healthy: health?.status === 200,
    upgrades: countUpgrades(host.root),
    restarts: countRestarts(host.root),
  };
}

/** Sets the simulated number of active conversations (state/lab/activity). */
export function setActivity(host: LabHost, conversations: number): void {
  writeFileSync(join(labStateDir(host.root), "activity"), String(Math.max(0, Math.floor(conversations))));
}
