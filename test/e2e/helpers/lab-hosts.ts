// Helpers for e2e tests that drive simulated hosts directly (no SSH), away from a running lab:
// addresses 127.0.0.2xx and a free port each.
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findProcesses, stopProcess } from "../../../lab/procs";

/** A port free on `address` right now (the kernel picks it). */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, address, () => {
      const info = server.address();
      const port = typeof info === "object" && info ? info.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The commit the host's checkout is on. */
export function headCommit(root: string): string {
  return execFileSync("git", ["-C", join(root, "openclaw"), "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
}

export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/** Kills every simulated runtime / sshd whose command line mentions `dir` (test cleanup). */
export async function killProcessesUnder(dir: string): Promise<number> {
  const pids = [...findProcesses(["sim-runtime.mjs", dir]), ...findProcesses(["sshd", dir])];
  await Promise.all(pids.map((pid) => stopProcess(pid, [], 2_000)));
  return pids.length;
}
