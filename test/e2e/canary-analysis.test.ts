// The canary analysis on the lab, as a user runs it: `fleet rollout --analysis enforce` with a
// short bake. A release that adds 3% errors (its /health stays 200) is halted at the canary and
// rolled back; one that adds 200 ms likewise; a good release passes; a canary with no runtime
// left on the old release pauses as inconclusive. Needs the rollout step machine (issue 13),
// which records each analysis in the rollout's steps and acts on it in enforce mode.
import { readFileSync, writeFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labFault } from "../../lab/lab";
import { analysesOf } from "../../fleet/steps";
import type { FleetStore } from "../../store/types";
import { fleetRunner, labProject, type LabProject } from "./helpers/labProject";
import { itOnlyOn, STORE_KINDS, useStore } from "./helpers/stores";

const IDS = ["lab-01", "lab-02", "lab-03", "lab-04"];
const BAKE = ["--wait", "1s", "--bake", "60s"];

describe.each(STORE_KINDS)("canary analysis on a 4-host lab (real engine, %s store)", (kind) => {
  const st = useStore(kind);
  const itLocal = itOnlyOn(kind, "local");
  let p: LabProject;

  beforeAll(async () => {
    p = await labProject(4);
    Object.assign(p.env, st.env);
    // Short intervals for a one-minute bake: 12 samples per runtime.
    const doc = parseDocument(readFileSync(p.configFile, "utf8"));
    // A 60 s window is short: stricter p-values keep a good release from a marginal pause by chance
    // (the regressions below are far past them), so the good-release row does not flake.
    doc.setIn(["config", "fleet:policy", "analysis"], { intervalSeconds: 5, minSamples: 8, controlSize: 3, marginalP: 0.001, failP: 0.0001 });
    writeFileSync(p.configFile, doc.toString());
    const first = await p.engine().up(IDS.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(first.ok).toBe(true);
  });
  afterAll(async () => {
    await p?.down();
  });

  const fleet = fleetRunner(() => p);
  const withStore = <T>(fn: (s: FleetStore) => Promise<T>): Promise<T> => st.read(p.storePath, fn);
  const latestRollout = () => withStore(async (s) => (await s.listRollouts({ stack: "lab", limit: 1 }))[0]!);
  const served = async () => Object.fromEntries((await p.status()).map((h) => [h.runtime, h.healthy ? `${h.openclaw}/${h.runtimeService}` : "unhealthy"]));
  const upgrades = async () => Object.fromEntries((await p.status()).map((h) => [h.runtime, h.upgrades]));

  async function haltedAtTheCanary(fault: string, to: string, metric: string): Promise<void> {
    await labFault(p.labDir, "lab-01", fault);
    try {
      const before = await served();
      const counts = await upgrades();
      const r = await fleet("rollout", "--to", to, "--strategy", "canary", "--batch", "25%", "--analysis", "enforce", ...BAKE);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/halted: .*analysis/i);
      // the canary is back on its release and healthy: /health never failed, the analysis caught it
      expect(await served()).toEqual(before);
      const after = await upgrades();
      for (const id of IDS.slice(1)) expect(after[id], `${id} untouched`).toBe(counts[id]);
      const rollout = await latestRollout();
      expect(rollout.status).toBe("halted");
      const [analysis] = analysesOf(rollout.steps);
      expect(analysis).toMatchObject({ batch: 0, mode: "enforce", decision: "halt", canary: ["lab-01"] });
      expect(analysis!.control.length).toBeGreaterThan(0);
      expect(analysis!.metrics.find((m) => m.metric === metric)).toMatchObject({ verdict: "fail", direction: "worse" });
      expect(analysis!.metrics.find((m) => m.metric === "health")!.verdict).toBe("pass");
      const history = await fleet("history", "--rollout", rollout.rolloutId);
      expect(history.stdout).toMatch(/analysis of batch 0 .*: HALT \(fail, score [\d.]+\)/);
      expect(history.stdout).toMatch(new RegExp(`${metric} +fail`));
    } finally {
      await labFault(p.labDir, "lab-01", "clear");
    }
  }

  itLocal("a release adding 3% errors, its /health still 200, is halted at the canary and rolled back", async () => {
    await haltedAtTheCanary("regress:errors=+3%", "v1.2.5", "error_rate");
  });

  itLocal("a release adding 200 ms is halted at the canary and rolled back", async () => {
    await haltedAtTheCanary("regress:latency=+200ms", "v1.3.0", "latency_ms");
  });

  it("a good release passes the analysis and reaches every runtime", async () => {
    const r = await fleet("rollout", "--to", "v1.2.5", "--strategy", "canary", "--batch", "25%", "--analysis", "enforce", ...BAKE);
    expect(r.code, r.stderr).toBe(0);
    expect(await served()).toEqual(Object.fromEntries(IDS.map((id) => [id, "v1.2.5/v0.5.0"])));
    const rollout = await latestRollout();
    expect(rollout.status).toBe("completed");
    const first = analysesOf(rollout.steps)[0]!;
    expect(first).toMatchObject({ batch: 0, decision: "go", verdict: "pass" });
    expect(first.score).toBeGreaterThanOrEqual(85);
  });

  it("a canary with no runtime left on the old release pauses as inconclusive", async () => {
    // every other runtime is on the target already: nothing to compare the canary with
    p.setVersions("lab-01", "v1.2.3");
    expect((await p.engine().up([{ accountId: "lab-01", provider: "existing" as const }])).ok).toBe(true);
    const r = await fleet("rollout", "--to", "v1.2.5", "--strategy", "canary", "--analysis", "enforce", ...BAKE);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/paused: continue with `fleet rollout resume/);
    const rollout = await latestRollout();
    expect(rollout.status).toBe("paused");
    expect(rollout.statusReason).toMatch(/inconclusive: no control cohort/);
    expect(analysesOf(rollout.steps)[0]).toMatchObject({ verdict: "inconclusive", decision: "pause", control: [] });
    expect((await fleet("rollout", "abort")).code).toBe(0);
  });
});
