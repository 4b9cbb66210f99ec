// The lease as the store domain decides it (store/domain/lease.ts), with times the contract suite
// cannot set on every adapter: expiry, takeover of an expired lease, heartbeats, the fence.
import { describe, expect, it } from "vitest";
import { acquireLock, fenceRollout, leaseExpired, leaseRowOf, removeLock, type LeaseRow } from "../../store/domain/lease";

const T0 = 1_800_000_000_000;
const alice = { pid: 100, host: "ci-1", user: "alice", startedAt: T0, rolloutId: "ro_lease0001", leaseSeconds: 60 };
const bob = { pid: 200, host: "ci-2", user: "bob", startedAt: T0, rolloutId: "ro_lease0001", leaseSeconds: 60 };
const free: LeaseRow = { holder: null, generation: 0 };

describe("the lease", () => {
  it("expires at its length from its last renewal, and is then taken over one generation up, said in the activity log", () => {
    const a = acquireLock(free, "prod", alice, T0);
    expect(a.result).toEqual({ ok: true, holder: { ...alice, generation: 1, expiresAt: T0 + 60_000 } });
    const held = a.write!;
    expect(acquireLock(held, "prod", bob, T0 + 59_999).result).toMatchObject({ ok: false, holder: { pid: 100 } });
    const beat = acquireLock(held, "prod", a.result.holder!, T0 + 40_000);
    expect(beat.result).toMatchObject({ ok: true, holder: { generation: 1, expiresAt: T0 + 100_000 } });
    expect(leaseExpired(beat.write!.holder!, T0 + 99_999)).toBe(false);
    expect(leaseExpired(beat.write!.holder!, T0 + 100_000)).toBe(true);
    const taken = acquireLock(beat.write!, "prod", bob, T0 + 100_000);
    expect(taken.result).toEqual({ ok: true, holder: { ...bob, generation: 2, expiresAt: T0 + 160_000 } });
    expect(taken.activity).toMatchObject({ action: "lock.takeover", actor: "bob@ci-2", message: "rollout lease of prod taken over (pid 200, generation 2) from expired pid 100 on ci-1" });
    // the old holder's heartbeat is refused and names its successor; it cannot renew into the lease again
    expect(acquireLock(taken.write!, "prod", a.result.holder!, T0 + 100_001)).toMatchObject({ result: { ok: false, holder: { pid: 200, generation: 2 } }, write: null });
  });

  it("keeps its generation after a release, and a heartbeat of a released lease is refused", () => {
    const a = acquireLock(free, "prod", alice, T0);
    const released = removeLock(a.write!, "prod", alice, "release", T0 + 1);
    expect(released).toMatchObject({ removed: true, write: { holder: null, generation: 1 } });
    expect(acquireLock(released.write!, "prod", a.result.holder!, T0 + 2).result).toEqual({ ok: false, holder: null });
    expect(acquireLock(released.write!, "prod", bob, T0 + 2).result.holder).toMatchObject({ generation: 2 });
  });

  it("a lock of an older version (no generation, no expiry) never expires and counts as generation 0", () => {
    const old = leaseRowOf({ pid: 7, host: "ci-1", user: "ana", startedAt: T0 }, undefined);
    expect(old.generation).toBe(0);
    expect(acquireLock(old, "prod", bob, T0 + 86_400_000).result.ok).toBe(false);
  });

  it("the fence refuses an older generation than the record's or the lease's, naming the successor, and lets unfenced writes pass", () => {
    const lease: LeaseRow = { holder: { ...bob, generation: 3 }, generation: 3 };
    expect(() => fenceRollout({ rolloutId: "ro_lease0001", generation: 2 }, lease, 2)).toThrow("stale write to rollout ro_lease0001: generation 2 was taken over by generation 3 (held by bob@ci-2, pid 200)");
    expect(() => fenceRollout({ rolloutId: "ro_lease0001", generation: 4 }, null, 3)).toThrow("stale write to rollout ro_lease0001: generation 3 was taken over by generation 4");
    expect(() => fenceRollout({ rolloutId: "ro_lease0001", generation: 3 }, lease, 3)).not.toThrow();
    expect(() => fenceRollout({ rolloutId: "ro_lease0001", generation: 9 }, lease, undefined)).not.toThrow();
  });
});
