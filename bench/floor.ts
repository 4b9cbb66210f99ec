// The floor of `npm run bench:rollout`: bench/floor.sh (plain parallel `ssh` of the on-host
// script, one batch at a time) over a lab, with each host's result line read back.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { LabRecord } from "../lab/lab";
import { parseUpgradeResult, targetsStdin, type TargetVersions, type UpgradeResult } from "../protocol/onhost";

export const FLOOR_SCRIPT = path.join(__dirname, "floor.sh");

export interface FloorHost {
  name: string;
  ok: boolean;
  /** ssh started to ssh ended: connect, session and the script. */
  wallMs: number;
  /** The script's own duration (its result line). */
  scriptMs: number;
  result?: UpgradeResult;
}

export interface FloorRun {
  ok: boolean;
  wallMs: number;
  batches: Array<{ startMs: number; endMs: number; hosts: FloorHost[] }>;
  stderr: string;
}

/** The script's lines, parsed: "batch I START END" and "host NAME EXIT START END". */
export function parseFloorOutput(stdout: string): { batches: Array<{ index: number; startMs: number; endMs: number }>; hosts: Map<string, { code: number; startMs: number; endMs: number }> } {
  const batches: Array<{ index: number; startMs: number; endMs: number }> = [];
  const hosts = new Map<string, { code: number; startMs: number; endMs: number }>();
  for (const line of stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "batch" && f.length === 4) batches.push({ index: Number(f[1]), startMs: Number(f[2]), endMs: Number(f[3]) });
    else if (f[0] === "host" && f.length === 5) hosts.set(f[1]!, { code: Number(f[2]), startMs: Number(f[3]), endMs: Number(f[4]) });
  }
  return { batches, hosts };
}

/** Upgrades every lab host to `target`, `batchSize` at a time, in the lab's order. */
export async function runFloor(lab: LabRecord, target: TargetVersions, batchSize: number, dir: string): Promise<FloorRun> {
  const hostsFile = path.join(dir, "hosts.txt");
  const stdinFile = path.join(dir, "stdin.json");
  const out = path.join(dir, "out");
  writeFileSync(hostsFile, `${lab.hosts.map((h) => `${h.runtime} ${h.address} ${h.ssh.port} ${h.root}`).join("\n")}\n`);
  writeFileSync(stdinFile, `${targetsStdin(target)}\n`);
  const started = Date.now();
  const child = spawn("bash", [FLOOR_SCRIPT, hostsFile, String(batchSize), stdinFile, out], {
    env: { ...process.env, FLOOR_USER: lab.user, FLOOR_KEY: lab.keys.privateKey, FLOOR_KNOWN_HOSTS: lab.keys.knownHosts },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c) => resolve(c ?? 1));
  });
  const wallMs = Date.now() - started;
  const parsed = parseFloorOutput(stdout);
  const names = lab.hosts.map((h) => h.runtime);
  const batches = parsed.batches.map((b) => ({
    startMs: b.startMs,
    endMs: b.endMs,
    hosts: names.slice(b.index * batchSize, (b.index + 1) * batchSize).map((name): FloorHost => {
      const t = parsed.hosts.get(name);
      let text = "";
      try {
        text = readFileSync(path.join(out, `${name}.out`), "utf8");
      } catch {
        // no output: the host line says why (its exit code)
      }
      const result = parseUpgradeResult(text);
      const ok = t !== undefined && t.code === 0 && (result?.status === "success" || result?.status === "noop");
      return { name, ok, wallMs: t ? t.endMs - t.startMs : 0, scriptMs: result?.durationMs ?? 0, ...(result ? { result } : {}) };
    }),
  }));
  const all = batches.flatMap((b) => b.hosts);
  return { ok: code === 0 && all.length === names.length && all.every((h) => h.ok), wallMs, batches, stderr: stderr.trim() };
}
