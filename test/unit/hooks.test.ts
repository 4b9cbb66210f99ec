// The post-deploy hook callbacks, called as the engine calls them (they do not run under mocks).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { storeRecorder, upgradeEventFor, type DeployContext } from "../../components/hooks";
import { parseUpgradeResult } from "../../components/onhost";
import { flushOutbox, pendingInOutbox } from "../../store/outbox";
import { LocalFleetStore } from "../../store/local";
import type { FleetStore } from "../../store/types";

const ctx: DeployContext = { stack: "lab", actor: "ana@laptop", operation: "upgrade", now: () => 1_700_000_000_000, rolloutId: "ro_abc123456" };
const stdin = (openclaw: string, runtimeService = "v0.5.0") => JSON.stringify({ openclaw, runtimeService });
const success = JSON.stringify({
  id: "lab-04-1795732741491-26731",
  status: "success",
  from: { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
  to: { openclaw: "v1.2.5", runtimeService: "v0.5.0" },
  durationMs: 1402,
  error: null,
  host: "lab-04",
  completedAt: 1795732742893,
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), "fleet-hooks-"));
  dirs.push(d);
  return d;
}

describe("post-deploy hook records", () => {
  it("records a successful deploy with the host's own id, versions, duration, who and which rollout", () => {
    const e = upgradeEventFor({ name: "lab-04-deploy", oldInputs: { stdin: stdin("v1.2.3") }, newInputs: { stdin: stdin("v1.2.5") }, newOutputs: { stdout: `progress\n${success}\n` } }, ctx);
    expect(e).toEqual({
      eventId: "lab-04-1795732741491-26731",
      stack: "lab",
      accountId: "lab-04",
      rolloutId: "ro_abc123456",
      fromOpenclaw: "v1.2.3",
      toOpenclaw: "v1.2.5",
      fromRuntimeService: "v0.5.0",
      toRuntimeService: "v0.5.0",
      status: "success",
      startedAt: 1795732742893 - 1402,
      completedAt: 1795732742893,
      durationMs: 1402,
      initiatedBy: "ana@laptop",
      executor: "pulumi",
    });
  });

  it("records a failed deploy from the engine's error text, with the script's own error", () => {
    const failed = JSON.stringify({ id: "h-1-2", status: "rolled_back", from: { openclaw: "v1.2.3", runtimeService: "v0.5.0" }, to: { openclaw: "v1.2.6", runtimeService: "v0.5.0" }, durationMs: 9000, error: "http://127.0.0.12:8080/health did not answer 200 within 15s", host: "lab-02", completedAt: 5 });
    const errors = [`Process exited with status 1: running "'/x/bin/fleet-upgrade' upgrade --stdin":\n${failed}\n22:01:01 fleet-upgrade: result: rolled_back`];
    const e = upgradeEventFor({ name: "lab-02-deploy", newInputs: { stdin: stdin("v1.2.6") }, oldInputs: { stdin: stdin("v1.2.3") }, errors }, ctx);
    expect(e).toMatchObject({ eventId: "h-1-2", accountId: "lab-02", status: "rolled_back", toOpenclaw: "v1.2.6", error: "http://127.0.0.12:8080/health did not answer 200 within 15s" });
  });

  it("records an unreachable host as failed, with the dial error", () => {
    const e = upgradeEventFor({ name: "lab-03-deploy", newInputs: { stdin: stdin("v1.2.5") }, oldInputs: { stdin: stdin("v1.2.3") }, errors: ["failed to dial 127.0.0.13:2222: connection refused"] }, ctx);
    expect(e).toMatchObject({ accountId: "lab-03", status: "failed", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", error: "unreachable: no SSH connection to 127.0.0.13:2222 (connection refused)" });
    // The command provider's wording after its retries, as the engine passes it on.
    const retried = upgradeEventFor({ name: "lab-03-deploy", errors: ["error: failed to dial 127.0.0.13:2222: after 3 failed attempts: dial tcp 127.0.0.13:2222: connect: connection refused"] }, ctx);
    expect(retried?.error).toBe("unreachable: no SSH connection to 127.0.0.13:2222 after 3 attempts (connect: connection refused)");
  });

  it("keeps the on-host script's cause when the state directory is not writable", () => {
    const result = JSON.stringify({ status: "failed", from: null, to: null, durationMs: 0, error: "state directory /opt/runtime-fleet/state is not writable (Operation not permitted): nothing was changed", host: "lab-02" });
    const e = upgradeEventFor({ name: "lab-02-deploy", newInputs: { stdin: stdin("v1.2.5") }, errors: [`Process exited with status 1: running "...":\n${result}\n10:00:00 fleet-upgrade: state directory ...`] }, ctx);
    expect(e).toMatchObject({ status: "failed", error: "state directory /opt/runtime-fleet/state is not writable (Operation not permitted): nothing was changed" });
  });

  it("records nothing for a noop, but hands over the result a dead caller never saw", () => {
    const noop = { id: "h-9", status: "noop", from: { openclaw: "v1.2.5", runtimeService: "v0.5.0" }, to: { openclaw: "v1.2.5", runtimeService: "v0.5.0" }, durationMs: 300, error: null };
    expect(upgradeEventFor({ name: "a-deploy", newOutputs: { stdout: JSON.stringify(noop) } }, ctx)).toBeUndefined();
    const withLast = upgradeEventFor({ name: "a-deploy", newOutputs: { stdout: JSON.stringify({ ...noop, last: JSON.parse(success) }) } }, ctx);
    expect(withLast).toMatchObject({ eventId: "lab-04-1795732741491-26731", status: "success", toOpenclaw: "v1.2.5" });
  });

  it("marks a successful restore during a rollback as rolled_back", () => {
    const e = upgradeEventFor({ name: "lab-04-deploy", newOutputs: { stdout: success } }, { ...ctx, operation: "rollback" });
    expect(e?.status).toBe("rolled_back");
  });

  it("finds the result line after a prefix, and ignores lines that are not results", () => {
    expect(parseUpgradeResult(`warning: {"x":1}\nstdout; ${success}`)?.id).toBe("lab-04-1795732741491-26731");
    expect(parseUpgradeResult('{"status":"exploded"}')).toBeUndefined();
    expect(parseUpgradeResult("")).toBeUndefined();
  });
});

describe("a store outage", () => {
  it("fails no deployment and loses no record: the outbox keeps it, the next run delivers it once", async () => {
    const dir = tmp();
    const outbox = path.join(dir, "outbox");
    const event = upgradeEventFor({ name: "lab-04-deploy", newOutputs: { stdout: success } }, ctx)!;
    const down = storeRecorder(async () => {
      throw new Error("connect ECONNREFUSED");
    }, outbox);
    await expect(down.record(event)).resolves.toBeUndefined();
    expect(pendingInOutbox(outbox).map((e) => e.eventId)).toEqual([event.eventId]);

    const store: FleetStore = new LocalFleetStore({ path: path.join(dir, "store.db") });
    try {
      const second = upgradeEventFor({ name: "lab-05-deploy", newOutputs: { stdout: success.replace("lab-04-1795732741491-26731", "lab-05-1") } }, ctx)!;
      const up = storeRecorder(async () => store, outbox);
      await up.record({ ...second, accountId: "lab-05" });
      expect(pendingInOutbox(outbox)).toEqual([]);
      // Delivering the same record again (a retried flush) still records it once.
      expect(await flushOutbox(outbox, store)).toBe(0);
      await store.recordUpgrade(event);
      const history = await store.listUpgrades({ stack: "lab" });
      expect(history.items.map((e) => e.accountId).sort()).toEqual(["lab-04", "lab-05"]);
    } finally {
      await store.close();
    }
  });
});
