// The fault suite's own arithmetic (no lab): what counts as lost, twice and outside the blast
// radius, and the table it prints. A row is only as good as these counts.
import { describe, expect, it } from "vitest";
import type { UpgradeEvent } from "../../store/types";
import { judge, type Evidence, type HostEvidence } from "./harness";
import { formatTable } from "./table";

const host = (runtime: string, over: Partial<HostEvidence> = {}): HostEvidence => ({ runtime, served: "v1.2.3/v0.5.0", healthy: true, restarts: 1, log: [], ...over });
const evidence = (...hosts: HostEvidence[]): Evidence => new Map(hosts.map((h) => [h.runtime, h]));
const to = (openclaw: string) => ({ openclaw, runtimeService: "v0.5.0" });
const record = (eventId: string) => ({ eventId }) as UpgradeEvent;

describe("judging a row from the hosts' evidence", () => {
  const before = evidence(host("lab-01"), host("lab-02"), host("lab-03"));

  it("a result id on a host with no record in the store is lost; one with a record is not", () => {
    const after = evidence(
      host("lab-01", { served: "v1.3.0/v0.5.0", restarts: 2, log: [{ id: "a", status: "success", action: "upgrade", to: to("v1.3.0") }] }),
      host("lab-02", { served: "v1.3.0/v0.5.0", restarts: 2, log: [{ id: "b", status: "success", action: "upgrade", to: to("v1.3.0") }] }),
      host("lab-03"),
    );
    const j = judge(before, after, [record("a")], ["lab-01", "lab-02"]);
    expect(j.lost).toEqual(["lab-02:b"]);
    expect(j.twice).toEqual([]);
    expect(j.outside).toEqual([]);
  });

  it("two successful upgrades to the same versions are a double; an upgrade and its rollback are not", () => {
    const after = evidence(
      host("lab-01", {
        log: [
          { id: "a", status: "success", action: "upgrade", to: to("v1.3.0") },
          { id: "b", status: "success", action: "upgrade", to: to("v1.2.3") },
        ],
      }),
      host("lab-02", {
        served: "v1.3.0/v0.5.0",
        log: [
          { id: "c", status: "success", action: "upgrade", to: to("v1.3.0") },
          { id: "d", status: "success", action: "upgrade", to: to("v1.3.0") },
        ],
      }),
      host("lab-03"),
    );
    const j = judge(before, after, ["a", "b", "c", "d"].map(record), ["lab-01", "lab-02"]);
    expect(j.twice).toEqual(["lab-02"]);
  });

  it("a runtime changed outside the radius is counted, by its versions, its restarts or a run that changed it", () => {
    const after = evidence(
      host("lab-01", { served: "v1.3.0/v0.5.0" }),
      host("lab-02", { restarts: 5 }),
      host("lab-03", { log: [{ id: "e", status: "rolled_back", action: "upgrade", to: to("v1.3.0") }] }),
    );
    expect(judge(before, after, [record("e")], []).outside).toEqual(["lab-01", "lab-02", "lab-03"]);
  });

  it("a run that failed before it changed anything leaves the host untouched, but its record must still be there", () => {
    const after = evidence(host("lab-01", { log: [{ id: "f", status: "failed", action: "upgrade", to: to("v1.3.0") }] }), host("lab-02"), host("lab-03"));
    const j = judge(before, after, [], []);
    expect(j.touched).toEqual([]);
    expect(j.lost).toEqual(["lab-01:f"]);
  });
});

describe("the table", () => {
  it("one line per row with its counts, the rows' verdicts and a closing count", () => {
    const table = formatTable(
      [
        { fault: "upgrade fails", action: "halted | canary", outside: [], lost: [], twice: [], stableMs: 12_340, ok: true },
        { fault: "ssh dropped", action: "halted", outside: [], lost: ["lab-01:x"], twice: [], stableMs: null, ok: false },
      ],
      61_000,
    );
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^\| fault \| what the fleet did \| outside the blast radius \| records lost \| upgraded twice \| time to stable \| row \|$/);
    expect(lines[2]).toBe("| upgrade fails | halted \\| canary | 0 | 0 | 0 | 12.3 s | pass |");
    expect(lines[3]).toBe("| ssh dropped | halted | 0 | 1 (lab-01:x) | 0 | not stable | FAIL |");
    expect(lines.at(-1)).toBe("2 rows, 1 failed, 61 s in all");
  });
});
