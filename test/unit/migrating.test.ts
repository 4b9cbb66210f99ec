// Migrating releases (fleet:policy.migratingReleases): which a rollout crosses, and how `fleet
// plan` says so.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { describeCrossings, describeRollback } from "../../cli/commands/rollout";
import { parseFleetConfig } from "../../fleet/config";
import { migratingCrossings, type RolloutPlan } from "../../fleet/plan";
import { compareReleases, type ReleaseTag } from "../../fleet/versions";
import { prodStackConfig } from "../support/fixtures";

const move = (from: string, to: string) => ({ from: { openclaw: from, runtimeService: "v0.5.0" }, to: { openclaw: to, runtimeService: "v0.5.0" } });

describe("migratingCrossings", () => {
  it("names a migrating release a rollout moves across, forward or back, with the runtimes", () => {
    const moves: RolloutPlan["moves"] = { a: move("v1.2.3", "v1.3.0"), b: move("v1.2.5", "v1.3.1"), c: move("v1.3.0", "v1.2.3"), d: move("v1.3.0", "v1.3.1") };
    expect(migratingCrossings(moves, ["v1.3.0"])).toEqual([
      { release: "v1.3.0", direction: "forward", accountIds: ["a", "b"] },
      { release: "v1.3.0", direction: "back", accountIds: ["c"] },
    ]);
    expect(migratingCrossings(moves, [])).toEqual([]);
    expect(migratingCrossings({ e: move("v1.2.3", "v1.2.5") }, ["v1.3.0", "v1.2.0"])).toEqual([]);
  });

  it("property: a release is crossed exactly when it lies above the lower and at or below the higher version", () => {
    const tag = fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)).map(([a, b, c]) => `v${a}.${b}.${c}`);
    fc.assert(
      fc.property(tag, tag, tag, (from, to, release) => {
        const crossed = migratingCrossings({ r: move(from, to) }, [release]).length === 1;
        const [low, high] = compareReleases(from, to) <= 0 ? [from, to] : [to, from];
        expect(crossed).toBe(compareReleases(release, low) > 0 && compareReleases(release, high) <= 0);
      }),
    );
  });

  it("fleet plan's lines say what each direction means", () => {
    expect(describeCrossings([{ release: "v1.3.0" as ReleaseTag, direction: "forward", accountIds: ["a", "b"] }])).toEqual([
      "  crosses migrating release v1.3.0 (2 runtimes: a, b): it rewrites their state; going back needs the snapshot each host takes before it",
    ]);
    expect(describeCrossings([{ release: "v1.3.0" as ReleaseTag, direction: "back", accountIds: ["c"] }])[0]).toMatch(/goes back across migrating release v1\.3\.0 \(1 runtimes: c\): each host restores the snapshot/);
  });
});

describe("fleet:policy snapshot settings", () => {
  it("defaults: keep 3 within 1 GiB, no droplet snapshot, no migrating release", () => {
    const parsed = parseFleetConfig(prodStackConfig());
    expect(parsed.ok && parsed.config.policy.snapshots).toEqual({ keep: 3, budgetBytes: 1024 ** 3, dropletSnapshotOnMajor: false });
    expect(parsed.ok && parsed.config.policy.migratingReleases).toEqual([]);
  });

  it("refuses a bad keep, budget or migrating release naming the field", () => {
    const config = prodStackConfig();
    (config["fleet:policy"] as Record<string, unknown>).snapshots = { keep: 0, budgetBytes: -5 };
    (config["fleet:policy"] as Record<string, unknown>).migratingReleases = ["v1.3"];
    const parsed = parseFleetConfig(config);
    expect(parsed.ok).toBe(false);
    const text = JSON.stringify(!parsed.ok && parsed.errors);
    expect(text).toMatch(/snapshots\.keep/);
    expect(text).toMatch(/snapshots\.budgetBytes/);
    expect(text).toMatch(/migratingReleases\.0|migratingReleases\[0\]/);
  });
});

describe("fleet rollback's line", () => {
  const to = { openclaw: "v1.2.3", runtimeService: "v0.5.0" } as const;
  it("says the snapshot was restored when it went back across a migrating release", () => {
    expect(describeRollback({ accountId: "a1", to, ok: true, crosses: ["v1.3.0"] })).toBe("a1: restored to v1.2.3/v0.5.0 across migrating v1.3.0, with the snapshot of its v1.2.3/v0.5.0 state");
    expect(describeRollback({ accountId: "a1", to, ok: true, crosses: [] })).toBe("a1: restored to v1.2.3/v0.5.0");
  });
  it("gives the host's refusal, which names the release and the missing snapshot", () => {
    const reason = "rollback from v1.3.0 to v1.2.3 crosses migrating release v1.3.0 and the snapshot of the v1.2.3/v0.5.0 state is missing on this host: nothing was changed";
    expect(describeRollback({ accountId: "a1", to, ok: false, crosses: ["v1.3.0"], reason })).toBe(`a1: rollback to v1.2.3/v0.5.0 across migrating v1.3.0 FAILED: ${reason}`);
  });
});
