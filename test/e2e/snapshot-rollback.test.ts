// `fleet plan` and `fleet rollback` across a release that migrates the state, on the lab with the
// real engine, run as a user runs them (the `fleet` CLI as a child process). The state's bytes
// are checked on the host itself.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { stateChecksums as labStateChecksums } from "../../lab/kit";
import { fleetRunner, labProject, type LabProject } from "./helpers/labProject";

describe("fleet rollback across a migrating release (real engine)", () => {
  let p: LabProject;
  let root: string;

  beforeAll(async () => {
    // v1.3.0 carries .fleet/migrating and rewrites the state when it starts.
    p = await labProject(1, { migratingReleases: ["v1.3.0"] });
    root = p.lab.hosts[0]!.root;
    const doc = parseDocument(readFileSync(p.configFile, "utf8"));
    doc.setIn(["config", "fleet:policy", "migratingReleases"], ["v1.3.0"]);
    writeFileSync(p.configFile, doc.toString());
    const first = await p.engine().up([{ accountId: "lab-01", provider: "existing" as const }]);
    expect(first.ok).toBe(true);
  });
  afterAll(async () => {
    await p?.down();
  });

  const fleet = fleetRunner(() => p, 5 * 60_000);
  const served = async () => (await p.status()).map((h) => (h.healthy ? `${h.openclaw}/${h.runtimeService}` : "unhealthy"))[0];
  const configured = () => (p.stackConfig()["fleet:runtimes"] as Array<{ openclaw: string }>)[0]!.openclaw;
  const stateChecksums = () => labStateChecksums(root);

  it("fleet plan says the rollout crosses the migrating release", async () => {
    const r = await fleet("plan", "--to", "v1.3.0", "--strategy", "immediate", "--no-preview");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("crosses migrating release v1.3.0 (1 runtimes: lab-01): it rewrites their state");
  });

  it("goes back with the snapshot of the old version's state, byte-identical, and says so", async () => {
    const before = stateChecksums();
    const up = await fleet("rollout", "--to", "v1.3.0", "--strategy", "immediate", "--wait", "0s");
    expect(up.code, up.stderr).toBe(0);
    expect(await served()).toBe("v1.3.0/v0.5.0");
    expect(stateChecksums()).not.toEqual(before); // migrated
    const back = await fleet("rollback", "--runtime", "lab-01");
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout.trim()).toBe("lab-01: restored to v1.2.3/v0.5.0 across migrating v1.3.0, with the snapshot of its v1.2.3/v0.5.0 state");
    expect(await served()).toBe("v1.2.3/v0.5.0");
    expect(stateChecksums()).toEqual(before);
  });

  it("without the snapshot, refuses naming the release and the missing snapshot; nothing changes", async () => {
    const up = await fleet("rollout", "--to", "v1.3.0", "--strategy", "immediate", "--wait", "0s");
    expect(up.code, up.stderr).toBe(0);
    const snapshots = path.join(root, "state", "snapshots");
    for (const id of readdirSync(snapshots)) rmSync(path.join(snapshots, id), { recursive: true, force: true });
    const state = stateChecksums();
    const back = await fleet("rollback", "--runtime", "lab-01", "--to", "v1.2.3");
    expect(back.code).toBe(1);
    expect(back.stdout).toContain(
      "lab-01: rollback to v1.2.3/v0.5.0 across migrating v1.3.0 FAILED: rollback from v1.3.0 to v1.2.3 crosses migrating release v1.3.0 and the snapshot of the v1.2.3/v0.5.0 state is missing on this host: nothing was changed",
    );
    expect(await served()).toBe("v1.3.0/v0.5.0");
    expect(stateChecksums()).toEqual(state);
    expect(configured()).toBe("v1.3.0");
  });
});
