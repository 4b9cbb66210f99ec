// Releases and promotion: tag parsing and classification, the promotion check, the release edit
// (comments kept), and `fleet promote`'s bad-input refusals (exit 2, files byte-identical).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import {
  openclawReleases,
  parseLsRemoteTags,
  promotionProblems,
  redactRemote,
  releaseList,
  runtimeServiceReleases,
  setStackRelease,
  stackConfigText,
  type RuntimeEvidence,
} from "../../control/releases";
import type { Release } from "../../fleet/config";
import { fleet } from "../support/cli";
import { ROOT } from "../support/fixtures";

const LS_REMOTE = [
  "aaa\trefs/tags/v1.1.5",
  "bbb\trefs/tags/v1.2.0",
  "ccc\trefs/tags/v1.3.0-rc.1",
  "ddd\trefs/tags/v1.2.6",
  "ddd\trefs/tags/v1.2.6^{}",
  "eee\trefs/tags/runtime-service/v0.5.0",
  "fff\trefs/tags/runtime-service/v0.5.2",
  "999\trefs/tags/nightly",
  "888\trefs/heads/main",
  "",
].join("\n");

describe("release tags from git ls-remote", () => {
  const tags = parseLsRemoteTags(LS_REMOTE);
  it("reads tag names, folding peeled refs, ignoring branches", () => {
    expect(tags).toEqual(["v1.1.5", "v1.2.0", "v1.3.0-rc.1", "v1.2.6", "runtime-service/v0.5.0", "runtime-service/v0.5.2", "nightly"]);
  });
  it("openclaw: plain release tags sorted; the latest is the newest stable", () => {
    expect(openclawReleases(tags)).toEqual(["v1.1.5", "v1.2.0", "v1.2.6", "v1.3.0-rc.1"]);
    expect(releaseList("file:///o.git", openclawReleases(tags)).latest).toBe("v1.2.6");
    expect(releaseList("x", []).latest).toBeUndefined();
  });
  it("runtime service: runtime-service/vX.Y.Z tags of the shared remote; plain tags only from a dedicated one", () => {
    expect(runtimeServiceReleases(tags, false)).toEqual(["v0.5.0", "v0.5.2"]);
    expect(runtimeServiceReleases(["v0.6.0", "runtime-service/v0.5.2", "junk"], true)).toEqual(["v0.5.2", "v0.6.0"]);
  });
  it("never shows credentials of a remote", () => {
    expect(redactRemote("https://user:ghp_secret@github.com/o/r.git")).toBe("https://***@github.com/o/r.git");
    expect(redactRemote("file:///tmp/o.git")).toBe("file:///tmp/o.git");
  });
});

describe("promotionProblems", () => {
  const release = { openclaw: "v1.2.5", runtimeService: "v0.5.2" } as Release;
  const good = (id: string): RuntimeEvidence => ({
    accountId: id,
    configured: { ...release },
    observed: { openclaw: "v1.2.5", runtimeService: "v0.5.2", status: "online" },
    probe: { reachable: true, healthy: true, version: { ...release } },
  });
  it("promotable when every runtime runs the release by config, store and /version, healthy", () => {
    expect(promotionProblems("staging", release, [good("a"), good("b")])).toEqual([]);
    const noRecord = good("c");
    delete noRecord.observed;
    expect(promotionProblems("staging", release, [noRecord])).toEqual([]);
  });
  it("names every reason: config behind, store behind, /version behind, unhealthy, unreachable, no runtimes", () => {
    const behind = { ...good("a"), configured: { openclaw: "v1.2.3", runtimeService: "v0.5.2" } };
    const stale = { ...good("b"), observed: { openclaw: "v1.2.3", runtimeService: "v0.5.2", status: "online" } };
    const served = { ...good("c"), probe: { reachable: true, healthy: true, version: { openclaw: "v1.2.3", runtimeService: "v0.5.2" } } };
    const sick = { ...good("d"), probe: { reachable: true, healthy: false, error: "/health answered 503", version: { ...release } } };
    const gone = { ...good("e"), probe: { reachable: false, healthy: false, error: "ECONNREFUSED" } };
    expect(promotionProblems("staging", release, [behind, stale, served, sick, gone])).toEqual([
      "staging/a: stack config has v1.2.3/v0.5.2, not the release v1.2.5/v0.5.2 (finish the rollout first)",
      "staging/b: the store last observed v1.2.3/v0.5.2, not v1.2.5/v0.5.2 (run `fleet health --stack staging` after the deploy)",
      "staging/c: /version reports v1.2.3/v0.5.2, not v1.2.5/v0.5.2",
      "staging/d: not healthy (/health answered 503)",
      "staging/e: unreachable (ECONNREFUSED)",
    ]);
    expect(promotionProblems("staging", release, [])[0]).toMatch(/has no runtimes/);
  });
});

