// @vitest-environment edge-runtime
// (Lives in convex/ because it needs import.meta.glob, which the root tsconfig (commonjs) does not allow.)
// The same contract, against the real Convex functions through convex-test: writes go through
// the signed HTTP endpoint (t.fetch), reads through super-admin queries.
import { expect, test } from "vitest";
import { storeContract } from "../store/contract";
import { ConvexFleetStore } from "../store/convex";
import { HMAC_SECRET, convexTestTransport, initConvexTest } from "./test.setup";


storeContract("convex (convex-test, HTTP endpoint + queries)", async () => {
  const t = initConvexTest();
  const store = new ConvexFleetStore({ transport: convexTestTransport(t), hmacSecret: HMAC_SECRET, retries: 0 });
  return { store, cleanup: async () => {} };
});


test("a 10,000-runtime rollout is recorded inside the transaction limits, and a repeated create reads it back", { timeout: 60_000 }, async () => {
  const t = initConvexTest({ transactionLimits: true });
  const store = new ConvexFleetStore({ transport: convexTestTransport(t), hmacSecret: HMAC_SECRET, retries: 0 });
  const ids = Array.from({ length: 10_000 }, (_, i) => `acct-${i}`);
  const batches = [ids.slice(0, 1), ...Array.from({ length: 10 }, (_, b) => ids.slice(1 + b * 1000, 1 + (b + 1) * 1000)), ids.slice(10_001)].filter((b) => b.length > 0);
  const input = { rolloutId: "ro_big00001", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "canary" as const, options: {}, initiatedBy: "ci", batches };
  const created = await store.createRollout(input);
  expect(created.counts).toMatchObject({ total: 10_000, pending: 10_000 });
  const again = await store.createRollout(input);
  expect(again).toMatchObject({ rolloutId: "ro_big00001", counts: { total: 10_000 } });
  const updated = await store.updateRollout("ro_big00001", { status: "running", runtimeStates: [{ accountId: "acct-0", state: "succeeded" }] });
  expect(updated.counts).toMatchObject({ pending: 9_999, succeeded: 1 });
});
