// Who may call what.
// People (dashboard, CLI with an admin token) read and act through queries/mutations that require
// a SUPER ADMIN: an authenticated identity whose `tokenIdentifier` is listed in the Convex env var
// FLEET_SUPER_ADMINS (comma-separated). Set it with
//   npx convex env set FLEET_SUPER_ADMINS "https://issuer.example|user_123,https://issuer.example|user_456"
// The identity itself comes from the deployment's auth provider (convex/auth.config.ts, see
// store/README.md). Machines (hooks, orchestrator, agent, monitor) never hold an identity: they
// post HMAC-signed events to /fleet/events (convex/http.ts).
import { ConvexError } from "convex/values";
import type { Auth } from "convex/server";

export function superAdmins(): Set<string> {
  return new Set(
    (process.env.FLEET_SUPER_ADMINS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );
}

/** Returns the caller's tokenIdentifier, or throws: unauthenticated, or not a super admin. */
export async function requireSuperAdmin(ctx: { auth: Auth }): Promise<string> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) throw new ConvexError({ code: "unauthenticated", message: "sign in as a super admin" });
  if (!superAdmins().has(identity.tokenIdentifier)) {
    throw new ConvexError({ code: "forbidden", message: "super admin only" });
  }
  return identity.tokenIdentifier;
}
