// The local store under kill -9 and under two concurrent writer processes: real child processes
// (tsx) write in a loop and report each acknowledged write; after the kill the file must pass
// SQLite's integrity check and hold every acknowledged write.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalFleetStore } from "../../store/local";

const ROOT = resolve(__dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "fleet-crash-"));
const writers: ChildProcess[] = [];
afterAll(() => {
  for (const w of writers) if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const WRITER = `
import { LocalFleetStore } from ${JSON.stringify(join(ROOT, "store/local.ts"))};
const [path, prefix, countArg] = process.argv.slice(2);
const count = Number(countArg);
const store = new LocalFleetStore({ path });
(async () => {
  for (let i = 0; count === 0 || i < count; i++) {
    const accountId = prefix + "-" + (i % 50);
    // One transaction with several rows: the runtime batch...
    await store.upsertRuntimes(Array.from({ length: 20 }, (_, k) => ({
      stack: "prod", accountId: prefix + "-" + ((i + k) % 50), openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0",
      status: "online", healthScore: (i + k) % 100, metrics: { errorRate: i % 7 }, lastHealthCheck: Date.now(),
    })));
    // ...and an upgrade result that also rewrites the runtime (insert + update in one transaction).
    const r = await store.recordUpgrade({ eventId: prefix + "-" + i, stack: "prod", accountId, fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.3",
      fromRuntimeService: "v0.5.0", toRuntimeService: "v0.5.0", status: "noop", startedAt: i, initiatedBy: "crash-test", executor: "agent" });
    if (!r.recorded) throw new Error("not recorded: " + i);
    process.stdout.write("ack " + prefix + "-" + i + "\\n");
  }
  await store.close();
  process.stdout.write("done\\n");
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\\n"); process.exit(3); });
`;
const writerPath = join(dir, "writer.ts");
writeFileSync(writerPath, WRITER);

function startWriter(db: string, prefix: string, count: number) {
  // Node itself with tsx's loader, not the tsx CLI: the CLI runs the script in a child process, so a
  // SIGKILL to it would leave the writer running (and holding the write lock) behind it.
  const child = spawn(process.execPath, ["--import", "tsx", writerPath, db, prefix, String(count)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  writers.push(child);
  const acked: string[] = [];
  let buf = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith("ack ")) acked.push(line.slice(4));
    }
  });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on("exit", (code, signal) => res({ code, signal })));
  return { child, acked, exited, stderr: () => stderr };
}

async function waitFor(cond: () => boolean, ms: number) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function checkStore(db: string, expected: string[]) {
  // Every writer has exited by now, so nothing may hold the write lock: a short wait, not the default 10 s.
  const store = new LocalFleetStore({ path: db, busyTimeoutMs: 1_000 });
  try {
    expect(store.integrityCheck()).toBe("ok");
    const ids = new Set<string>();
    let cursor: string | null = null;
    for (;;) {
      const page = await store.listUpgrades({ limit: 500, cursor });
      for (const e of page.items) ids.add(e.eventId);
      if (page.isDone) break;
      cursor = page.cursor;
    }
    const missing = expected.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
    // Every runtime row is whole (parsable, complete) after the crash.
    for (const r of await store.listRuntimes({ stack: "prod" })) expect(r).toMatchObject({ openclawVersion: "v1.2.3", status: expect.any(String) });
    return ids;
  } finally {
    await store.close();
  }
}

describe("local store durability", () => {
  it("survives kill -9 mid-write, three times over, with every acknowledged write present", async () => {
    const db = join(dir, "crash.db");
    const allAcked: string[] = [];
    for (let round = 0; round < 3; round++) {
      const w = startWriter(db, `k${round}`, 0);
      await waitFor(() => w.acked.length >= 80 + round * 20, 120_000).catch(() => {
        throw new Error(`writer did not get going: ${w.stderr()}`);
      });
      (w.child as ChildProcess).kill("SIGKILL");
      const exit = await w.exited;
      expect(exit.signal).toBe("SIGKILL");
      allAcked.push(...w.acked);
      await checkStore(db, allAcked);
    }
    expect(allAcked.length).toBeGreaterThanOrEqual(300);
  }, 420_000);

  it("two processes writing at once both succeed, and nothing is lost", async () => {
    const db = join(dir, "concurrent.db");
    const a = startWriter(db, "a", 300);
    const b = startWriter(db, "b", 300);
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect({ code: ea.code, err: a.stderr() }).toEqual({ code: 0, err: "" });
    expect({ code: eb.code, err: b.stderr() }).toEqual({ code: 0, err: "" });
    const ids = await checkStore(db, [...a.acked, ...b.acked]);
    expect(ids.size).toBe(600);
  }, 180_000);
});
