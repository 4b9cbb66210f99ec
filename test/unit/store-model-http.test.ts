// The model-based test of the FleetStore (test/support/storeModel.ts) on the production path:
// ConvexFleetStore over its HTTP transport (store/convex.ts `httpTransport`: ConvexHttpClient for
// queries and mutations, signed fetch for /fleet/events) against the local Convex stand-in, which
// runs the project's own convex/ functions. One stand-in for the file, reset before each sequence.
import { afterAll, beforeAll } from "vitest";
import { ConvexFleetStore, httpTransport } from "../../store/convex";
import { startConvexStandin, type ConvexStandin } from "../../lab/convex/standin";
import { runStoreModel } from "../support/storeModel";

const HMAC = "model-hmac-secret-0123456789abcdef";
/** Fewer than in-process (every read is a round trip); FLEET_MODEL_HTTP_RUNS=200 for a longer search. */
const RUNS = Number(process.env.FLEET_MODEL_HTTP_RUNS ?? 40);
const ADMIN = "model-admin";

let d: ConvexStandin;
beforeAll(async () => {
  d = await startConvexStandin({ host: "127.0.0.1", env: { FLEET_HMAC_SECRET: HMAC }, superAdmins: [ADMIN] });
});
afterAll(async () => {
  await d?.close();
});

runStoreModel(
  [
    {
      name: "convex over HTTP (ConvexHttpClient + signed fetch, against the stand-in)",
      async make() {
        await d.reset();
        // Issued under the test's clock (Date is faked), so the token is valid at every step's time.
        const transport = await httpTransport({ url: d.url, siteUrl: d.siteUrl, authToken: await d.issuer.token(ADMIN) });
        const store = new ConvexFleetStore({ transport, hmacSecret: HMAC, retries: 0, now: () => Date.now() });
        return { store, superAdmin: `${d.issuer.url}|${ADMIN}`, alertIds: new Map(), cleanup: async () => {} };
      },
    },
  ],
  RUNS,
  { timeout: 120_000 },
);
