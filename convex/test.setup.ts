/// <reference types="vite/client" />
// One setup for every convex-test suite (co-located tests and the store contract suite).
// convex-test runs in vitest's edge-runtime environment: files using it start with
// `// @vitest-environment edge-runtime`.
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import schema from "./schema";
import type { ConvexTransport } from "../store/convex";

export const modules = import.meta.glob(["./**/*.ts", "./**/*.js", "!./**/*.test.ts", "!./**/*.d.ts", "!./test.setup.ts"]);

export const SUPER_ADMIN = "https://auth.fleet.test|super-admin";
export const HMAC_SECRET = "test-hmac-secret-0123456789";

/** A fresh in-memory backend with Convex's transaction limits enforced (unless turned off). */
export function initConvexTest(opts: { transactionLimits?: boolean } = {}) {
  process.env.FLEET_SUPER_ADMINS = `${SUPER_ADMIN},https://auth.fleet.test|second-admin`;
  process.env.FLEET_HMAC_SECRET = HMAC_SECRET;
  return convexTest({ schema, modules, transactionLimits: opts.transactionLimits ?? true });
}

export function asSuperAdmin(t: ReturnType<typeof initConvexTest>) {
  return t.withIdentity({ tokenIdentifier: SUPER_ADMIN, subject: "super-admin", issuer: "https://auth.fleet.test" });
}

/** The Convex adapter's transport over convex-test: writes through the signed HTTP endpoint (t.fetch), reads as a super admin. */
export function convexTestTransport(t: ReturnType<typeof initConvexTest>): ConvexTransport {
  const admin = asSuperAdmin(t);
  return {
    async post(path, body, headers) {
      const res = await t.fetch(path, { method: "POST", body, headers });
      return { status: res.status, body: await res.text() };
    },
    async query(name, args) {
      return await admin.query(makeFunctionReference<"query">(name), args);
    },
    async mutation(name, args) {
      return await admin.mutation(makeFunctionReference<"mutation">(name), args);
    },
  };
}
