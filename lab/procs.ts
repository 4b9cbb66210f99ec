// Process and polling helpers for the lab: no shell strings, no blind sleeps.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { connect } from "node:net";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/** Runs a program (argv, never a shell line) and resolves with its exit code and output. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        killSignal: "SIGKILL",
        maxBuffer: 16 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (error && typeof (error as NodeJS.ErrnoException).code === "string") {
          reject(new Error(`${file}: ${error.message}`));
          return;
        }
        const code = error ? ((error as { code?: number }).code ?? 1) : 0;
        if (error && (error as { killed?: boolean }).killed) {
          reject(new Error(`${file} ${args.join(" ")}: timed out after ${options.timeoutMs ?? 120_000} ms\n${stderr}`));
          return;
        }
        resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
    child.stdin?.on("error", () => undefined); // the program may exit without reading its input
    child.stdin?.end(options.input ?? "");
  });
}

/** Like run, but throws with the program's stderr unless it exits 0. */
export async function runOk(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}

/** Polls `check` until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** argv of a live (non-zombie) process, or null. */
export function processArgv(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return null;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
  } catch {
    return null;
  }
}

/** True when pid is alive and its command line contains every one of `marks` (guards pid reuse). */
export function isProcess(pid: number | null | undefined, marks: readonly string[]): boolean {
  if (!pid || pid <= 0) return false;
  const argv = processArgv(pid);
  if (argv === null) return false;
  const line = argv.join(" ");
  return marks.every((m) => line.includes(m));
}

/** Every live process whose command line contains all `marks`. */
export function findProcesses(marks: readonly string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (isProcess(pid, marks)) found.push(pid);
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Stops a process (TERM, then KILL after graceMs) and waits until it is really gone. */
export async function stopProcess(pid: number, marks: readonly string[], graceMs = 5_000): Promise<void> {
  if (!isProcess(pid, marks)) return;
  signal(pid, "SIGTERM");
  const killAt = Date.now() + graceMs;
  let killed = false;
  await pollUntil(
    `process ${pid} to exit`,
    () => {
      if (!isProcess(pid, marks)) return true;
      if (!killed && Date.now() >= killAt) {
        signal(pid, "SIGKILL");
        killed = true;
      }
      return false;
    },
    { timeoutMs: graceMs + 10_000, intervalMs: 25 },
  );
}

/** Reads the SSH identification banner ("SSH-2.0-...") from address:port; false when refused. */
export function sshBanner(address: string, port: number, timeoutMs = 2_000): Promise<string | false> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let data = "";
    const done = (value: string | false) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      const line = data.split("\r\n")[0] ?? "";
      if (data.includes("\n")) done(line.startsWith("SSH-") ? line : false);
    });
    socket.on("error", () => done(false));
    socket.on("end", () => done(false));
  });
}

/** GET http://address:port/path (fresh connection, short timeout): status and JSON body, or null. */
export function getJson(
  address: string,
  port: number,
  path: string,
  timeoutMs = 2_000,
): Promise<{ status: number; body: unknown } | null> {
  return new Promise((resolve) => {
    const req = httpGet({ host: address, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on("error", () => resolve(null));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(null));
  });
}

/** Runs `worker` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, worker: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await worker(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
