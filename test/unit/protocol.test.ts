// protocol/: the boundary shapes, defined once. The ids and tags are the fleet/ rules exactly;
// the rollout options accept what `fleet rollout` and the dashboard record and refuse the rest
// by name; the contract's option fixtures are what the CLI really records.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountId, releaseTag, rolloutId, stackName } from "../../protocol/fields";
import { rolloutOptions } from "../../protocol/records";
import { parseFleetEvent } from "../../protocol/events";
import { parseUpgradeResult, targetsStdin } from "../../protocol/onhost";
import { isAccountId, isRolloutId, isStackName } from "../../fleet/ids";
import { isReleaseTag } from "../../fleet/versions";
import { parseFleetConfig } from "../../fleet/config";
import { resolveRolloutOptions, type RolloutCliOptions } from "../../control/options";
import { GATE_OPTIONS, RECORDED_OPTION_SHAPES } from "../../store/contract";
import { prodStackConfig } from "../support/fixtures";
import { formOptions, type UpgradeForm } from "../../dashboard/fleet";

const idLike = fc.oneof(fc.string(), fc.stringMatching(/^[a-z0-9_.\-/]{0,70}$/), fc.stringMatching(/^ro_[a-z0-9]{0,45}$/), fc.stringMatching(/^v\d{1,3}\.\d{1,3}\.\d{1,3}.{0,3}$/));

describe("ids and tags: one pattern each, from fleet/", () => {
  it("each schema accepts exactly what the fleet/ predicate accepts, and names the value when not", () => {
    const pairs = [
      [stackName, isStackName],
      [accountId, isAccountId],
      [rolloutId, isRolloutId],
      [releaseTag, isReleaseTag],
    ] as const;
    fc.assert(
      fc.property(idLike, (value) => {
        for (const [schema, predicate] of pairs) {
          const r = schema.safeParse(value);
          expect(r.success).toBe(predicate(value));
          if (!r.success) expect(r.error.issues[0]!.message).toContain(JSON.stringify(value).slice(0, 20));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("rollout options", () => {
  it("the contract's fixtures are exactly what `fleet rollout` records for each way of starting one", () => {
    const parsed = parseFleetConfig(prodStackConfig());
    if (!parsed.ok) throw new Error("the example stack config does not parse");
    const cli: Record<string, RolloutCliOptions> = {
      "--batch 10%": { to: "v1.2.5", batch: "10%" },
      "--ramp 1,50%": { to: "v1.2.5", ramp: "1,50%" },
      "--canary a": { to: "v1.2.5", canary: "a" },
      "--runtime a b": { to: "v1.2.5", runtime: ["a", "b"] },
    };
    for (const [shape, given] of Object.entries(cli)) {
      expect(resolveRolloutOptions(given, parsed.config).recorded, shape).toEqual(RECORDED_OPTION_SHAPES[shape]);
    }
    // The dashboard records its form as the CLI's options (dashboard/fleet.ts formOptions) plus its
    // source (control/operations.ts startRollout).
    const form = (over: Partial<UpgradeForm>): UpgradeForm => ({ to: "v1.2.5", strategy: "canary", autoRollback: true, pauseOnFailure: true, skipUpgraded: false, ...over });
    const dashboard: Record<string, UpgradeForm> = {
      "dashboard (Start Upgrade, one runtime ticked)": form({ runtime: ["a"] }),
      "dashboard (skip upgraded)": form({ skipUpgraded: true, strategy: "rolling" }),
    };
    for (const [shape, f] of Object.entries(dashboard)) {
      expect({ ...resolveRolloutOptions(formOptions(f, parsed.config), parsed.config).recorded, source: "dashboard" }, shape).toEqual(RECORDED_OPTION_SHAPES[shape]);
    }
  });

  const step = fc.oneof(fc.integer({ min: 1, max: 999_999 }).map(String), fc.integer({ min: 1, max: 100 }).map((n) => `${n}%`));
  const options = fc.record(
    {
      batchPercent: fc.integer({ min: 0, max: 100 }),
      waitSeconds: fc.integer({ min: 0, max: 86_400 }),
      bakeMinutes: fc.double({ min: 0, max: 1440, noNaN: true }),
      maxBatchFailurePercent: fc.integer({ min: 0, max: 100 }),
      autoRollback: fc.boolean(),
      skipUpgraded: fc.boolean(),
      batch: step,
      ramp: fc.array(step, { minLength: 1, maxLength: 5 }).map((s) => s.join(",")),
      canary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/),
      source: fc.constantFrom("dashboard", "cli"),
    },
    { requiredKeys: [] },
  );

  it("accepts every combination the CLI and the dashboard can record", () => {
    fc.assert(
      fc.property(options, (o) => {
        expect(rolloutOptions.safeParse(o).success).toBe(true);
      }),
    );
  });

  it("refuses an undeclared option or a bad value with one line naming the field", () => {
    fc.assert(
      fc.property(options, fc.stringMatching(/^[a-zA-Z]{1,12}$/), (o, extra) => {
        fc.pre(!(extra in rolloutOptions.shape));
        const r = rolloutOptions.safeParse({ ...o, [extra]: 1 });
        expect(r.success).toBe(false);
        expect(JSON.stringify(r.error!.issues)).toContain(extra);
      }),
    );
    const event = (options: unknown) => ({ id: "e", type: "rollout.created", rollout: { rolloutId: "ro_abc123", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "canary", options: { ...GATE_OPTIONS, ...(options as object) }, initiatedBy: "a", batches: [["a"]] } });
    expect(parseFleetEvent(event({ batch: "0%" }))).toEqual({ ok: false, error: expect.stringMatching(/^invalid event: rollout\.options\.batch: .*"0%" is not a batch size/) });
    expect(parseFleetEvent(event({ ramp: "1,,5" }))).toEqual({ ok: false, error: expect.stringMatching(/^invalid event: rollout\.options\.ramp: .*not a ramp/) });
    expect(parseFleetEvent(event({ minHealthyPercent: 101 }))).toEqual({ ok: false, error: expect.stringMatching(/^invalid event: rollout\.options\.minHealthyPercent: /) });
    expect(parseFleetEvent(event({ source: "<script>" }))).toEqual({ ok: false, error: expect.stringMatching(/^invalid event: rollout\.options\.source: "<script>" is not a label/) });
  });
});

describe("the on-host script's messages", () => {
  it("stdin is one JSON object of two release tags; anything else never reaches a host", () => {
    expect(JSON.parse(targetsStdin({ openclaw: "v1.2.5", runtimeService: "v0.5.2" }))).toEqual({ openclaw: "v1.2.5", runtimeService: "v0.5.2" });
    expect(() => targetsStdin({ openclaw: "v1.2.5; reboot", runtimeService: "v0.5.2" })).toThrow(/openclaw: .*not a release tag/);
  });

  it("the result line is read leniently past its status, and a line without a known status is no result", () => {
    const line = JSON.stringify({ status: "rolled_back", from: { openclaw: "v1.2.3" }, to: null, durationMs: "slow", error: "health", last: { status: "failed" }, extra: 1 });
    expect(parseUpgradeResult(`noise\nfleet: ${line}\n`)).toEqual({ status: "rolled_back", from: { openclaw: "v1.2.3" }, to: null, durationMs: 0, error: "health", last: { status: "failed", from: null, to: null, durationMs: 0, error: null } });
    expect(parseUpgradeResult('{"status":"exploded"}')).toBeUndefined();
    expect(parseUpgradeResult("")).toBeUndefined();
  });
});
