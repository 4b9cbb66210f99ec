// What keeps a targeted `pulumi up` cheap in a large fleet: the batch's environment, the bounded
// file-backend copies, and the per-run timings read from engine events.
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { batchEnv, childUrn, defaultEngineEnv, pruneFileBackendCopies, TimingCollector } from "../../control/engine";

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
  });

  it("runs the program without a deploy-time type-check and the file backend without full backups", () => {
    expect(defaultEngineEnv()).toMatchObject({ PULUMI_NODEJS_TRANSPILE_ONLY: "true", PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS: "true" });
  });
});

describe("the file backend's copies of the checkpoint", () => {
  it("keeps the newest few checkpoint copies and every update record", () => {
    const root = mkdtempSync(path.join(os.tmpdir(), "fleet-prune-"));
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
