// What a lab stack's file backend holds: the checkpoint (as stored and as JSON) and the copies
// its history and backups keep. Read by bench:scale and bench:rollout.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { zstdDecompressSync } from "node:zlib";
import { PROJECT_NAME } from "../control/engine";
import type { LabProject } from "../test/e2e/helpers/labProject";

/** A stack's checkpoint as stored (zstd when the engine writes it) and as JSON. */
export function stateSize(p: LabProject, stack: string): { bytes: number; raw: number } {
  const dir = path.join(p.lab.backendUrl.replace(/^file:\/\//, ""), ".pulumi", "stacks", PROJECT_NAME);
  for (const [file, decode] of [
    [`${stack}.json.zst`, (b: Buffer) => zstdDecompressSync(b)],
    [`${stack}.json`, (b: Buffer) => b],
  ] as const) {
    const full = path.join(dir, file);
    if (existsSync(full)) {
      const bytes = readFileSync(full);
      return { bytes: bytes.length, raw: decode(bytes).length };
    }
  }
  throw new Error(`no checkpoint in ${dir}`);
}

/** What the file backend keeps besides the checkpoint: its history and backups. */
export function keptSize(p: LabProject): { bytes: number; files: number } {
  const root = path.join(p.lab.backendUrl.replace(/^file:\/\//, ""), ".pulumi");
  let bytes = 0;
  let files = 0;
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else {
        bytes += statSync(full).size;
        files++;
      }
    }
  };
  walk(path.join(root, "history"));
  walk(path.join(root, "backups"));
  return { bytes, files };
}
