// The machine-writer signature, shared by both endpoints (convex/http.ts, store/endpoint.ts), the
// Convex adapter (store/convex.ts) and the agent: hex HMAC-SHA256 over `${timestamp}.${body}`,
// timestamp in epoch milliseconds. Web Crypto only, so it runs in Convex's runtime, Node and edge-runtime alike.

export const TIMESTAMP_HEADER = "x-fleet-timestamp";
export const SIGNATURE_HEADER = "x-fleet-signature";
export const KEY_ID_HEADER = "x-fleet-key-id";
export const EVENTS_PATH = "/fleet/events";
/** Requests whose timestamp is further than this from the server clock are refused. */
export const MAX_SKEW_MS = 5 * 60_000;
/** How long a seen signature is remembered: a replay is refused while its timestamp could still pass the skew check. */
export const SIGNATURE_RETENTION_MS = 2 * MAX_SKEW_MS;
/** How long a processed event id (and its answer) is remembered: a retry within it is answered, not applied again. */
export const PROCESSED_EVENT_RETENTION_MS = 7 * 86_400_000;
/** The largest answer kept for a repeated event (a rollout with thousands of batched ids is not kept: a retry gets null and reads the record back). */
export const MAX_STORED_RESULT = 16_384;
/** Largest accepted body. */
export const MAX_BODY_BYTES = 1_000_000;

const encoder = new TextEncoder();

async function hmacKey(secret: string, usage: "sign" | "verify") {
  return await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [usage]);
}

function toHex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[0-9a-f]{64}$/.test(hex)) return null;
  const out = new Uint8Array(new ArrayBuffer(32));
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function signPayload(secret: string, timestamp: string, body: string): Promise<string> {
  const key = await hmacKey(secret, "sign");
  return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)));
}

/** Constant-time check (crypto.subtle.verify). */
export async function verifyPayload(secret: string, timestamp: string, body: string, signatureHex: string): Promise<boolean> {
  const sig = fromHex(signatureHex.toLowerCase());
  if (sig === null) return false;
  const key = await hmacKey(secret, "verify");
  return await crypto.subtle.verify("HMAC", key, sig, encoder.encode(`${timestamp}.${body}`));
}

/** Headers for one signed post. */
export async function signedHeaders(secret: string, body: string, now: number, keyId?: string): Promise<Record<string, string>> {
  const timestamp = String(now);
  return {
    "content-type": "application/json",
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: await signPayload(secret, timestamp, body),
    ...(keyId ? { [KEY_ID_HEADER]: keyId } : {}),
  };
}
