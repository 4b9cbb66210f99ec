// The protocol boundary against the embedded store's endpoint (the same cases run against the
// Convex HTTP action in convex/protocolBoundary.test.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { protocolBoundary } from "../support/boundary";
import { LocalFleetStore } from "../../store/local";
import { startEndpoint } from "../../store/endpoint";
import { EVENTS_PATH } from "../../protocol/signature";

const SECRET = "endpoint-protocol-secret";

protocolBoundary("embedded endpoint over the local store", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-boundary-"));
  const store = new LocalFleetStore({ path: join(dir, "store.db") });
  const endpoint = await startEndpoint({ store, hmacSecret: SECRET });
  return {
    secret: SECRET,
    async post(body, headers) {
      const res = await fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers });
      return { status: res.status, json: (await res.json()) as { ok: boolean; error?: string } };
    },
    runtimes: async () => (await store.listRuntimes()).map((r) => `${r.stack}/${r.accountId}`),
    rolloutIds: async (stack) => (await store.listRollouts({ stack })).map((r) => r.rolloutId),
    async cleanup() {
      await endpoint.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
