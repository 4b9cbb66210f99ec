// The one ingest sequence (store/domain/events.ts ingestEvent) both endpoints run: over the
// embedded store's own ledger (its tables) and over the bounded memory ledger alike. Convex runs
// it over its tables (convex/ctxStore.ts ctxLedger); convex/http.test.ts covers that one.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FleetEvent } from "../../protocol/events";
import { MAX_STORED_RESULT } from "../../protocol/signature";
import { ingestEvent, type EventLedger } from "../../store/domain/events";
import { memoryLedger } from "../../store/endpoint";
import { LocalFleetStore } from "../../store/local";

const T = 1_760_000_000_000;
const sig = (n: number) => n.toString(16).padStart(64, "0");
const activity = (id: string): FleetEvent => ({ id, type: "activity", activity: { actor: "unit", action: "note", message: id } });

let dir: string;
let store: LocalFleetStore;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-ingest-"));
  store = new LocalFleetStore({ path: path.join(dir, "store.db"), now: () => T });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ledgers: Array<[string, () => EventLedger]> = [
  ["the embedded store's ledger", () => store],
  ["the memory ledger", () => memoryLedger()],
];

for (const [name, ledgerOf] of ledgers) {
  describe(`ingestEvent over ${name}`, () => {
    it("applies a fresh event, refuses its signature again, answers its id again with the first answer", async () => {
      const ledger = ledgerOf();
      const ev: FleetEvent = { id: "ev-1", type: "runtime.upsert", runtimes: [{ stack: "prod", accountId: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online" }] };
      expect(await ingestEvent(ledger, store, ev, null, sig(1), T)).toEqual({ status: "applied", result: '{"count":1}' });
      expect(await ingestEvent(ledger, store, ev, null, sig(1).toUpperCase(), T)).toEqual({ status: "replay" });
      expect(await ingestEvent(ledger, store, ev, null, sig(2), T)).toEqual({ status: "duplicate", result: '{"count":1}' });
      expect(await store.listRuntimes()).toHaveLength(1);
    });

    it("a failed apply is thrown and its id released, so a retry under the same id is applied", async () => {
      const ledger = ledgerOf();
      const pending: FleetEvent = { id: "ev-p", type: "runtime.pending", stack: "prod", accountId: "acme", pending: { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: T, initiatedBy: "alice", strategy: "rolling" } };
      await expect(ingestEvent(ledger, store, pending, null, sig(3), T)).rejects.toMatchObject({ kind: "not_found", message: "no runtime prod/acme" });
      await store.upsertRuntimes([{ stack: "prod", accountId: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }]);
      expect(await ingestEvent(ledger, store, pending, null, sig(4), T)).toEqual({ status: "applied", result: "null" });
      expect(await store.getPendingUpgrade("prod", "acme")).toMatchObject({ targetOpenclawVersion: "v1.2.5" });
    });

    it("keeps an answer over MAX_STORED_RESULT as null (the poster reads the record back)", async () => {
      const ledger = ledgerOf();
      const ids = Array.from({ length: 1500 }, (_, i) => `acct-${i}`);
      const ev: FleetEvent = { id: "ev-big", type: "rollout.created", rollout: { rolloutId: "ro_big000001", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "ci", batches: [ids] } };
      const first = await ingestEvent(ledger, store, ev, null, sig(5), T);
      expect(first.status === "applied" && first.result.length).toBeGreaterThan(MAX_STORED_RESULT);
      expect(await ingestEvent(ledger, store, ev, null, sig(6), T)).toEqual({ status: "duplicate", result: "null" });
    });

    it("a concurrent repeat waits for the first one's answer and is applied once", async () => {
      const ledger = ledgerOf();
      const inflight = new Map<string, Promise<string>>();
      const outs = await Promise.all([ingestEvent(ledger, store, activity("ev-c"), null, sig(7), T, inflight), ingestEvent(ledger, store, activity("ev-c"), null, sig(8), T, inflight)]);
      expect(outs.map((o) => o.status).sort()).toEqual(["applied", "duplicate"]);
      expect((await store.listActivities({})).filter((a) => a.message === "ev-c")).toHaveLength(1);
      expect(inflight.size).toBe(0);
    });
  });
}
