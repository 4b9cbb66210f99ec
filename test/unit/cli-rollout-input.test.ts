// Bad input to `fleet plan`, `fleet rollout`, `fleet rollback`, `fleet history` and the endpoint: exit 2, a message naming the
// option and the value, and nothing changed (the stack config byte-identical, no store created).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { fleet } from "../support/cli";

let dir: string;
let file: string;
let before: string;
const storePath = () => path.join(dir, "store", "store.db");

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fleet-input-"));
  file = path.join(dir, "Pulumi.test.yaml");
  writeFileSync(
    file,
    `# the desired state\n${stringify({
      config: {
        "fleet:release": { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
        "fleet:policy": { minSupportedOpenclaw: "v1.1.0", strategy: "canary", batchPercent: 25 },
        "fleet:defaults": { provider: "existing" },
        "fleet:sshPrivateKey": { secure: "v1:abc" },
        "fleet:runtimes": [
          { accountId: "a1", host: "127.0.0.11", openclaw: "v1.2.3", runtimeService: "v0.5.0", canary: true },
          { accountId: "a2", host: "127.0.0.12", openclaw: "v1.2.3", runtimeService: "v0.5.0" },
          { accountId: "a3", host: "127.0.0.13", openclaw: "v1.2.3", runtimeService: "v0.5.0", pin: "v1.2.3" },
        ],
      },
    })}`,
  );
  before = readFileSync(file, "utf8");
  process.env.FLEET_STORE_PATH = storePath();
});
afterAll(() => {
  delete process.env.FLEET_STORE_PATH;
  rmSync(dir, { recursive: true, force: true });
});

const cases: Array<[string, string[], RegExp]> = [
  ["a target that is not a release tag", ["rollout", "--to", "latest"], /--to: "latest" is not a release tag \(expected vMAJOR\.MINOR\.PATCH\)/],
  ["shell characters in the target", ["rollout", "--to", "v1.2.5; rm -rf /"], /--to: "v1\.2\.5; rm -rf \/" is not a release tag/],
  ["no target at all", ["rollout"], /--to: missing/],
  ["a runtime service that is not a tag", ["plan", "--to", "v1.2.5", "--runtime-service", "v0.5"], /--runtime-service: "v0\.5" is not a release tag/],
  ["an unknown strategy", ["rollout", "--to", "v1.2.5", "--strategy", "yolo"], /--strategy: "yolo" is not a strategy \(expected rolling, canary, immediate\)/],
  ["a zero batch", ["rollout", "--to", "v1.2.5", "--batch", "0"], /--batch: "0" is not a batch size/],
  ["a batch over 100%", ["rollout", "--to", "v1.2.5", "--batch", "150%"], /--batch: "150%" is not a batch size/],
  ["a broken ramp", ["rollout", "--to", "v1.2.5", "--ramp", "1,,5%"], /--ramp: "1,,5%" is not a ramp/],
  ["--batch and --ramp together", ["rollout", "--to", "v1.2.5", "--batch", "10%", "--ramp", "1,100%"], /--batch and --ramp: give one or the other/],
  ["a wait that is not a duration", ["rollout", "--to", "v1.2.5", "--wait", "soon"], /--wait: "soon" is not a duration/],
  ["a bake beyond a day", ["rollout", "--to", "v1.2.5", "--bake", "3d"], /--bake: "3d" is not a duration of at most/],
  ["a failure threshold over 100%", ["rollout", "--to", "v1.2.5", "--max-batch-failure", "120%"], /--max-batch-failure: "120%" is not a percentage from 0% to 100%/],
  ["a health threshold that is not a number", ["rollout", "--to", "v1.2.5", "--min-healthy", "most"], /--min-healthy: "most" is not a percentage/],
  ["a target below the minimum supported", ["rollout", "--to", "v1.0.0", "--allow-downgrade"], /--to: v1\.0\.0 is below the minimum supported v1\.1\.0/],
  ["a downgrade without consent", ["rollout", "--to", "v1.2.1"], /--to: v1\.2\.1 would downgrade a1 .*--allow-downgrade/],
  ["an unknown canary", ["rollout", "--to", "v1.2.5", "--canary", "zz"], /--canary: "zz" is not a runtime of this stack/],
  ["a runtime pinned elsewhere", ["rollout", "--to", "v1.2.5", "--runtime", "a3"], /--runtime: a3 is pinned at v1\.2\.3/],
  ["an account id with shell characters", ["rollout", "--to", "v1.2.5", "--runtime", "a1;id"], /--runtime\/--canary: "a1;id" is not an account id/],
  ["a reason over several lines", ["rollout", "--to", "v1.2.5", "--reason", "one\ntwo"], /--reason: expected one line/],
  ["a stack name with shell characters", ["rollout", "--to", "v1.2.5", "--stack", "test;id"], /--stack: "test;id" is not a stack name/],
  ["a rollback of an unknown runtime", ["rollback", "--runtime", "zz", "--to", "v1.2.1"], /--runtime: "zz" is not a runtime of stack test/],
  ["a rollback to a non-tag", ["rollback", "--runtime", "a1", "--to", "HEAD~1"], /--to: "HEAD~1" is not a release tag/],
  ["an unknown option", ["rollout", "--to", "v1.2.5", "--fast"], /unknown option '--fast'/],
  // Surrounding whitespace is a typo, refused as everywhere else in the CLI.
  ["a failure threshold with a leading space", ["rollout", "--to", "v1.2.5", "--pause-on-failure", " 5%"], /--pause-on-failure: " 5%" is not a percentage/],
  ["a wait with a leading space", ["rollout", "--to", "v1.2.5", "--wait", " 60s"], /--wait: " 60s" is not a duration/],
  ["a health threshold with a trailing space", ["plan", "--to", "v1.2.5", "--no-preview", "--min-healthy", "95% "], /--min-healthy: "95% " is not a percentage/],
  ["--auto-rollback and --no-auto-rollback together", ["rollout", "--to", "v1.2.5", "--auto-rollback", "--no-auto-rollback"], /--auto-rollback and --no-auto-rollback: give one or the other/],
  ["the two auto-rollback flags the other way round", ["rollout", "--to", "v1.2.5", "--no-auto-rollback", "--auto-rollback"], /--auto-rollback and --no-auto-rollback: give one or the other/],
  // A refused rollback creates no store file (it used to open the store first).
  ["a rollback below the minimum supported", ["rollback", "--runtime", "a1", "--to", "v1.0.0"], /--to: v1\.0\.0 is below the minimum supported v1\.1\.0/],
  ["a rollback to the version it runs", ["rollback", "--runtime", "a1", "--to", "v1.2.3"], /--to: a1 is already on v1\.2\.3\/v0\.5\.0/],
  ["history of something that is not a rollout id", ["history", "--rollout", "<anything>"], /--rollout: "<anything>" is not a rollout id \(expected ro_\.\.\.\)/],
  ["a history cursor that is not one", ["history", "--cursor", "garbage"], /--cursor: "garbage" is not a history cursor/],
  ["a history limit with a space", ["history", "--limit", " 5"], /--limit: " 5" is not a number from 1 to 200/],
  ["a rollout to pause that is not an id", ["rollout", "pause", "nope"], /rolloutId: "nope" is not a rollout id/],
  ["a rollout to abort that is not an id", ["rollout", "abort", "ro_; rm"], /rolloutId: "ro_; rm" is not a rollout id/],
  ["a rollout to resume that is not an id", ["rollout", "resume", "x"], /rolloutId: "x" is not a rollout id/],
  ["an endpoint port that is not one", ["endpoint", "--port", "http"], /--port: "http" is not a whole number from 0 to 65535/],
  ["a monitor endpoint port with a space", ["monitor", "--cycles", "1", "--serve-endpoint", " 80"], /--port: " 80" is not a whole number/],
];

