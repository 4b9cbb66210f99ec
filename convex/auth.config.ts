// Who may sign people in: one JWT provider, configured from the deployment's environment, so the
// same code serves every deployment (and the lab's stand-in, lab/convex/).
//   FLEET_AUTH_ISSUER          the `iss` of the tokens, e.g. Clerk's Frontend API URL
//                              (https://<app>.clerk.accounts.dev)
//   FLEET_AUTH_JWKS_URL        where its signing keys are (default: <issuer>/.well-known/jwks.json)
//   FLEET_AUTH_APPLICATION_ID  the `aud` the tokens must carry (default "convex", the name of
//                              Clerk's Convex JWT template)
// Who among the signed-in is a super admin is FLEET_SUPER_ADMINS (convex/auth.ts).
import type { AuthConfig } from "convex/server";

/** A missing setting fails the deploy with its name, not a provider that accepts nobody. */
function setting(name: string, fallback?: string): string {
  const value = process.env[name]?.trim() || fallback;
  if (value === undefined) throw new Error(`${name} is not set: npx convex env set ${name} <value> (see README, "Deploying Convex")`);
  return value;
}

const issuer = setting("FLEET_AUTH_ISSUER").replace(/\/$/, "");

export default {
  providers: [
    {
      type: "customJwt",
      issuer,
      jwks: setting("FLEET_AUTH_JWKS_URL", `${issuer}/.well-known/jwks.json`),
      algorithm: "RS256",
      applicationID: setting("FLEET_AUTH_APPLICATION_ID", "convex"),
    },
  ],
} satisfies AuthConfig;
