// A durable outbox for upgrade records: when the store cannot be reached, a record is appended
// (and fsynced) to a local file and delivered on a later run. Delivery is idempotent (records
// carry their event id), so a record delivered twice is still recorded once.
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import path from "node:path";
import type { FleetStore, UpgradeEvent } from "./types";

export const OUTBOX_FILE = "outbox.jsonl";

export function appendToOutbox(dir: string, event: UpgradeEvent): void {
  mkdirSync(dir, { recursive: true });
  const fd = openSync(path.join(dir, OUTBOX_FILE), "a", 0o600);
  try {
    appendFileSync(fd, `${JSON.stringify(event)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Records not yet delivered (in the outbox or in a batch a crashed flush left behind). */
export function pendingInOutbox(dir: string): UpgradeEvent[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f === OUTBOX_FILE || f.endsWith(".flushing"))
    .flatMap((f) => parseLines(readFileSync(path.join(dir, f), "utf8")));
}

function parseLines(text: string): UpgradeEvent[] {
  const out: UpgradeEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as UpgradeEvent);
    } catch {
      // a torn last line from a crash mid-append: nothing acknowledged it, skip it
    }
  }
  return out;
}

/**
 * Delivers what the outbox holds. The file is first renamed aside, so records appended meanwhile
 * go to a fresh outbox and are never lost by the flush. Returns how many were delivered; what
 * could not be delivered stays for the next flush.
 */
export async function flushOutbox(dir: string, store: FleetStore): Promise<number> {
  if (!existsSync(dir)) return 0;
  const live = path.join(dir, OUTBOX_FILE);
  if (existsSync(live)) renameSync(live, path.join(dir, `outbox.${process.pid}.${Date.now()}.flushing`));
  let delivered = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".flushing")).sort()) {
    const file = path.join(dir, f);
    const events = parseLines(readFileSync(file, "utf8"));
    const failed: UpgradeEvent[] = [];
    for (const e of events) {
      try {
        await store.recordUpgrade(e);
        delivered++;
      } catch {
        failed.push(e);
      }
    }
    for (const e of failed) appendToOutbox(dir, e);
    unlinkSync(file);
  }
  return delivered;
}
