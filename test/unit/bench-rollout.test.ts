// bench:rollout's own pieces without a lab: its options, the floor's output, the engine's spans.
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { engineSpans, parseBenchArgs, report } from "../../bench/rollout";
import { parseFloorOutput } from "../../bench/floor";

describe("bench:rollout", () => {
  it("takes --hosts and --runs, 100 hosts and one run by default", () => {
    expect(parseBenchArgs([])).toEqual({ hosts: 100, runs: 1 });
    expect(parseBenchArgs(["--hosts", "20", "--runs", "2"])).toEqual({ hosts: 20, runs: 2 });
  });

  it.each([
    [["--hosts", "0"], /--hosts: "0" is not a count \(expected an integer 1\.\.200\)/],
    [["--hosts", "1000"], /--hosts: "1000" is not a count/],
    [["--runs"], /--runs: "" is not a count/],
    [["--fast"], /"--fast": not an option \(expected --hosts N, --runs R\)/],
  ])("refuses %j in one line naming the option and the value", (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it("reports the state per runtime, stored and as JSON, and what the backend keeps", () => {
    const state = { storedBytes: 235_520, jsonBytes: 1_157_120, keptBytes: 952_320, keptFiles: 16, updates: 21 };
    expect(report([], 100, 45_000, 1, state)).toContain("state per runtime after 21 updates: 2.3 KiB stored, 11.3 KiB as JSON; history and backups kept: 930.0 KiB in 16 files");
    expect(report([], 100, 45_000, 1)).not.toContain("state per runtime");
  });

  it("reads the floor script's batch and host lines, ignoring anything else", () => {
    const out = parseFloorOutput("host lab-01 0 1000 2500\nhost lab-02 255 1000 1800\nnoise\nbatch 0 990 2510\n");
    expect(out.batches).toEqual([{ index: 0, startMs: 990, endMs: 2510 }]);
    expect(out.hosts.get("lab-02")).toEqual({ code: 255, startMs: 1000, endMs: 1800 });
  });

  it("times program start to the first runtime resource, and each runtime from its deploy to its last command", () => {
    const urn = (child: string) => `urn:pulumi:lab::runtime-fleet::runtime-fleet:index:Runtime$command:remote:Command::lab-01-${child}`;
    const ev = (at: number, event: Partial<EngineEvent>) => ({ at, event: { sequence: 0, timestamp: 0, ...event } as EngineEvent });
    const meta = (u: string, op: string) => ({ metadata: { urn: u, op, type: "command:remote:Command", provider: "" } });
    const spans = engineSpans(1000, [
      ev(1500, { resourcePreEvent: meta("urn:pulumi:lab::runtime-fleet::pulumi:pulumi:Stack::runtime-fleet-lab", "same") } as never),
      ev(4000, { resourcePreEvent: meta(urn("deploy"), "update") } as never),
      ev(6000, { resOutputsEvent: meta(urn("deploy"), "update") } as never),
      ev(6100, { resourcePreEvent: meta(urn("verify"), "update") } as never),
      ev(6600, { resOutputsEvent: meta(urn("verify"), "update") } as never),
    ]);
    expect(spans.programStartMs).toBe(3000);
    expect(spans.hostMs.get("lab-01")).toBe(2600);
    // A runtime without a verify (the deploy reads its versions back): its deploy alone.
    expect(engineSpans(1000, [ev(4000, { resourcePreEvent: meta(urn("deploy"), "update") } as never), ev(6000, { resOutputsEvent: meta(urn("deploy"), "update") } as never)]).hostMs.get("lab-01")).toBe(2000);
  });
});
