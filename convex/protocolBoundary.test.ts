// @vitest-environment edge-runtime
// The protocol boundary against the Convex HTTP action (the same cases run against the embedded
// endpoint in test/unit/endpoint-protocol.test.ts).
import { api } from "./_generated/api";
import { protocolBoundary } from "../test/support/boundary";
import { EVENTS_PATH } from "../protocol/signature";
import { HMAC_SECRET, asSuperAdmin, initConvexTest } from "./test.setup";

protocolBoundary("Convex HTTP action (convex-test)", async () => {
  const t = initConvexTest();
  const admin = asSuperAdmin(t);
  return {
    secret: HMAC_SECRET,
    async post(body, headers) {
      const res = await t.fetch(EVENTS_PATH, { method: "POST", body, headers });
      return { status: res.status, json: (await res.json()) as { ok: boolean; error?: string } };
    },
    runtimes: async () => (await admin.query(api.runtimes.list, {})).items.map((r) => `${r.stack}/${r.accountId}`).sort(),
    rolloutIds: async (stack) => (await admin.query(api.rollouts.list, { stack })).map((r) => r.rolloutId),
    cleanup: async () => {},
  };
});
