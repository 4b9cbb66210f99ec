// `fleet validate` as a user runs it: exit 0 with a summary, or exit 2 naming each bad path.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { fleet } from "../support/cli";
import { prodStackConfig, runtimesOf, ROOT, yamlAliasBomb } from "../support/fixtures";

const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-validate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeStack(name: string, mutate: (c: Record<string, unknown>) => void): string {
  const config = prodStackConfig();
  mutate(config);
  const file = path.join(dir, `Pulumi.${name}.yaml`);
  writeFileSync(file, stringify({ config }));
  return file;
}

describe("fleet validate", () => {
  it("accepts the example production stack with a one-line summary", async () => {
    const r = await fleet("validate", "--stack", "prod", "--project", ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toMatch(/^valid: 5 runtimes \(5 droplets, 0 existing hosts\), release openclaw v1\.2\.5/);
  });

  const cases: Array<[string, (c: Record<string, unknown>) => void, string]> = [
    ["shell characters in a version", (c) => void (runtimesOf(c)[2]!.openclaw = "v1.2.3; rm -rf /"),
      'fleet:runtimes[2].openclaw: "v1.2.3; rm -rf /" is not a release tag (expected vMAJOR.MINOR.PATCH)'],
    ["latest", (c) => void ((c["fleet:release"] as Record<string, unknown>).openclaw = "latest"),
      'fleet:release.openclaw: "latest" is not a release tag'],
    ["a version below the minimum supported", (c) => void (runtimesOf(c)[1]!.openclaw = "v1.0.0"),
      'fleet:runtimes[1].openclaw: "v1.0.0" is below the minimum supported v1.1.0'],
    ["duplicate accountIds", (c) => void (runtimesOf(c)[3]!.accountId = "acc-abc123"),
      'fleet:runtimes[3].accountId: "acc-abc123" duplicates fleet:runtimes[1].accountId'],
    ["a droplet without a region", (c) => void delete runtimesOf(c)[4]!.region,
      "fleet:runtimes[4].region: missing"],
    ["an existing host without an address", (c) => void runtimesOf(c).push({ accountId: "onprem", provider: "existing", openclaw: "v1.2.5", runtimeService: "v0.5.2" }),
      "fleet:runtimes[5].host: missing"],
    ["batchPercent 0", (c) => void ((c["fleet:policy"] as Record<string, unknown>).batchPercent = 0),
      "fleet:policy.batchPercent: 0: Too small"],
    ["batchPercent 101", (c) => void ((c["fleet:policy"] as Record<string, unknown>).batchPercent = 101),
      "fleet:policy.batchPercent: 101: Too big"],
    ["an unknown key", (c) => void ((c["fleet:defaults"] as Record<string, unknown>).regoin = "nyc1"),
      "fleet:defaults.regoin: unknown key"],
    ["an unknown fleet: key", (c) => void (c["fleet:runtime"] = []),
      "fleet:runtime: unknown key"],
  ];

  it.each(cases)("rejects %s with exit 2, naming the path", async (_name, mutate, expected) => {
    const file = writeStack("bad", mutate);
    const before = readFileSync(file, "utf8");
    const r = await fleet("validate", "--config-file", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(expected);
    expect(r.stdout).toBe("");
    expect(readFileSync(file, "utf8")).toBe(before);
  });

  it("lists every error, not only the first, also as JSON", async () => {
    const file = writeStack("many", (c) => {
      runtimesOf(c)[0]!.openclaw = "latest";
      runtimesOf(c)[1]!.runtimeService = "v0.5";
      delete runtimesOf(c)[2]!.region;
    });
    const r = await fleet("validate", "--config-file", file, "--json");
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as { valid: boolean; errors: Array<{ path: string }> };
    expect(doc.valid).toBe(false);
    expect(doc.errors.map((e) => e.path)).toEqual([
      "fleet:runtimes[0].openclaw",
      "fleet:runtimes[1].runtimeService",
      "fleet:runtimes[2].region",
    ]);
  });

  it("summarises a long error list: the first errors in full, then one line per kind", async () => {
    const file = writeStack("huge", (c) => {
      const runtimes = runtimesOf(c);
      for (let i = 0; i < 10_001 - 5; i++) runtimes.push({ accountId: `acc-x${i}`, region: "nyc1", openclaw: "latest", runtimeService: "v0.5.2" });
    });
    const r = await fleet("validate", "--config-file", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("fleet:runtimes: a list of 10001 entries: Too big: expected array to have <=10000 items");
    expect(r.stderr.length).toBeLessThan(4096);
  });

  it("summarises 5,000 bad runtimes after the first 20", async () => {
    const file = writeStack("bad5000", (c) => {
      const runtimes = runtimesOf(c);
      for (let i = 0; i < 5000; i++) runtimes.push({ accountId: `acc-y${i}`, region: "nyc1", openclaw: "latest", runtimeService: "v0.5.2" });
    });
    const r = await fleet("validate", "--config-file", file);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toBe(`${file}: 5000 errors`);
    expect(lines).toHaveLength(1 + 20 + 1);
    expect(lines[20]).toBe('fleet:runtimes[24].openclaw: "latest" is not a release tag (expected vMAJOR.MINOR.PATCH)');
    expect(lines[21]).toBe("... and 4980 more of the same kind at fleet:runtimes[*].openclaw");
  });

  it("exits 2 naming the file for an alias bomb, a directory and /dev/zero, and reads none of them whole", async () => {
    const bomb = path.join(dir, "Pulumi.bomb.yaml");
    writeFileSync(bomb, yamlAliasBomb());
    for (const file of [bomb, dir, "/dev/zero"]) {
      const r = await fleet("validate", "--config-file", file);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(file);
    }
  });

  it("exits 2 for a missing file, a bad stack name and an unknown command", async () => {
    expect((await fleet("validate", "--config-file", path.join(dir, "nope.yaml"))).code).toBe(2);
    const badStack = await fleet("validate", "--stack", "prod;id", "--project", ROOT);
    expect(badStack.code).toBe(2);
    expect(badStack.stderr).toContain('--stack: "prod;id" is not a stack name');
    expect((await fleet("no-such-command")).code).toBe(2);
  });
});
