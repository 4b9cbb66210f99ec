// Writing the desired state back: only the versions change; comments, order and layout stay.
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkRuntimeVersions, readStackConfig, StackConfigConflict, writeRelease, writeRuntimeVersions } from "../../control/stackConfig";
import { ROOT, yamlAliasBomb } from "../support/fixtures";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function prodCopy(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), "fleet-stackcfg-"));
  dirs.push(d);
  const f = path.join(d, "Pulumi.prod.yaml");
  copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), f);
  return f;
}

describe("the stack config file as desired state", () => {
  it("changes exactly the runtime's two version lines", () => {
    const f = prodCopy();
    const before = readFileSync(f, "utf8").split("\n");
    writeRuntimeVersions(f, [{ index: 2, accountId: "acc-def456", openclaw: "v1.3.0", runtimeService: "v0.5.2" }]);
    const after = readFileSync(f, "utf8").split("\n");
    expect(after).toHaveLength(before.length);
    const changed = after.map((l, i) => [before[i], l]).filter(([b, a]) => b !== a);
    expect(changed).toEqual([["      openclaw: v1.2.5", "      openclaw: v1.3.0"]]);
  });

  it("sets the release the same way, keeping comments and flow lists", () => {
    const f = prodCopy();
    writeRelease(f, { openclaw: "v1.3.0", runtimeService: "v0.5.2" });
    const text = readFileSync(f, "utf8");
    expect(text).toContain("# Production: the fleet's desired state.");
    expect(text).toContain("allowedRegions: [nyc1, nyc3, fra1]");
    expect(text).toMatch(/fleet:release:\n {4}openclaw: v1\.3\.0\n {4}runtimeService: v0\.5\.2/);
  });

  it("refuses a version that is not a release tag, or a runtime that moved, and leaves the file alone", () => {
    const f = prodCopy();
    const before = readFileSync(f, "utf8");
    expect(() => writeRuntimeVersions(f, [{ index: 1, accountId: "acc-abc123", openclaw: "latest", runtimeService: "v0.5.2" }])).toThrow(
      'fleet:runtimes[1].openclaw: "latest" is not a release tag',
    );
    expect(() => writeRuntimeVersions(f, [{ index: 1, accountId: "someone-else", openclaw: "v1.3.0", runtimeService: "v0.5.2" }])).toThrow(/is not someone-else any more/);
    expect(readFileSync(f, "utf8")).toBe(before);
  });
});

describe("versions written with the versions the writer expects there now", () => {
  const update = (expected: { openclaw: string; runtimeService: string }[]) => ({ index: 2, accountId: "acc-def456", openclaw: "v1.3.0", runtimeService: "v0.5.3", expected });

  it("writes when the entry holds one of the expected versions", () => {
    const f = prodCopy();
    writeRuntimeVersions(f, [update([{ openclaw: "v1.3.0", runtimeService: "v0.5.3" }, { openclaw: "v1.2.5", runtimeService: "v0.5.2" }])], "the rollout started");
    expect(readFileSync(f, "utf8")).toContain("      openclaw: v1.3.0\n      runtimeService: v0.5.3");
  });

  it("refuses a hand-edited entry with one line naming the field, what was expected and what was found, and writes nothing", () => {
    const f = prodCopy();
    const text = readFileSync(f, "utf8").replace(/(accountId: acc-def456[\s\S]*?openclaw: )v1\.2\.5/, "$1v1.2.1");
    writeFileSync(f, text);
    const others = { index: 1, accountId: "acc-abc123", openclaw: "v1.3.0", runtimeService: "v0.5.3" };
    let err: unknown;
    try {
      writeRuntimeVersions(f, [others, update([{ openclaw: "v1.2.5", runtimeService: "v0.5.2" }, { openclaw: "v1.3.0", runtimeService: "v0.5.3" }])], "the rollout started");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StackConfigConflict);
    expect((err as Error).message).toBe(
      "fleet:runtimes[2] (acc-def456) changed by hand since the rollout started (expected v1.2.5/v0.5.2 or v1.3.0/v0.5.3, found v1.2.1/v0.5.2); nothing overwritten",
    );
    // not even the runtime before it, whose entry was as expected
    expect(readFileSync(f, "utf8")).toBe(text);
  });

  it("checks without writing: the same refusal, the file untouched", () => {
    const f = prodCopy();
    const before = readFileSync(f, "utf8");
    const x = { index: 3, accountId: "acc-ghi789", expected: [{ openclaw: "v1.2.4", runtimeService: "v0.5.2" }] };
    expect(() => checkRuntimeVersions(f, [x], "the rollout started")).toThrow("fleet:runtimes[3] (acc-ghi789) changed by hand since the rollout started (expected v1.2.4/v0.5.2, found v1.2.5/v0.5.2); nothing overwritten");
    expect(() => checkRuntimeVersions(f, [{ ...x, expected: [{ openclaw: "v1.2.5", runtimeService: "v0.5.2" }] }], "the rollout started")).not.toThrow();
    expect(readFileSync(f, "utf8")).toBe(before);
  });
});

