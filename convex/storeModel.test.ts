// @vitest-environment edge-runtime
// (Lives in convex/ for convex-test's module glob, as storeContract.test.ts does.)
// The model-based test of the FleetStore (test/support/storeModel.ts) on the local SQLite file and
// on the real Convex functions through convex-test; test/unit/store-model-http.test.ts runs it on
// the Convex adapter over HTTP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { ConvexFleetStore } from "../store/convex";
import { LocalFleetStore } from "../store/local";
import { runStoreModel } from "../test/support/storeModel";
import { HMAC_SECRET, SUPER_ADMIN, convexTestTransport, initConvexTest } from "./test.setup";

/** 200 in `npm test`; FLEET_MODEL_RUNS=2000 for a longer search. */
const RUNS = Number(process.env.FLEET_MODEL_RUNS ?? 200);

const dir = mkdtempSync(join(tmpdir(), "fleet-model-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;

runStoreModel(
  [
    {
      name: "local (node:sqlite)",
      async make() {
        const path = join(dir, `m${n++}.db`);
        const store = new LocalFleetStore({ path, now: () => Date.now() });
        return { store, superAdmin: SUPER_ADMIN, alertIds: new Map(), cleanup: async () => { await store.close(); rmSync(path, { force: true }); rmSync(`${path}-wal`, { force: true }); rmSync(`${path}-shm`, { force: true }); } };
      },
    },
    {
      name: "convex (convex-test, HTTP endpoint + queries)",
      async make() {
        const store = new ConvexFleetStore({ transport: convexTestTransport(initConvexTest({ transactionLimits: false })), hmacSecret: HMAC_SECRET, retries: 0, now: () => Date.now() });
        return { store, superAdmin: SUPER_ADMIN, alertIds: new Map(), cleanup: async () => {} };
      },
    },
  ],
  RUNS,
);