describe("setStackRelease", () => {
  it("changes only fleet:release, keeping comments and the rest byte for byte", () => {
    const text = readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8");
    const doc = parseDocument(text);
    const previous = setStackRelease(doc, { openclaw: "v1.2.6", runtimeService: "v0.5.3" } as Release, "Pulumi.prod.yaml");
    expect(previous).toEqual({ openclaw: "v1.2.5", runtimeService: "v0.5.2" });
    const out = stackConfigText(doc);
    const expected = text.replace("  fleet:release:\n    openclaw: v1.2.5\n    runtimeService: v0.5.2", "  fleet:release:\n    openclaw: v1.2.6\n    runtimeService: v0.5.3");
    expect(out).toBe(expected);
  });
  it("refuses a value that is not a release tag", () => {
    expect(() => setStackRelease(parseDocument("config: {}\n"), { openclaw: "latest", runtimeService: "v0.5.0" } as unknown as Release, "f")).toThrow(/fleet:release.openclaw: "latest" is not a release tag/);
  });
});

describe("fleet promote: bad input is exit 2 and changes nothing", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-promote-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), path.join(dir, "Pulumi.prod.yaml"));
  const staging = readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8").replace("openclaw: v1.2.5\n    runtimeService: v0.5.2\n  fleet:policy", "openclaw: v1.2.3\n    runtimeService: v0.5.2\n  fleet:policy");
  writeFileSync(path.join(dir, "Pulumi.staging.yaml"), staging);
  const files = () => [readFileSync(path.join(dir, "Pulumi.prod.yaml")), readFileSync(path.join(dir, "Pulumi.staging.yaml"))];

  it.each([
    [["--from", "prod", "--to", "prod"], /--to: "prod" is the same stack as --from/],
    [["--from", "bad name!", "--to", "prod"], /--from: "bad name!" is not a stack name/],
    [["--from", "staging", "--to", "nowhere"], /Pulumi\.nowhere\.yaml does not exist/],
    [["--from", "staging", "--to", "prod"], /staging's release v1\.2\.3\/v0\.5\.2 is older than prod's v1\.2\.5\/v0\.5\.2; pass --allow-downgrade/],
  ])("promote %j", async (args, message) => {
    const before = files();
    const r = await fleet("promote", ...args, "--project", dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(files()).toEqual(before);
  });

  it("--json reports bad input as one JSON document", async () => {
    const r = await fleet("promote", "--from", "prod", "--to", "prod", "--json", "--project", dir);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, kind: "bad-input" });
  });

  it("a stack already on the release: nothing to do, exit 0, file unchanged", async () => {
    copyFileSync(path.join(dir, "Pulumi.prod.yaml"), path.join(dir, "Pulumi.same.yaml"));
    const before = files();
    const r = await fleet("promote", "--from", "same", "--to", "prod", "--project", dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already on v1\.2\.5/);
    expect(files()).toEqual(before);
  });
});
