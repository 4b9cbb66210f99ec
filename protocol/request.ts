// The checks of one signed POST /fleet/events, in order, written once for both endpoints
// (convex/http.ts, store/endpoint.ts): headers and timestamp, the key, the signature over the
// body, a JSON event with an id, an agent key's scope, the event's shape. Each refusal is one
// line with its HTTP status. Replay and dedupe need the endpoint's memory and stay there.
import { agentEventProblem, parseAgentKeyId, secretForKey } from "./credential";
import { parseFleetEvent, type FleetEvent } from "./events";
import { MAX_SKEW_MS, verifyPayload } from "./signature";

export interface RequestHeaders {
  timestamp: string | null;
  signature: string | null;
  keyId: string | null;
}
export interface Refusal {
  ok: false;
  status: 400 | 401 | 403;
  error: string;
}
const refuse = (status: Refusal["status"], error: string): Refusal => ({ ok: false, status, error });

/** Before the body is read: the headers, the timestamp's skew and the key's secret. */
export async function requestSecret(fleetSecret: string | undefined | null, h: RequestHeaders, now: number): Promise<{ ok: true; secret: string; timestamp: string; signature: string } | Refusal> {
  if (h.timestamp === null || h.signature === null) return refuse(401, "missing signature headers");
  if (!/^\d{1,16}$/.test(h.timestamp) || Math.abs(now - Number(h.timestamp)) > MAX_SKEW_MS) return refuse(401, "stale or invalid timestamp");
  const secret = await secretForKey(fleetSecret, h.keyId);
  if (secret === null) return refuse(401, "unknown key");
  return { ok: true, secret, timestamp: h.timestamp, signature: h.signature };
}

/** The body: signed by that secret, one well-formed event, within an agent key's scope. */
export async function checkEvent(
  checked: { secret: string; timestamp: string; signature: string },
  keyId: string | null,
  body: string,
): Promise<{ ok: true; event: FleetEvent } | Refusal> {
  if (!(await verifyPayload(checked.secret, checked.timestamp, body, checked.signature))) return refuse(401, "bad signature");
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return refuse(400, "body is not JSON");
  }
  if (typeof raw !== "object" || raw === null || typeof (raw as { id?: unknown }).id !== "string" || (raw as { id: string }).id.length === 0) {
    return refuse(400, "event needs a string id");
  }
  const agent = parseAgentKeyId(keyId);
  const scope = agent !== null ? agentEventProblem(agent, raw) : null;
  if (scope !== null) return refuse(403, scope);
  const parsed = parseFleetEvent(raw);
  return parsed.ok ? { ok: true, event: parsed.event } : refuse(400, parsed.error);
}
