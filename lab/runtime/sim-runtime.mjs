// The simulated runtime of one lab host: what `docker compose up -d` starts on a real host.
// Plain JS (no build step), started by the docker stand-in with the lab's Node 24 binary:
//   node sim-runtime.mjs --root HOST_ROOT     one runtime, one process (a lab of one runtime per host)
//   node sim-runtime.mjs --pool SOCKET        many runtimes in one process (`fleet-lab up
//                                             --runtimes-per-host K`): the stand-in starts and stops
//                                             each over SOCKET (one JSON line: {op, root})
// A Node process is ~45 MB, so 1,000 runtimes as processes would not fit a small machine; a pool
// serves each of its runtimes exactly as its own process would.
// Serves GET /version, GET /health and GET /metrics (workload.mjs) on the host's address and health port (state/lab/host.json).
// Versions are fixed at start: openclaw from the checkout's RELEASE.json, the runtime service
// from RUNTIME_SERVICE_TAG in openclaw/.env. Faults (state/lab/faults.json) are re-read per request.
// The customer's state lives in ROOT/data (openclaw.json, credentials/, workspace/): a release that
// migrates it (RELEASE.json migratesState, or the migrate-state fault) rewrites it on start, and a
// version that did not migrate it refuses to start on migrated state (as a real schema change does).
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createControlServer } from "node:net";
import { join } from "node:path";
import { createCounters, hostProfile, metricsText, shiftFor } from "./workload.mjs";

function readJson(path, fallback) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return fallback;
  }
}

function readServiceTag(root) {
  try {
    const env = readFileSync(join(root, "openclaw", ".env"), "utf8");
    const line = env.split("\n").reverse().find((l) => l.startsWith("RUNTIME_SERVICE_TAG="));
    return line ? line.slice("RUNTIME_SERVICE_TAG=".length).trim() : null;
  } catch {
    return null;
  }
}

/**
 * One runtime of ROOT, as started now: its versions are read once, its state migrated (or it
 * refuses to start). Resolves with { close(), address, port } once it listens; rejects with the
 * reason it cannot start.
 */
