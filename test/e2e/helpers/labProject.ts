// A lab fleet with its own Pulumi project directory (the repo's program, a temp stack config,
// a temp file backend and store), so e2e tests never touch the repo's own Pulumi.lab.yaml.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { findPulumiDir, labDown, labPulumiEnv, labStatus, labUp, type LabRecord } from "../../../lab/lab";
import { describeToolchain } from "../../../lab/doctor";
import { AutomationEngine } from "../../../control/engine";
import { writeRuntimeVersions } from "../../../control/stackConfig";
import { killProcessesUnder } from "./lab-hosts";
import { run, type RunResult } from "../../../lab/procs";

export const REPO = path.resolve(__dirname, "..", "..", "..");

export interface LabProject {
  dir: string;
  labDir: string;
  projectDir: string;
  configFile: string;
  storePath: string;
  lab: LabRecord;
  /** Environment for the engine, the CLI and the hooks. */
  env: Record<string, string>;
  engine(): AutomationEngine;
  setVersions(accountId: string, openclaw: string, runtimeService?: string): void;
  stackConfig(): Record<string, unknown>;
  status(): Promise<Array<{ runtime: string; openclaw: string | null; runtimeService: string | null; healthy: boolean; upgrades: number; restarts: number }>>;
  down(): Promise<void>;
}

let announced: string | null = null;

/** Puts the Pulumi toolchain and the project's Node first on PATH for this process and its children. */
export async function ensureToolchain(): Promise<string> {
  const dir = await findPulumiDir();
  if (!dir) throw new Error("no Pulumi CLI: run `npm run setup:pulumi` (the e2e suite needs the real engine)");
  const nodeBin = path.join(REPO, "node_modules", ".bin");
  process.env.PATH = [dir, nodeBin, process.env.PATH ?? ""].join(path.delimiter);
  if (announced !== dir) {
    announced = dir;
    process.stderr.write(`${describeToolchain(dir)}\n`); // one line per suite: which engine it ran on
  }
  return dir;
}

export async function labProject(hosts: number, options: { migratingReleases?: readonly string[]; runtimesPerHost?: number } = {}): Promise<LabProject> {
  await ensureToolchain();
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-e2e-"));
  const projectDir = path.join(dir, "project");
  mkdirSync(projectDir);
  // The repo's program, run from this directory: `main` points back at the repo.
  const pulumiYaml = readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8");
  writeFileSync(path.join(projectDir, "Pulumi.yaml"), `${pulumiYaml.trimEnd()}\nmain: ${REPO}\n`);
  const labDir = path.join(dir, "lab");
  const { lab, stack } = await labUp({ hosts, dir: labDir, projectDir, ...options });
  if (!stack.configured) throw new Error(`lab stack not configured: ${stack.message}`);
  const configFile = path.join(projectDir, "Pulumi.lab.yaml");
  const storePath = path.join(dir, "store", "store.db");
  const env = { ...labPulumiEnv(lab), FLEET_STORE_PATH: storePath, FLEET_ACTOR: "e2e@test" };
  Object.assign(process.env, env);
  const stackConfig = () => (parse(readFileSync(configFile, "utf8")) as { config: Record<string, unknown> }).config;
  return {
    dir,
    labDir,
    projectDir,
    configFile,
    storePath,
    lab,
    env,
    engine: () => new AutomationEngine({ projectDir, stack: "lab", env }),
    setVersions(accountId, openclaw, runtimeService) {
      const runtimes = (stackConfig()["fleet:runtimes"] as Array<Record<string, unknown>>) ?? [];
      const index = runtimes.findIndex((r) => r.accountId === accountId);
      const current = runtimes[index]!;
      writeRuntimeVersions(configFile, [
        { index, accountId, openclaw, runtimeService: runtimeService ?? String(current.runtimeService) },
      ]);
    },
    stackConfig,
    status: async () => (await labStatus(labDir)).hosts as never,
    async down() {
      await labDown(labDir).catch(() => undefined);
      await killProcessesUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A copy of the stack config, to restore between tests. */
export function snapshot(file: string): () => void {
  const copy = `${file}.snapshot`;
  copyFileSync(file, copy);
  return () => copyFileSync(copy, file);
}

/**
 * Pulumi plugins orphaned by a killed `pulumi` (they watch the engine and stop within seconds):
 * waits for those started since `sinceMs` to go, and ends any that outstay the wait.
 */
export async function reapOrphanedPlugins(sinceMs: number, waitMs = 30_000): Promise<number> {
  const orphans = () => {
    const bootMs = Date.now() - Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
    const ticks = 100; // USER_HZ on Linux
    const found: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
        if (!/pulumi-(language|resource|analyzer)-/.test(cmd)) continue;
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const ppid = Number(fields[1]);
        const startedMs = bootMs + (Number(fields[19]) / ticks) * 1000;
        if (ppid === 1 && startedMs >= sinceMs - 1000) found.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  };
  const deadline = Date.now() + waitMs;
  while (orphans().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  const left = orphans();
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return left.length;
}

/** `fleet ARGS` as a user runs it against the lab project (its stack "lab", its environment). */
export function fleetRunner(p: () => LabProject, timeoutMs = 8 * 60_000): (...args: string[]) => Promise<RunResult> {
  return (...args) =>
    run(process.execPath, [path.join(REPO, "bin", "fleet.cjs"), "--project", p().projectDir, "--stack", "lab", ...args], {
      cwd: REPO,
      env: { ...process.env, ...p().env },
      timeoutMs,
    });
}
