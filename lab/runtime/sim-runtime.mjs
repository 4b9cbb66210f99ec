// The simulated runtime of one lab host: what `docker compose up -d` starts on a real host.
// Plain JS (no build step), started by the docker stand-in with the lab's Node 24 binary:
//   node sim-runtime.mjs --root HOST_ROOT
// Serves GET /version and GET /health on the host's address and health port (state/lab/host.json).
// Versions are fixed at start: openclaw from the checkout's RELEASE.json, the runtime service
// from RUNTIME_SERVICE_TAG in openclaw/.env. Faults (state/lab/faults.json) are re-read per request.
// The customer's state lives in ROOT/data (openclaw.json, credentials/, workspace/): a release that
// migrates it (RELEASE.json migratesState, or the migrate-state fault) rewrites it on start, and a
// version that did not migrate it refuses to start on migrated state (as a real schema change does).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const rootIndex = process.argv.indexOf("--root");
if (rootIndex < 0 || !process.argv[rootIndex + 1]) {
  process.stderr.write("usage: sim-runtime.mjs --root HOST_ROOT\n");
  process.exit(2);
}
const root = process.argv[rootIndex + 1];
const labState = join(root, "state", "lab");
const logFile = join(labState, "runtime.log");

function log(message) {
  try {
    appendFileSync(logFile, `${new Date().toISOString()} runtime[${process.pid}] ${message}\n`);
  } catch {
    // logging never takes the runtime down
  }
}

function readJson(path, fallback) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return fallback;
  }
}

function readServiceTag() {
  try {
    const env = readFileSync(join(root, "openclaw", ".env"), "utf8");
    const line = env.split("\n").reverse().find((l) => l.startsWith("RUNTIME_SERVICE_TAG="));
    return line ? line.slice("RUNTIME_SERVICE_TAG=".length).trim() : null;
  } catch {
    return null;
  }
}

const host = readJson(join(labState, "host.json"), null);
if (!host) {
  log("no state/lab/host.json: cannot start");
  process.exit(1);
}
const release = readJson(join(root, "openclaw", "RELEASE.json"), { version: null, healthy: false });
const openclaw = release.version ?? null;
const runtimeService = readServiceTag();
const versionKey = `${openclaw}+${runtimeService}`;
const startedAt = Date.now();
const metrics = { requests: 0, errors: 0 };

// The state: migrate it, or refuse to start on a state another version migrated.
{
  const data = join(root, "data");
  const statePath = join(data, "openclaw.json");
  const state = readJson(statePath, null);
  const faults = readJson(join(labState, "faults.json"), {});
  const migrates = release.migratesState === true || (faults.migrateState && !(faults.migrateState.healthyVersions ?? []).includes(versionKey));
  if (state && (state.stateSchema ?? 1) > 1 && state.migratedBy !== versionKey && !migrates) {
    log(`refusing to start: state schema ${state.stateSchema} (migrated by ${state.migratedBy}) is newer than ${versionKey} reads`);
    process.exit(1);
  }
  if (state && migrates && state.migratedBy !== versionKey) {
    writeFileSync(statePath, `${JSON.stringify({ ...state, stateSchema: 2, migratedBy: versionKey }, null, 2)}\n`);
    mkdirSync(join(data, "workspace"), { recursive: true });
    appendFileSync(join(data, "workspace", "MEMORY.md"), `- migrated to schema 2 by ${versionKey}\n`);
    if (existsSync(join(data, "credentials", "token.json"))) {
      const token = readJson(join(data, "credentials", "token.json"), {});
      writeFileSync(join(data, "credentials", "token.json"), JSON.stringify({ v2: token }));
    }
    log(`migrated the state to schema 2 (${versionKey})`);
  }
}

// Every version pair this host ever ran: faults set later treat these as "known good".
{
  const runPath = join(labState, "versions-run.json");
  const run = readJson(runPath, []);
  if (!run.includes(versionKey)) {
    run.push(versionKey);
    writeFileSync(runPath, JSON.stringify(run));
  }
}

function uptimeSeconds() {
  return (Date.now() - startedAt) / 1000;
}

/** Why this runtime is unhealthy right now, or null. */
function unhealthyReason() {
  if (release.healthy !== true) return `release ${openclaw} is broken (RELEASE.json healthy=false)`;
  const faults = readJson(join(labState, "faults.json"), {});
  if (faults.unhealthy && !(faults.unhealthy.healthyVersions ?? []).includes(versionKey)) {
    return `fault unhealthy: ${versionKey} is unhealthy`;
  }
  if (faults.degrade && !(faults.degrade.healthyVersions ?? []).includes(versionKey)) {
    if (uptimeSeconds() >= faults.degrade.seconds) return `fault degrade: unhealthy since ${faults.degrade.seconds}s after start`;
  }
  return null;
}

function activeConversations() {
  try {
    const n = Number.parseInt(readFileSync(join(labState, "activity"), "utf8").trim(), 10);
    return Number.isFinite(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  metrics.requests += 1;
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET") return send(res, 405, { error: "method not allowed" });
  if (path === "/version") return send(res, 200, { openclaw, runtimeService });
  if (path === "/health") {
    const reason = unhealthyReason();
    if (reason) {
      metrics.errors += 1;
      return send(res, 503, { status: "unhealthy", reason, openclaw, runtimeService });
    }
    const uptime = uptimeSeconds();
    const active = activeConversations();
    // Deterministic, plausible delivery numbers: they grow with uptime and activity.
    const delivered = Math.floor(uptime * (1 + active));
    return send(res, 200, {
      status: "ok",
      openclaw,
      runtimeService,
      uptimeSeconds: Math.floor(uptime),
      // OpenClaw's own updater, as its config says now (a fleet host must keep it off).
      autoUpdate: readJson(join(root, "data", "openclaw.json"), {})?.update?.auto === true,
      activeConversations: active,
      metrics: {
        requests: metrics.requests,
        errors: metrics.errors,
        notificationsDelivered: delivered,
        notificationsFailed: 0,
        avgDeliveryLatencyMs: 40 + (active % 20),
      },
    });
  }
  return send(res, 404, { error: "not found" });
});

server.on("error", (err) => {
  log(`listen failed on ${host.address}:${host.port}: ${err.message}`);
  process.exit(1);
});

// Fault slow-start: a version not run before this fault takes this long to start serving.
const slowStart = (() => {
  const f = readJson(join(labState, "faults.json"), {}).slowStart;
  return f && !(f.healthyVersions ?? []).includes(versionKey) ? f.seconds : 0;
})();
if (slowStart > 0) log(`fault slow-start: listening in ${slowStart}s`);
setTimeout(() => {
  server.listen(host.port, host.address, () => {
    log(`openclaw ${openclaw} runtime service ${runtimeService} listening on ${host.address}:${host.port}`);
  });
}, slowStart * 1000);

function stop(signal) {
  log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // close() waits for open sockets; never linger past a second
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