export function startSimRuntime(root) {
  const labState = join(root, "state", "lab");
  const logFile = join(labState, "runtime.log");
  const pid = process.pid;

  function log(message) {
    try {
      appendFileSync(logFile, `${new Date().toISOString()} runtime[${pid}] ${message}\n`);
    } catch {
      // logging never takes the runtime down
    }
  }

  const host = readJson(join(labState, "host.json"), null);
  if (!host) {
    log("no state/lab/host.json: cannot start");
    return Promise.reject(new Error("no state/lab/host.json"));
  }
  const release = readJson(join(root, "openclaw", "RELEASE.json"), { version: null, healthy: false });
  const openclaw = release.version ?? null;
  const runtimeService = readServiceTag(root);
  const versionKey = `${openclaw}+${runtimeService}`;
  const startedAt = Date.now();
  const metrics = { requests: 0, errors: 0 };
  const traffic = createCounters(hostProfile(host.runtime ?? root), Math.floor(startedAt / 1000));

  // The state: migrate it, or refuse to start on a state another version migrated.
  {
    const data = join(root, "data");
    const statePath = join(data, "openclaw.json");
    const state = readJson(statePath, null);
    const faults = readJson(join(labState, "faults.json"), {});
    const migrates = release.migratesState === true || (faults.migrateState && !(faults.migrateState.healthyVersions ?? []).includes(versionKey));
    if (state && (state.stateSchema ?? 1) > 1 && state.migratedBy !== versionKey && !migrates) {
      log(`refusing to start: state schema ${state.stateSchema} (migrated by ${state.migratedBy}) is newer than ${versionKey} reads`);
      return Promise.reject(new Error("state schema is newer"));
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
    if (path === "/metrics") {
      // Simulated customer traffic since start (workload.mjs), shifted by the regress/noisy faults.
      const text = metricsText(traffic.advance(Math.floor(Date.now() / 1000), shiftFor(readJson(join(labState, "faults.json"), {}), versionKey)), {
        restarts: Math.max(0, Number(readJson(join(labState, "restarts"), 1)) - 1 || 0), // the stand-in counts starts
        healthy: unhealthyReason() === null,
        startSeconds: Math.floor(startedAt / 1000),
      });
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": Buffer.byteLength(text) });
      return res.end(text);
    }
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

  return new Promise((resolve, reject) => {
    server.once("error", (err) => {
      log(`listen failed on ${host.address}:${host.port}: ${err.message}`);
      reject(err);
    });
    // Fault slow-start: a version not run before this fault takes this long to start serving.
    const slow = readJson(join(labState, "faults.json"), {}).slowStart;
    const slowStart = slow && !(slow.healthyVersions ?? []).includes(versionKey) ? slow.seconds : 0;
    if (slowStart > 0) log(`fault slow-start: listening in ${slowStart}s`);
    setTimeout(() => server.listen(host.port, host.address, () => {
      log(`openclaw ${openclaw} runtime service ${runtimeService} listening on ${host.address}:${host.port}`);
      resolve({
        address: host.address,
        port: host.port,
        /** Graceful: close() waits for open sockets, never past a second. */
        close(reason) {
          log(`${reason}: shutting down`);
          return new Promise((done) => {
            const timer = setTimeout(done, 1000);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeAllConnections();
          });
        },
      });
    }), slowStart * 1000);
  });
}

/** Many runtimes in one process, started and stopped over a Unix socket (one JSON line per request). */
function servePool(socket) {
  const running = new Map();
  // Half-open: a client writes its request and ends its side at once; the reply comes after the
  // runtime has started, so this side must stay open until it is written.
  const control = createControlServer({ allowHalfOpen: true }, (conn) => {
    let text = "";
    conn.setEncoding("utf8");
    conn.on("data", async (chunk) => {
      text += chunk;
      if (!text.includes("\n")) return;
      let reply;
      try {
        const { op, root } = JSON.parse(text.slice(0, text.indexOf("\n")));
        if (typeof root !== "string" || root === "") throw new Error("root: missing");
        if (op === "up") {
          if (!running.has(root)) running.set(root, await startSimRuntime(root));
          reply = { ok: true, running: true };
        } else if (op === "down" || op === "crash") {
          const runtime = running.get(root);
          running.delete(root);
          if (runtime) await runtime.close(op === "crash" ? "crash" : "SIGTERM");
          reply = { ok: true, running: false };
        } else if (op === "status") {
          reply = { ok: true, running: running.has(root) };
        } else {
          throw new Error(`op: ${JSON.stringify(op)} is not up, down, crash or status`);
        }
      } catch (err) {
        reply = { ok: false, running: false, error: err instanceof Error ? err.message : String(err) };
      }
      conn.end(`${JSON.stringify(reply)}\n`);
    });
    conn.on("error", () => undefined);
  });
  rmSync(socket, { force: true });
  control.listen(socket);
  const stop = async () => {
    control.close();
    await Promise.all([...running.values()].map((r) => r.close("SIGTERM")));
    rmSync(socket, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

const poolIndex = process.argv.indexOf("--pool");
const rootIndex = process.argv.indexOf("--root");
if (poolIndex >= 0 && process.argv[poolIndex + 1]) {
  servePool(process.argv[poolIndex + 1]);
} else if (rootIndex >= 0 && process.argv[rootIndex + 1]) {
  startSimRuntime(process.argv[rootIndex + 1]).then(
    (runtime) => {
      const stop = (signal) => runtime.close(signal).then(() => process.exit(0));
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    },
    () => process.exit(1),
  );
} else {
  process.stderr.write("usage: sim-runtime.mjs --root HOST_ROOT | --pool SOCKET\n");
  process.exit(2);
}
