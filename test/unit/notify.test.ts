import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { Notifier, noticeId, redactUrl, webhookSink, type AlertNotice, type Sink } from "../../monitor/notify";

const notice = (key: string, alertId: string, transition: AlertNotice["transition"]): AlertNotice => ({ key, alertId, transition, severity: "critical", rule: "runtime_offline", message: `${key} down`, stack: "prod", at: 1 });
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), "notify-unit-"));
  dirs.push(d);
  return path.join(d, "ledger.json");
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function recorder(failFirst = 0): Sink & { got: string[]; calls: number } {
  const s = {
    name: "rec",
    got: [] as string[],
    calls: 0,
    async send(n: AlertNotice) {
      s.calls++;
      if (s.calls <= failFirst) throw new Error("down");
      s.got.push(noticeId(n));
    },
  };
  return s;
}

describe("Notifier", () => {
  it("delivers each transition once, across repeats and restarts (the ledger is persisted)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.constantFrom("1", "2"), fc.constantFrom("opened" as const, "closed" as const)), { maxLength: 30 }), async (events) => {
        const file = tmp();
        const sink = recorder();
        await (async () => {
          let n = new Notifier(file, [sink]);
          for (const [i, [k, id, t]] of events.entries()) {
            n.add([notice(k, id, t)]);
            await n.deliver();
            if (i % 7 === 3) n = new Notifier(file, [sink]); // a restart
          }
          const distinct = new Set(events.map(([k, id, t]) => noticeId(notice(k, id, t))));
          expect(sink.got.sort()).toEqual([...distinct].sort());
        })();
      }),
      { numRuns: 50 },
    );
  });

  it("keeps an undelivered notice and retries it next round without duplicating it", async () => {
    const file = tmp();
    const sink = recorder(1);
    const n = new Notifier(file, [sink]);
    n.add([notice("k", "1", "opened")]);
    const first = await n.deliver();
    expect(first.failed).toHaveLength(1);
    expect(first.pending).toBe(1);
    n.add([notice("k", "1", "opened")]); // re-queued by the next cycle: ignored, it is pending
    const again = new Notifier(file, [sink]); // survives a restart too
    expect((await again.deliver()).delivered).toHaveLength(1);
    expect(sink.got).toEqual(["k#1:opened"]);
    expect(JSON.parse(readFileSync(file, "utf8")).pending).toEqual([]);
  });

  it("a re-opened alert (new episode) is notified again", async () => {
    const sink = recorder();
    const n = new Notifier(null, [sink]);
    n.add([notice("k", "1", "opened"), notice("k", "1", "closed"), notice("k", "2", "opened")]);
    await n.deliver();
    expect(sink.got).toEqual(["k#1:opened", "k#1:closed", "k#2:opened"]);
  });
});

describe("webhookSink", () => {
  const fakeFetch = (statuses: (number | "error")[]) => {
    const calls: { url: string; body: string }[] = [];
    const f = (async (url: string, init: RequestInit) => {
      calls.push({ url, body: String(init.body) });
      const s = statuses[Math.min(calls.length - 1, statuses.length - 1)]!;
      if (s === "error") throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
      return new Response("x", { status: s });
    }) as unknown as typeof fetch;
    return { f, calls };
  };
  const URL_ = "https://hooks.example.com/services/T0/B0/SECRETTOKEN";

  it("posts Slack-compatible JSON and retries 5xx and network errors with growing backoff", async () => {
    const { f, calls } = fakeFetch([500, "error", 200]);
    const waits: number[] = [];
    await webhookSink(URL_, { fetch: f, backoffMs: 100, sleep: async (ms) => void waits.push(ms) }).send(notice("k", "1", "opened"));
    expect(calls).toHaveLength(3);
    expect(JSON.parse(calls[0]!.body)).toEqual({ text: expect.stringContaining("CRITICAL alert opened: runtime_offline - k down (k)") });
    expect(waits).toEqual([100, 200]);
  });

  it("gives up after its retries, and on a 4xx at once; errors never show the secret path", async () => {
    const bad = fakeFetch([503]);
    await expect(webhookSink(URL_, { fetch: bad.f, retries: 2, sleep: async () => undefined }).send(notice("k", "1", "opened"))).rejects.toThrow(/HTTP 503 after 3 attempts/);
    expect(bad.calls).toHaveLength(3);
    const gone = fakeFetch([404]);
    const err = await webhookSink(URL_, { fetch: gone.f, sleep: async () => undefined }).send(notice("k", "1", "opened")).catch((e: Error) => e);
    expect(gone.calls).toHaveLength(1);
    expect(String(err)).not.toContain("SECRETTOKEN");
    expect(redactUrl(URL_)).toBe("https://hooks.example.com/***");
  });
});