describe("a symlinked stack config", () => {
  // The link lives in the project, its target elsewhere (a shared config repository, say).
  function linked(): { link: string; target: string } {
    const target = prodCopy();
    const projectDir = mkdtempSync(path.join(os.tmpdir(), "fleet-stackcfg-link-"));
    dirs.push(projectDir);
    const link = path.join(projectDir, "Pulumi.prod.yaml");
    symlinkSync(target, link);
    return { link, target };
  }

  it("writes a runtime's versions to the link's target and keeps the link", () => {
    const { link, target } = linked();
    writeRuntimeVersions(link, [{ index: 2, accountId: "acc-def456", openclaw: "v1.3.0", runtimeService: "v0.5.2" }]);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toContain("      openclaw: v1.3.0");
    expect(readStackConfig(link).text).toContain("      openclaw: v1.3.0");
    // The temp file was renamed, not left behind, in the target's directory.
    expect(readdirSync(path.dirname(target))).toEqual(["Pulumi.prod.yaml"]);
  });

  it("writes the release to the link's target and keeps the link", () => {
    const { link, target } = linked();
    writeRelease(link, { openclaw: "v1.3.0", runtimeService: "v0.5.3" });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toMatch(/fleet:release:\n {4}openclaw: v1\.3\.0\n {4}runtimeService: v0\.5\.3/);
  });
});

describe("versions written back next to a long hostKey", () => {
  it("change exactly one line and leave the hostKey line as it was", () => {
    const f = prodCopy();
    const key = `ssh-ed25519 ${"A".repeat(68)}`;
    const text = readFileSync(f, "utf8").replace("      name: Globex\n", `      name: Globex\n      hostKey: ${key}\n`);
    writeFileSync(f, text);
    writeRuntimeVersions(f, [{ index: 2, accountId: "acc-def456", openclaw: "v1.3.0", runtimeService: "v0.5.2" }]);
    const before = text.split("\n");
    const after = readFileSync(f, "utf8").split("\n");
    expect(after).toHaveLength(before.length);
    const changed = after.map((l, i) => [before[i], l]).filter(([b, a]) => b !== a);
    expect(changed).toEqual([["      openclaw: v1.2.5", "      openclaw: v1.3.0"]]);
    expect(after).toContain(`      hostKey: ${key}`);
  });
});

describe("reading a stack config that is not a small YAML file", () => {
  function scratch(): string {
    const d = mkdtempSync(path.join(os.tmpdir(), "fleet-stackcfg-bad-"));
    dirs.push(d);
    return d;
  }
  const refused = (file: string) => {
    try {
      readStackConfig(file);
    } catch (err) {
      return { name: (err as Error).name, message: (err as Error).message };
    }
    throw new Error(`${file} was read`);
  };

  it("refuses a YAML alias bomb naming the file", () => {
    const f = path.join(scratch(), "Pulumi.bomb.yaml");
    writeFileSync(f, yamlAliasBomb());
    const r = refused(f);
    expect(r.name).toBe("UsageError");
    expect(r.message).toContain(f);
    expect(r.message).toMatch(/alias/i);
  });

  it("refuses a directory naming it", () => {
    const d = path.join(scratch(), "Pulumi.dir.yaml");
    mkdirSync(d);
    expect(refused(d)).toEqual({ name: "UsageError", message: `stack config ${d}: not a regular file (a directory)` });
  });

  it("refuses a device without reading it (it would never end)", () => {
    expect(refused("/dev/zero")).toEqual({ name: "UsageError", message: "stack config /dev/zero: not a regular file (a device)" });
  });

  it("refuses a file over 4 MiB naming the limit", () => {
    const f = path.join(scratch(), "Pulumi.big.yaml");
    writeFileSync(f, `config:\n  other:x: "${"y".repeat(4 * 1024 * 1024)}"\n`);
    const r = refused(f);
    expect(r.name).toBe("UsageError");
    expect(r.message).toBe(`stack config ${f}: larger than the limit of 4194304 bytes (4 MiB)`);
  });
});
