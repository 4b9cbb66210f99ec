// The lab's `docker` stand-in. Implements only what the on-host script uses:
//   docker compose pull | down | up -d | logs --tail N | ps | images --format json
// for ONE lab host, found from $FLEET_ROOT (set by fleet-upgrade) or the parent of the cwd
// (compose runs in ROOT/openclaw). The lab generates LAB/bin/docker, a shell wrapper that execs
// this file with the lab's Node 24 binary (its absolute path baked in), which also runs the
// simulated runtime (lab/runtime/sim-runtime.mjs).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const simRuntime = resolve(here, "..", "runtime", "sim-runtime.mjs");

const root = resolve(process.env.FLEET_ROOT || dirname(process.cwd()));
const labState = join(root, "state", "lab");
const pidFile = join(labState, "runtime.pid");

function fail(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function readJson(path, fallback) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return fallback;
  }
}

const host = readJson(join(labState, "host.json"), null);
if (!host) fail(`docker-standin: ${root} is not a lab host (no state/lab/host.json)`);

function faults() {
  return readJson(join(labState, "faults.json"), {});
}

function serviceTag() {
  try {
    const env = readFileSync(join(root, "openclaw", ".env"), "utf8");
    const line = env.split("\n").reverse().find((l) => l.startsWith("RUNTIME_SERVICE_TAG="));
    return line ? line.slice("RUNTIME_SERVICE_TAG=".length).trim() : "";
  } catch {
    return "";
  }
}

// Registry lines are "TAG" or "TAG sha256:DIGEST": a tag without a digest has a stable made-up one;
// a line with a digest models a tag moved to another image.
function registryDigest(tag) {
  let lines = [];
  try {
    lines = readFileSync(host.registry, "utf8").split("\n").map((l) => l.trim().split(/\s+/));
  } catch {
    return null;
  }
  const line = lines.find((l) => l[0] === tag);
  if (!line) return null;
  return line[1] ?? `sha256:${createHash("sha256").update(`runtime-service:${tag}`).digest("hex")}`;
}

function registryHas(tag) {
  return registryDigest(tag) !== null;
}

// The host's local images: what `pull` fetched, per tag (like docker's image store).
const imagesFile = join(labState, "images.json");
const runningImageFile = join(labState, "running-image.json");

/** A pid is our runtime only if it is alive, not a zombie, and runs sim-runtime for this root. */
function isOurRuntime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.some((a) => a.endsWith("sim-runtime.mjs")) && argv.includes(root);
  } catch {
    return false;
  }
}

function runningPid() {
  const pid = Number.parseInt(existsSync(pidFile) ? readFileSync(pidFile, "utf8") : "", 10);
  return Number.isInteger(pid) && pid > 0 && isOurRuntime(pid) ? pid : null;
}

/** A host of a pool (`--runtimes-per-host`): its runtime lives in the pool process on host.pool. */
function poolRequest(op) {
  return new Promise((resolve, reject) => {
    const socket = connect(host.pool);
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => (text += chunk));
    socket.on("end", () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error(`docker-standin: the runtime pool at ${host.pool} answered ${JSON.stringify(text)}`));
      }
    });
    socket.on("error", (err) => reject(new Error(`docker-standin: the runtime pool at ${host.pool} is not running (${err.message})`)));
    socket.end(`${JSON.stringify({ op, root })}\n`);
  });
}

