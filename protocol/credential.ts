// Per-runtime agent credentials: the ONE derivation, shared by the Convex endpoint
// (convex/http.ts), the embedded store's endpoint (store/endpoint.ts), the Runtime component that
// installs the agent (components/agent.ts) and the agent (agent/agent.ts). An agent signs with
// key id `stack/accountId` and secret HMAC-SHA256(FLEET_HMAC_SECRET, "agent:" + stack + "/" +
// accountId): a leaked host credential speaks for that one runtime of that one stack only, and
// nothing per runtime has to be stored. Web Crypto only: runs in Convex, Node and edge-runtime.
import { isAccountId, isStackName } from "../fleet/ids";

/** The shared machine key id (orchestrator, hooks, monitor); every other key id is an agent's. */
export const DEFAULT_KEY_ID = "default";

/** The one runtime an agent key speaks for. */
export interface AgentKey {
  stack: string;
  accountId: string;
}

const encoder = new TextEncoder();

export function agentKeyId(stack: string, accountId: string): string {
  return `${stack}/${accountId}`;
}

/** Hex HMAC-SHA256(fleetSecret, "agent:" + stack + "/" + accountId). */
export async function agentSecret(fleetSecret: string, stack: string, accountId: string): Promise<string> {
  if (!isStackName(stack)) throw new Error(`stack: ${JSON.stringify(stack)} is not a stack name`);
  if (!isAccountId(accountId)) throw new Error(`accountId: ${JSON.stringify(accountId)} is not an account id`);
  const key = await crypto.subtle.importKey("raw", encoder.encode(fleetSecret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`agent:${agentKeyId(stack, accountId)}`));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The runtime an agent key id (`stack/accountId`) names, or null when it is not one. */
export function parseAgentKeyId(keyId: string | null): AgentKey | null {
  if (keyId === null || keyId === DEFAULT_KEY_ID) return null;
  const slash = keyId.indexOf("/");
  if (slash === -1) return null;
  const stack = keyId.slice(0, slash);
  const accountId = keyId.slice(slash + 1);
  return isStackName(stack) && isAccountId(accountId) ? { stack, accountId } : null;
}

/**
 * The secret a request with this key id is checked against: the shared secret for no key id or
 * "default", the agent's derived secret for `stack/accountId`, null (refused) for anything else
 * (a bare account id, the key id of the first agent keys, included).
 */
export async function secretForKey(fleetSecret: string | undefined | null, keyId: string | null): Promise<string | null> {
  if (!fleetSecret) return null;
  if (keyId === null || keyId === DEFAULT_KEY_ID) return fleetSecret;
  const agent = parseAgentKeyId(keyId);
  return agent === null ? null : await agentSecret(fleetSecret, agent.stack, agent.accountId);
}

/** Event types an agent may post: its heartbeat and its own upgrade's start and result. */
export const AGENT_EVENT_TYPES = ["runtime.upsert", "upgrade.started", "upgrade.result"] as const;

/**
 * Why the agent `key` may not post this event, or null when it may: only the agent event types,
 * and only about its own runtime of its own stack. The refusal names both runtimes.
 */
export function agentEventProblem(key: AgentKey, event: unknown): string | null {
  if (typeof event !== "object" || event === null) return "event is not an object";
  const e = event as { type?: unknown; stack?: unknown; accountId?: unknown; runtimes?: unknown; upgrade?: { stack?: unknown; accountId?: unknown; executor?: unknown } };
  const self = agentKeyId(key.stack, key.accountId);
  if (typeof e.type !== "string" || !(AGENT_EVENT_TYPES as readonly string[]).includes(e.type)) {
    return `an agent key may post only ${AGENT_EVENT_TYPES.join(", ")} (got ${JSON.stringify(e.type)})`;
  }
  const subject = (s: { stack?: unknown; accountId?: unknown } | undefined) => `${String(s?.stack)}/${String(s?.accountId)}`.slice(0, 200);
  const own = (s: { stack?: unknown; accountId?: unknown } | undefined) => s?.stack === key.stack && s?.accountId === key.accountId;
  switch (e.type) {
    case "runtime.upsert": {
      if (!Array.isArray(e.runtimes) || e.runtimes.length !== 1) return `agent ${self} may report only its own runtime, one at a time`;
      const rt = e.runtimes[0] as { stack?: unknown; accountId?: unknown } | undefined;
      return own(rt) ? null : `agent ${self} may report only its own runtime (got ${subject(rt)})`;
    }
    case "upgrade.started":
      return own(e) ? null : `agent ${self} may start only its own upgrade (got ${subject(e)})`;
    default:
      if (!own(e.upgrade)) return `agent ${self} may report only its own upgrade (got ${subject(e.upgrade)})`;
      return e.upgrade?.executor === "agent" ? null : "an agent's upgrade result must have executor \"agent\"";
  }
}
