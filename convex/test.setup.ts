/// <reference types="vite/client" />
// One setup for every convex-test suite (co-located tests and the store contract suite).
// convex-test runs in vitest's edge-runtime environment: files using it start with
// `// @vitest-environment edge-runtime`.
import { convexTest } from "convex-test";
import schema from "./schema";

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