describe("fleet plan/rollout/rollback/history/endpoint refuse bad input", () => {
  it("a dashboard token too short: exit 2, and no store file", async () => {
    process.env.FLEET_DASHBOARD_TOKEN = "short";
    try {
      const r = await fleet("--project", dir, "--stack", "test", "dashboard", "--port", "0");
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/FLEET_DASHBOARD_TOKEN: expected at least 16 characters/);
      expect(existsSync(storePath())).toBe(false);
    } finally {
      delete process.env.FLEET_DASHBOARD_TOKEN;
    }
  });

  it.each(cases)("%s: exit 2, named, nothing changed", async (_name, args, message) => {
    const withStack = args.includes("--stack") ? args : [...args, "--stack", "test"];
    const r = await fleet("--project", dir, ...withStack);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(existsSync(storePath())).toBe(false);
  });

  it("reports bad input as JSON with --json", async () => {
    const r = await fleet("--project", dir, "--stack", "test", "--json", "rollout", "--to", "latest");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, kind: "bad-input", error: '--to: "latest" is not a release tag (expected vMAJOR.MINOR.PATCH)' });
  });

  it("plans without the engine: batches, skipped pinned runtime, estimate", async () => {
    const r = await fleet("--project", dir, "--stack", "test", "--json", "plan", "--to", "v1.2.5", "--no-preview", "--wait", "10s", "--bake", "1m");
    expect(r.code).toBe(0);
    const { plan, estimate } = JSON.parse(r.stdout) as {
      plan: { batches: Array<{ kind: string; accountIds: string[] }>; skipped: Array<{ accountId: string }>; estimatedSeconds: number };
      estimate: { seconds: number; batchSeconds: number[]; basis: { kind: string; why: string } };
    };
    expect(plan.batches).toEqual([
      { index: 0, kind: "canary", accountIds: ["a1"] },
      { index: 1, kind: "batch", accountIds: ["a2"] },
    ]);
    expect(plan.skipped.map((s) => s.accountId)).toEqual(["a3"]);
    // No rollout recorded: the model's cost of two batches, plus one 10 s wait and the 1 m bake.
    expect(estimate.basis).toMatchObject({ kind: "model", why: expect.stringMatching(/no rollout recorded/) as unknown as string });
    expect(estimate.batchSeconds).toHaveLength(2);
    expect(plan.estimatedSeconds).toBe(estimate.seconds);
    expect(Math.abs(estimate.seconds - (estimate.batchSeconds[0]! + estimate.batchSeconds[1]! + 10 + 60))).toBeLessThanOrEqual(1);
    expect(readFileSync(file, "utf8")).toBe(before);
    // A plan reads the store; it does not create one.
    expect(existsSync(storePath())).toBe(false);
  });
});
