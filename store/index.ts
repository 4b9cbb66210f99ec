// openStore: Convex when a deployment is configured (FLEET_CONVEX_URL + FLEET_HMAC_SECRET),
// else the embedded local store at the path the caller gives (the CLI: `.fleet/<stack>.db`,
// overridable by FLEET_STORE_PATH).
import { ConvexFleetStore, httpTransport } from "./convex";
import { LocalFleetStore } from "./local";
import type { FleetStore } from "./types";

export * from "./types";
export { ConvexFleetStore, httpTransport, type ConvexTransport } from "./convex";
export { LocalFleetStore, StoreError } from "./local";

export interface OpenStoreOptions {
  /** Local database file when no Convex deployment is configured; FLEET_STORE_PATH wins over it. */
  localPath: string;
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
}

export interface StoreChoice {
  kind: "convex" | "local";
  /** Deployment URL or file path. */
  location: string;
}

/** Which store `openStore` would open, without opening it. */
export function chooseStore(options: OpenStoreOptions): StoreChoice {
  const env = options.env ?? process.env;
  if (env.FLEET_CONVEX_URL) return { kind: "convex", location: env.FLEET_CONVEX_URL };
  return { kind: "local", location: env.FLEET_STORE_PATH || options.localPath };
}

/**
 * Convex env: FLEET_CONVEX_URL (https://<name>.convex.cloud), FLEET_HMAC_SECRET (same value as the
 * deployment's), FLEET_CONVEX_SITE_URL (optional, defaults to the .convex.site twin of the URL),
 * FLEET_CONVEX_AUTH_TOKEN (a super admin's JWT, for reads and admin writes).
 */
export async function openStore(options: OpenStoreOptions): Promise<FleetStore> {
  const env = options.env ?? process.env;
  const choice = chooseStore(options);
  if (choice.kind === "convex") {
    const secret = env.FLEET_HMAC_SECRET;
    if (!secret) throw new Error("FLEET_CONVEX_URL is set but FLEET_HMAC_SECRET is not: machine writes could not be signed");
    const transport = await httpTransport({
      url: choice.location,
      ...(env.FLEET_CONVEX_SITE_URL ? { siteUrl: env.FLEET_CONVEX_SITE_URL } : {}),
      ...(env.FLEET_CONVEX_AUTH_TOKEN ? { authToken: env.FLEET_CONVEX_AUTH_TOKEN } : {}),
    });
    return new ConvexFleetStore({ transport, hmacSecret: secret, ...(env.FLEET_KEY_ID ? { keyId: env.FLEET_KEY_ID } : {}) });
  }
  return new LocalFleetStore({ path: choice.location });
}
