// What keeps a targeted `pulumi up` cheap in a large fleet: the batch's environment, the bounded
// file-backend copies, and the per-run timings read from engine events.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import type { Stack } from "@pulumi/pulumi/automation";
import { BATCH_PARALLEL_MAX, batchEnv, batchParallel, childUrn, defaultEngineEnv, pruneFileBackendCopies, runtimeTargets, StackOutputsCollector, TimingCollector, withoutReadBack } from "../../control/engine";
import { parseReported } from "../../components/runtime";

describe("a batch's engine environment", () => {
  it("names the batch for the program and skips intermediate checkpoints when every step is a remote command", () => {
    expect(batchEnv([{ accountId: "lab-01", provider: "existing" }, { accountId: "lab-02", provider: "existing" }])).toEqual({
      FLEET_ENGINE_TARGETS: "lab-01,lab-02",
      PULUMI_SKIP_CHECKPOINTS: "true",
    });
  });

  it("keeps every checkpoint when the batch has a droplet (a created droplet must never be forgotten)", () => {
    expect(batchEnv([{ accountId: "a", provider: "existing" }, { accountId: "b", provider: "digitalocean" }])).toEqual({ FLEET_ENGINE_TARGETS: "a,b" });
  });

  it("never narrows an untargeted run (it would delete the runtimes the program left out)", () => {
    expect(batchEnv([])).toEqual({});
    expect(batchEnv([], "inline")).toEqual({});
  });

  it("tells an inline program its batch through its options, not the environment", () => {
    expect(batchEnv([{ accountId: "lab-01", provider: "existing" }], "inline")).toEqual({ PULUMI_SKIP_CHECKPOINTS: "true" });
  });

  it("runs every deploy of a batch at once, past the engine's default of 4 per CPU, up to a bound", () => {
    expect(batchParallel(10, {}, 2)).toEqual({ parallel: 10 }); // the default would be 8: two waves
    expect(batchParallel(8, {}, 2)).toEqual({});
    expect(batchParallel(300, {}, 2)).toEqual({ parallel: BATCH_PARALLEL_MAX });
    expect(batchParallel(300, {}, 32)).toEqual({}); // 4 per CPU is already 128
    expect(batchParallel(30, { PULUMI_PARALLEL: "4" }, 2)).toEqual({}); // the user's choice stands
    expect(batchParallel(0, {}, 2)).toEqual({}); // an untargeted run keeps the engine's default
  });

  it("targets a runtime's deploy and install, and a verify only where the component makes one (an agent runtime)", () => {
    const children = (t: Parameters<typeof runtimeTargets>[1]) => runtimeTargets("lab", t).map((u) => u.split("::").at(-1));
    expect(children({ accountId: "lab-01", provider: "existing" })).toEqual(["lab-01", "lab-01-install", "lab-01-deploy"]);
    expect(children({ accountId: "lab-01", provider: "existing", executor: "agent" })).toEqual(["lab-01", "lab-01-install", "lab-01-agent", "lab-01-verify"]);
    expect(children({ accountId: "d", provider: "digitalocean" })).toEqual(["d", "d-droplet", "d-install", "d-deploy"]);
  });

  it("runs the program without a deploy-time type-check and the file backend without full backups", () => {
    expect(defaultEngineEnv()).toMatchObject({ PULUMI_NODEJS_TRANSPILE_ONLY: "true", PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS: "true" });
  });
});

describe("the file backend's copies of the checkpoint", () => {
  it("keeps the newest few checkpoint copies and every update record", () => {
    const root = mkdtempSync(path.join(os.tmpdir(), "fleet-prune-"));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    const history = path.join(root, ".pulumi", "history", "runtime-fleet", "lab");
    const backups = path.join(root, ".pulumi", "backups", "runtime-fleet", "lab");
    mkdirSync(history, { recursive: true });
    mkdirSync(backups, { recursive: true });
    for (let i = 0; i < 8; i++) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, i));
      for (const f of [`lab-${i}.checkpoint.json.zst`, `lab-${i}.checkpoint.json.zst.attrs`, `lab-${i}.history.json`]) {
        writeFileSync(path.join(history, f), "x");
        utimesSync(path.join(history, f), at, at);
      }
      writeFileSync(path.join(backups, `lab.${i}.json`), "x");
      utimesSync(path.join(backups, `lab.${i}.json`), at, at);
    }
    expect(pruneFileBackendCopies(root, "runtime-fleet", "lab", 3)).toBe(5 + 5);
    const left = readdirSync(history).sort();
    expect(left.filter((f) => f.endsWith(".checkpoint.json.zst"))).toEqual(["lab-5.checkpoint.json.zst", "lab-6.checkpoint.json.zst", "lab-7.checkpoint.json.zst"]);
    expect(left.filter((f) => f.endsWith(".attrs"))).toHaveLength(3);
    expect(left.filter((f) => f.endsWith(".history.json"))).toHaveLength(8);
    expect(readdirSync(backups).sort()).toEqual(["lab.5.json", "lab.6.json", "lab.7.json"]);
  });
});

