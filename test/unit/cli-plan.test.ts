// `fleet plan`'s estimate read from the stack's recorded rollouts (the embedded store), with its
// basis in the text and the JSON; other stacks' rollouts do not count.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { LocalFleetStore } from "../../store/local";
import { fleet } from "../support/cli";

let dir: string;
const storePath = () => path.join(dir, "store.db");
const ids = ["a1", "a2", "a3", "a4"];

/** A completed rollout of `stack` whose two batches took `seconds` each, recorded as the orchestrator records one. */
async function recordRollout(store: LocalFleetStore, stack: string, rolloutId: string, seconds: number): Promise<void> {
  const start = Date.now() - 3_600_000;
  await store.createRollout({
    rolloutId,
    stack,
    target: { openclaw: "v1.2.4", runtimeService: "v0.5.0" },
    strategy: "rolling",
    options: { waitSeconds: 5, bakeMinutes: 0 },
    initiatedBy: "test",
    batches: [ids.slice(0, 2), ids.slice(2)],
    status: "running",
    createdAt: start,
  });
  const first = start + seconds * 1000;
  const second = first + 5_000 + seconds * 1000;
  await store.updateRollout(rolloutId, { gate: { at: first, batch: 0, decision: "go", reason: "batch ok" }, at: first });
  await store.updateRollout(rolloutId, { gate: { at: second, batch: 1, decision: "go", reason: "batch ok" }, at: second });
  await store.updateRollout(rolloutId, { status: "completed", statusReason: "every runtime upgraded", at: second + 1_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-plan-"));
  writeFileSync(
    path.join(dir, "Pulumi.test.yaml"),
    stringify({
      config: {
        "fleet:release": { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
        "fleet:policy": { minSupportedOpenclaw: "v1.1.0", strategy: "rolling", batchPercent: 50, waitSeconds: 5, bakeMinutes: 0 },
        "fleet:defaults": { provider: "existing" },
        "fleet:sshPrivateKey": { secure: "v1:abc" },
        "fleet:runtimes": ids.map((accountId, i) => ({ accountId, host: `127.0.0.${11 + i}`, openclaw: "v1.2.3", runtimeService: "v0.5.0" })),
      },
    }),
  );
  process.env.FLEET_STORE_PATH = storePath();
  const store = new LocalFleetStore({ path: storePath() });
  try {
    await recordRollout(store, "test", "ro_measured1", 40);
    await recordRollout(store, "other", "ro_elsewhere", 400);
  } finally {
    await store.close();
  }
});
afterAll(() => {
  delete process.env.FLEET_STORE_PATH;
  rmSync(dir, { recursive: true, force: true });
});

describe("fleet plan's estimate", () => {
  it("measured from the stack's past rollout: its batches, the wait between them, its tail", async () => {
    const r = await fleet("--project", dir, "--stack", "test", "--json", "plan", "--to", "v1.2.5", "--no-preview");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { plan: { estimatedSeconds: number }; estimate: { seconds: number; startSeconds: number; batchSeconds: number[]; basis: Record<string, unknown> } };
    expect(doc.estimate.basis).toEqual({ kind: "measured", rollouts: ["ro_measured1"], batches: 2, medianBatchSize: 2, meanBatchSeconds: 40, tailSeconds: 1 });
    expect(doc.estimate.batchSeconds).toEqual([40, 40]);
    // the command's own start, measured from its main() call here (in-process), is counted once
    expect(doc.estimate.startSeconds).toBeGreaterThanOrEqual(0);
    expect(doc.estimate.seconds).toBe(Math.round(doc.estimate.startSeconds + 40 + 5 + 40 + 1));
    expect(doc.plan.estimatedSeconds).toBe(doc.estimate.seconds);
  });

  it("says its basis in the text", async () => {
    const r = await fleet("--project", dir, "--stack", "test", "plan", "--to", "v1.2.5", "--no-preview");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4 runtimes, estimated 1m 2[67]s\n {2}basis: measured: 40s per batch \(mean 40s of 2 batches of ~2 runtimes in the last 1 completed rollout: ro_measured1\); plus (\d\.\ds to start \(as this command took\), )?5s between batches/);
  });

  it("a stack without rollouts of its own gets the model, saying so", async () => {
    copyFileSync(path.join(dir, "Pulumi.test.yaml"), path.join(dir, "Pulumi.fresh.yaml"));
    const r = await fleet("--project", dir, "--stack", "fresh", "--json", "plan", "--to", "v1.2.5", "--no-preview");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { estimate: { basis: Record<string, unknown> } };
    expect(doc.estimate.basis).toMatchObject({ kind: "model", fleetSize: 4, why: "no completed rollout of this stack recorded yet" });
  });
});