/** Whether this host's runtime is running (its own process, or its slot in the pool). */
async function isRunning() {
  if (host.pool) return (await poolRequest("status")).running === true;
  return runningPid() !== null;
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/**
 * Fault drop-ssh: cuts the SSH connection this upgrade runs in, from the host's side (SIGKILL to
 * the per-connection sshd processes above us; the listener, started with its config, stays).
 */
function dropSshSession() {
  // The caller's end is gone from now on: writes to it fail, and must not end this process.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);
  const killed = [];
  for (let pid = process.ppid; pid > 1; ) {
    let stat, argv;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      break;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (comm === "sshd" && !argv.includes("sshd_config")) killed.push(pid);
    pid = ppid;
  }
  for (const pid of killed) signal(pid, "SIGKILL");
  return killed.length;
}

async function pull() {
  const f = faults();
  if (f.dropSsh) {
    delete f.dropSsh; // once: the next run (a retry, a rollback) gets through
    writeFileSync(join(labState, "faults.json"), JSON.stringify(f));
    appendFileSync(join(labState, "runtime.log"), `${new Date().toISOString()} docker-standin: drop-ssh cut ${dropSshSession()} sshd session process(es)\n`);
  }
  if (typeof f.slow === "number" && f.slow > 0) await delay(f.slow * 1000);
  const tag = serviceTag();
  if (f.failUpgrade) fail(`Error response from daemon: pull access denied for runtime-service:${tag} (lab fault fail-upgrade)`);
  if (!registryHas(tag)) fail(`Error response from daemon: manifest for runtime-service:${tag} not found: manifest unknown`);
  writeFileSync(imagesFile, JSON.stringify({ ...readJson(imagesFile, {}), [tag]: registryDigest(tag) }));
  process.stderr.write(`runtime-service:${tag}: Pulled\n`);
}

async function down() {
  if (host.pool) {
    await poolRequest("down");
    process.stderr.write("Container openclaw-runtime  Removed\n");
    return;
  }
  const pid = runningPid();
  if (pid !== null) {
    signal(pid, "SIGTERM");
    const deadline = Date.now() + 10_000;
    let killed = false;
    while (isOurRuntime(pid)) {
      if (!killed && Date.now() > deadline) {
        signal(pid, "SIGKILL");
        killed = true;
      }
      await delay(25);
    }
  }
  rmSync(pidFile, { force: true });
  process.stderr.write("Container openclaw-runtime  Removed\n");
}

async function up(args) {
  if (!args.includes("-d")) fail("docker-standin: only `compose up -d` is supported");
  const tag = serviceTag();
  if (!registryHas(tag)) fail(`Error response from daemon: manifest for runtime-service:${tag} not found: manifest unknown`);
  // Like compose: an already running service is left alone.
  if (await isRunning()) return;
  let child;
  if (host.pool) {
    // Like `up -d`, a runtime that refuses to start is found by the health check, not here.
    await poolRequest("up");
  } else {
    const out = openSync(join(labState, "runtime.log"), "a");
    child = spawn(process.execPath, [simRuntime, "--root", root], {
      cwd: join(root, "openclaw"),
      detached: true,
      stdio: ["ignore", out, out],
    });
    closeSync(out);
    writeFileSync(pidFile, String(child.pid));
  }
  // The image the container runs: the local one for the tag, pulled now or earlier.
  const digest = readJson(imagesFile, {})[tag] ?? registryDigest(tag);
  writeFileSync(runningImageFile, JSON.stringify({ repository: "runtime-service", tag, digest }));
  const restartsFile = join(labState, "restarts");
  const restarts = Number.parseInt(existsSync(restartsFile) ? readFileSync(restartsFile, "utf8") : "0", 10) || 0;
  writeFileSync(restartsFile, String(restarts + 1));
  // A crash lasts until the next start.
  const f = faults();
  if (f.crash) {
    delete f.crash;
    writeFileSync(join(labState, "faults.json"), JSON.stringify(f));
  }
  child?.unref();
  process.stderr.write("Container openclaw-runtime  Started\n");
}

function logs(args) {
  const i = args.indexOf("--tail");
  const n = i >= 0 ? Number.parseInt(args[i + 1] ?? "", 10) : 100;
  if (!Number.isInteger(n) || n < 1) fail("docker-standin: --tail needs a positive integer");
  let text = "";
  try {
    text = readFileSync(join(labState, "runtime.log"), "utf8");
  } catch {
    // no log yet
  }
  const lines = text.split("\n").filter((l) => l !== "");
  process.stdout.write(lines.slice(-n).map((l) => `openclaw-runtime  | ${l}\n`).join(""));
}

// Like `docker compose images --format json`: the running service's image, ID being its digest.
async function images(args) {
  if (!(args[0] === "--format" && args[1] === "json")) fail("docker-standin: only `compose images --format json` is supported");
  const image = (await isRunning()) ? readJson(runningImageFile, null) : null;
  const list = image ? [{ ContainerName: "openclaw-runtime", Repository: image.repository, Tag: image.tag, ID: image.digest }] : [];
  process.stdout.write(`${JSON.stringify(list)}\n`);
}

async function ps() {
  const pid = host.pool ? null : runningPid();
  const running = host.pool ? await isRunning() : pid !== null;
  process.stdout.write("NAME               STATUS\n");
  process.stdout.write(`openclaw-runtime   ${running ? `running (${pid === null ? "pool" : `pid ${pid}`})` : "exited"}\n`);
}

const [compose, sub, ...rest] = process.argv.slice(2);
if (compose !== "compose") fail("docker-standin: only `docker compose ...` is supported");
switch (sub) {
  case "pull":
    await pull();
    break;
  case "down":
    await down();
    break;
  case "up":
    await up(rest);
    break;
  case "logs":
    logs(rest);
    break;
  case "ps":
    await ps();
    break;
  case "images":
    await images(rest);
    break;
  default:
    fail(`docker-standin: compose ${sub ?? ""} is not supported`);
}