describe("a run's timings", () => {
  it("reads program start, each runtime's command span and the script's own duration from the events", () => {
    let now = 1_000;
    const timing = new TimingCollector(() => now);
    const step = (urn: string, op = "update"): EngineEvent => ({ sequence: 0, timestamp: 0, resourcePreEvent: { metadata: { op, urn, type: "t", provider: "" } } }) as EngineEvent;
    const done = (urn: string, stdout?: string): EngineEvent =>
      ({ sequence: 0, timestamp: 0, resOutputsEvent: { metadata: { op: "update", urn, type: "t", provider: "", new: { urn, type: "t", inputs: {}, outputs: stdout ? { stdout } : {}, custom: true, parent: "", provider: "", id: "" } } } }) as unknown as EngineEvent;
    const deploy = childUrn("lab", "lab-01", "deploy");
    const verify = childUrn("lab", "lab-01", "verify");
    now = 3_500;
    timing.handle(step("urn:pulumi:lab::runtime-fleet::runtime-fleet:index:Runtime::lab-01", "same"));
    now = 3_600;
    timing.handle(step(deploy));
    now = 6_000;
    timing.handle(done(deploy, 'log line\n{"status":"success","from":null,"to":null,"durationMs":1900,"error":null}'));
    timing.handle(step(verify));
    now = 6_400;
    timing.handle(done(verify));
    now = 7_000;
    expect(timing.result()).toEqual({ totalMs: 6_000, programStartMs: 2_500, perRuntime: { "lab-01": { commandMs: 2_800, scriptMs: 1_900 } }, afterStepsMs: 600 });
  });
});

describe("what a batch reads back without extra CLI runs", () => {
  const stackDone = (outputs: Record<string, unknown>): EngineEvent =>
    ({ sequence: 1, timestamp: 0, resOutputsEvent: { metadata: { op: "same", urn: "urn:pulumi:lab::runtime-fleet::pulumi:pulumi:Stack::runtime-fleet-lab", type: "pulumi:pulumi:Stack", provider: "", new: { outputs } } } }) as unknown as EngineEvent;

  it("takes the stack's outputs from its last event, and asks the CLI when an output is masked", async () => {
    const c = new StackOutputsCollector();
    expect(c.outputMap()).toBeUndefined();
    c.handle(stackDone({ release: "r1", fleetRuntimes: { "lab-01": { address: "127.0.0.11" } } }));
    expect(c.outputMap()).toEqual({ release: { value: "r1", secret: false }, fleetRuntimes: { value: { "lab-01": { address: "127.0.0.11" } }, secret: false } });
    let asked = 0;
    const real = { outputs: async () => ((asked += 1), { release: { value: "from the CLI", secret: false } }), info: async () => ({ kind: "update" }) } as unknown as Stack;
    const fast = withoutReadBack(real, c);
    expect(await fast.outputs()).toEqual(c.outputMap());
    expect(await fast.info()).toBeUndefined();
    expect(asked).toBe(0);
    c.handle(stackDone({ release: "[secret]" }));
    expect(await fast.outputs()).toEqual({ release: { value: "from the CLI", secret: false } });
    expect(asked).toBe(1);
  });

  it("reads the reported versions from a deploy's result line or a status line, and nothing from a result without them", () => {
    expect(parseReported('log\n{"id":"x","status":"success","to":{"openclaw":"v1.2.5","runtimeService":"v0.5.0"},"reported":{"openclaw":"v1.2.5","runtimeService":"v0.5.0"}}')).toEqual({ openclaw: "v1.2.5", runtimeService: "v0.5.0" });
    expect(parseReported('{"status":"noop","to":{"openclaw":"v1.2.5","runtimeService":"v0.5.0"},"reported":null}')).toEqual({ openclaw: "", runtimeService: "" });
    expect(parseReported('{"status":"success","to":{"openclaw":"v1.2.5","runtimeService":"v0.5.0"}}')).toEqual({ openclaw: "", runtimeService: "" });
    expect(parseReported('{"openclaw":"v1.2.3","runtimeService":"v0.5.0","healthy":true,"reported":{"openclaw":"v1.2.4","runtimeService":"v0.5.0"}}')).toEqual({ openclaw: "v1.2.4", runtimeService: "v0.5.0" });
  });
});
