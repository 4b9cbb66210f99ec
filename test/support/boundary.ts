// The protocol boundary, tried the same way against both endpoints (the Convex HTTP action through
// convex-test, and the embedded store's endpoint): ids, agent key scope and rollout options
// (issue 18 defects 2 and 3, issue 11's options defect). Web Crypto only: runs under edge-runtime.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { signedHeaders } from "../../protocol/signature";
import { agentKeyId, agentSecret } from "../../protocol/credential";

export interface BoundaryHarness {
  /** POSTs a body to /fleet/events with these headers. */
  post(body: string, headers: Record<string, string>): Promise<{ status: number; json: { ok: boolean; error?: string; result?: unknown } }>;
  /** The runtimes the store holds, as "stack/accountId". */
  runtimes(): Promise<string[]>;
  rolloutIds(stack: string): Promise<string[]>;
  secret: string;
  cleanup(): Promise<void>;
}

const RELEASE = { openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" };
let seq = 0;
const nextId = () => `ev-boundary-${++seq}-${Math.random().toString(36).slice(2)}`;

/** The key the first agents held: key id = bare account id, secret HMAC(secret, "agent:" + accountId). */
async function unscopedAgentSecret(fleetSecret: string, accountId: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(fleetSecret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, enc.encode(`agent:${accountId}`));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function protocolBoundary(name: string, make: () => Promise<BoundaryHarness>) {
  describe(`protocol boundary: ${name}`, () => {
    let h: BoundaryHarness;
    const send = async (event: Record<string, unknown>, secret = h.secret, keyId?: string) => {
      const body = JSON.stringify({ id: nextId(), ...event });
      return await h.post(body, await signedHeaders(secret, body, Date.now(), keyId));
    };
    beforeEach(async () => {
      h = await make();
      // The program (shared key) knows lab-01 and lab-02 of stack lab.
      const seeded = await send({ type: "runtime.upsert", runtimes: ["lab-01", "lab-02"].map((accountId) => ({ stack: "lab", accountId, status: "online", ...RELEASE })) });
      expect(seeded.status).toBe(200);
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("an agent key is good for one stack and one runtime: lab-02's key cannot write stack prod (18.2)", async () => {
      const own = await agentSecret(h.secret, "lab", "lab-02");
      const hb = (stack: string) => ({ type: "runtime.upsert", runtimes: [{ stack, accountId: "lab-02", lastHealthCheck: Date.now(), ...RELEASE }] });
      expect(await send(hb("lab"), own, agentKeyId("lab", "lab-02"))).toMatchObject({ status: 200, json: { ok: true, result: { count: 1, pendingUpgrade: null } } });
      const foreign = await send(hb("prod"), own, agentKeyId("lab", "lab-02"));
      expect(foreign.status).toBe(403);
      expect(foreign.json.error).toBe("agent lab/lab-02 may report only its own runtime (got prod/lab-02)");
      // Both endpoints answer refusals in the fleet's one error shape (protocol/httpError.ts).
      expect(foreign.json).toMatchObject({ ok: false, kind: "forbidden" });
      // The same key presented as prod's: the signature does not match prod/lab-02's key.
      expect((await send(hb("prod"), own, agentKeyId("prod", "lab-02"))).status).toBe(401);
      // The unscoped key of before (key id = account id) is no key any more.
      const old = await unscopedAgentSecret(h.secret, "lab-02");
      expect((await send(hb("prod"), old, "lab-02")).status).toBe(401);
      const started = await send({ type: "upgrade.started", stack: "prod", accountId: "lab-02", targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", strategy: "rolling", initiatedBy: "agent" }, own, agentKeyId("lab", "lab-02"));
      expect(started.status).toBe(403);
      expect(started.json.error).toMatch(/lab\/lab-02 .*prod\/lab-02/);
      expect(await h.runtimes()).toEqual(["lab/lab-01", "lab/lab-02"]);
    });

    it("ids the rest of the system refuses are refused at the boundary, naming field and value (18.3)", async () => {
      const bad = await send({ type: "runtime.upsert", runtimes: [{ stack: "../../x", accountId: "<b>X</b>", status: "online", ...RELEASE }] });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/^invalid event: runtimes\.0\.stack: "\.\.\/\.\.\/x" is not a stack name/);
      const badAccount = await send({ type: "runtime.upsert", runtimes: [{ stack: "lab", accountId: "<b>X</b>", status: "online", ...RELEASE }] });
      expect(badAccount.status).toBe(400);
      expect(badAccount.json.error).toMatch(/runtimes\.0\.accountId: "<b>X<\/b>" is not an account id/);
      const badRollout = await send({ type: "rollout.updated", rolloutId: "../ro", patch: { status: "paused" } });
      expect(badRollout.status).toBe(400);
      expect(badRollout.json.error).toMatch(/rolloutId: "\.\.\/ro" is not a rollout id/);
      const badPending = await send({ type: "runtime.pending", stack: "lab", accountId: "LAB 01", pending: null });
      expect(badPending.json.error).toMatch(/accountId: "LAB 01" is not an account id/);
      const longText = await send({ type: "activity", activity: { actor: "x".repeat(5000), action: "note", message: "hi" } });
      expect(longText.status).toBe(400);
      expect(longText.json.error).toMatch(/activity\.actor/);
      expect(await h.runtimes()).toEqual(["lab/lab-01", "lab/lab-02"]);
    });

    it("no agent key speaks for another runtime: lab-02's key cannot create an unconfigured ghost-98", async () => {
      const own = await agentSecret(h.secret, "lab", "lab-02");
      const r = await send({ type: "runtime.upsert", runtimes: [{ stack: "lab", accountId: "ghost-98", status: "online", ...RELEASE }] }, own, agentKeyId("lab", "lab-02"));
      expect(r.status).toBe(403);
      expect(r.json.error).toBe("agent lab/lab-02 may report only its own runtime (got lab/ghost-98)");
      expect(await h.runtimes()).toEqual(["lab/lab-01", "lab/lab-02"]);
    });

    it("records the CLI's and the dashboard's rollout options, and refuses any other option naming it", async () => {
      const rollout = (rolloutId: string, options: Record<string, unknown>) => ({
        type: "rollout.created",
        rollout: { rolloutId, stack: "lab", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "canary", options, initiatedBy: "alice", batches: [["lab-01"], ["lab-02"]] },
      });
      const gates = { waitSeconds: 60, bakeMinutes: 30, maxBatchFailurePercent: 20, pauseOnFailurePercent: 5, minHealthyPercent: 95, autoRollback: true, skipUpgraded: false, allowDowngrade: false };
      expect((await send(rollout("ro_dash00001", { ...gates, ramp: "1,50%", canary: "lab-01", source: "dashboard" }))).status).toBe(200);
      // The patch's status reason is one field on both endpoints (the embedded one had `reason`).
      expect((await send({ type: "rollout.updated", rolloutId: "ro_dash00001", patch: { status: "running", statusReason: "started by alice" } })).status).toBe(200);
      const unknown = await send(rollout("ro_bad000001", { ...gates, bogus: 1 }));
      expect(unknown.status).toBe(400);
      expect(unknown.json.error).toMatch(/rollout\.options.*bogus/);
      const badBatch = await send(rollout("ro_bad000002", { ...gates, batch: "ten" }));
      expect(badBatch.status).toBe(400);
      expect(badBatch.json.error).toMatch(/rollout\.options\.batch: .*"ten" is not a batch size/);
      const badCanary = await send(rollout("ro_bad000003", { ...gates, canary: "Lab 01" }));
      expect(badCanary.json.error).toMatch(/rollout\.options\.canary: "Lab 01" is not an account id/);
      expect(await h.rolloutIds("lab")).toEqual(["ro_dash00001"]);
    });
  });
}
