// Per-runtime agent credentials: the ONE derivation, shared by the Convex endpoint
// (convex/http.ts signingSecret), the embedded store's endpoint (store/endpoint.ts) and the
// Runtime component that installs the agent (components/agent.ts). An agent signs with key id =
// its account id and secret = HMAC-SHA256(FLEET_HMAC_SECRET, "agent:" + accountId), so a leaked
// host credential speaks for that one runtime only, and nothing per runtime has to be stored.
// Web Crypto only: runs in Convex, Node and edge-runtime alike.
import { isAccountId } from "../fleet/ids";

/** The shared machine key id (orchestrator, hooks, monitor); every other key id is an agent's. */
export const DEFAULT_KEY_ID = "default";

const encoder = new TextEncoder();

/** Hex HMAC-SHA256(fleetSecret, "agent:" + accountId). */
export async function agentSecret(fleetSecret: string, accountId: string): Promise<string> {
  if (!isAccountId(accountId)) throw new Error(`accountId: ${JSON.stringify(accountId)} is not an account id`);
  const key = await crypto.subtle.importKey("raw", encoder.encode(fleetSecret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`agent:${accountId}`));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** An agent's key id is its account id ("default" is the shared key, never an agent). */
export function isAgentKeyId(keyId: string | null): keyId is string {
  return keyId !== null && keyId !== DEFAULT_KEY_ID && isAccountId(keyId);
}

/**
 * The secret a request with this key id is checked against: the shared secret for no key id or
 * "default", the agent's derived secret for an account id, null (refused) for anything else.
 */
export async function secretForKey(fleetSecret: string | undefined | null, keyId: string | null): Promise<string | null> {
  if (!fleetSecret) return null;
  if (keyId === null || keyId === DEFAULT_KEY_ID) return fleetSecret;
  if (!isAgentKeyId(keyId)) return null;
  return await agentSecret(fleetSecret, keyId);
}

/** Event types an agent may post: its heartbeat and its own upgrade's start and result. */
export const AGENT_EVENT_TYPES = ["runtime.upsert", "upgrade.started", "upgrade.result"] as const;

/**
 * Why an agent (key id = `accountId`) may not post this event, or null when it may: only the
 * agent event types, and only about its own runtime.
 */
export function agentEventProblem(accountId: string, event: unknown): string | null {
  if (typeof event !== "object" || event === null) return "event is not an object";
  const e = event as { type?: unknown; accountId?: unknown; runtimes?: unknown; upgrade?: { accountId?: unknown; executor?: unknown } };
  if (typeof e.type !== "string" || !(AGENT_EVENT_TYPES as readonly string[]).includes(e.type)) {
    return `an agent key may post only ${AGENT_EVENT_TYPES.join(", ")} (got ${JSON.stringify(e.type)})`;
  }
  const own = (id: unknown) => id === accountId;
  switch (e.type) {
    case "runtime.upsert":
      if (!Array.isArray(e.runtimes) || e.runtimes.length !== 1 || !own((e.runtimes[0] as { accountId?: unknown })?.accountId)) {
        return `agent ${accountId} may report only its own runtime`;
      }
      return null;
    case "upgrade.started":
      return own(e.accountId) ? null : `agent ${accountId} may start only its own upgrade`;
    default:
      if (!own(e.upgrade?.accountId)) return `agent ${accountId} may report only its own upgrade`;
      return e.upgrade?.executor === "agent" ? null : "an agent's upgrade result must have executor \"agent\"";
  }
}
