// What a person reads of the canary analysis: `fleet plan` shows the stack's analysis policy (and
// refuses a bad one naming the field), and each recorded analysis prints with its numbers.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeAnalyses, describeAnalysis } from "../../cli/analysisText";
import { analysisPolicySchema } from "../../fleet/config";
import { ERRORS_3PCT, simulateBake } from "../../lab/bakes";
import { fleet } from "../support/cli";
import { unitRuntimes, unitStackYaml } from "../support/fixtures";

const policy = analysisPolicySchema.parse(undefined);
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-analysis-cli-"));
  process.env.FLEET_STORE_PATH = path.join(dir, "store", "store.db");
});
afterAll(() => {
  delete process.env.FLEET_STORE_PATH;
  rmSync(dir, { recursive: true, force: true });
});

function stack(name: string, policyYaml = "\n    strategy: canary"): void {
  writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), unitStackYaml(unitRuntimes(["acme", "globex", "initech"]), policyYaml));
}

describe("fleet plan and the analysis policy", () => {
  it("shows the defaults in text and JSON", async () => {
    stack("defaults");
    const text = await fleet("--project", dir, "--stack", "defaults", "plan", "--to", "v1.2.5", "--no-preview");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/canary analysis \(fleet:policy\.analysis\): a 10s scrape interval, at least 12 samples per cohort, up to 5 control runtimes/);
    expect(text.stdout).toMatch(/go at score >= 85, pause at >= 70, halt below/);
    expect(text.stdout).toMatch(/error_rate weight 40 tolerance 1 % of requests/);
    const json = await fleet("--project", dir, "--stack", "defaults", "--json", "plan", "--to", "v1.2.5", "--no-preview");
    expect((JSON.parse(json.stdout) as { analysis: unknown }).analysis).toEqual(policy);
  });

  it("shows a stack's own thresholds", async () => {
    stack("own", "\n    strategy: canary\n    analysis:\n      minSamples: 30\n      metrics:\n        latency_ms:\n          tolerance: 50");
    const r = await fleet("--project", dir, "--stack", "own", "plan", "--to", "v1.2.5", "--no-preview");
    expect(r.stdout).toMatch(/at least 30 samples/);
    expect(r.stdout).toMatch(/latency_ms weight 40 tolerance 50 ms/);
  });

  it("refuses thresholds in the wrong order, naming the field and the value (exit 2)", async () => {
    stack("bad", "\n    analysis:\n      passScore: 40\n      marginalScore: 60");
    const r = await fleet("--project", dir, "--stack", "bad", "plan", "--to", "v1.2.5", "--no-preview");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/fleet:policy\.analysis\.marginalScore: 60 is above passScore/);
  });
});

describe("an analysis as `fleet history --rollout` prints it", () => {
  it("names the decision, the score, the cohorts, and each metric with U, p and the medians", () => {
    const r = simulateBake(7, { shift: ERRORS_3PCT, noisy: false, canaries: 1, controls: 3, windowSeconds: 300 }, policy);
    const text = describeAnalysis(r).join("\n");
    expect(text).toMatch(/^analysis of batch 0 .* HALT \(fail, score \d+(\.\d)?\)/);
    expect(text).toMatch(/canary 1 \(bake-7-canary-0\), control 3/);
    expect(text).toMatch(/error_rate +fail +weight 40 +median [\d.]+ vs [\d.]+ % of requests +\(n=30\/90\) +U=[\d.]+ p=[\d.e-]+ effect=[\d.]+ worse/);
    expect(text).toMatch(/restarts +pass +critical/);
  });

  it("says when an analysis was only observed, and lists a rollout's analyses oldest first", () => {
    const a = { ...simulateBake(1, { shift: {}, noisy: false, canaries: 1, controls: 3, windowSeconds: 120 }, policy), mode: "observe" as const };
    const b = { ...a, at: a.at - 1, batch: 1 };
    const lines = describeAnalyses([a, b]);
    expect(lines[0]).toMatch(/^analysis of batch 1 /);
    expect(lines.join("\n")).toMatch(/\(observe: recorded, not acted on\)/);
    expect(describeAnalyses([])).toEqual([]);
  });

  it("shows a hostile reason as text", () => {
    const a = { ...simulateBake(1, { shift: {}, noisy: false, canaries: 1, controls: 3, windowSeconds: 120 }, policy), reason: "\x1b[2Jall good" };
    expect(describeAnalysis(a)[1]).toBe("  \\x1b[2Jall good");
  });
});
