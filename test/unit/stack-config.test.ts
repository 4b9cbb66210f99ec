// Writing the desired state back: only the versions change; comments, order and layout stay.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeRelease, writeRuntimeVersions } from "../../control/stackConfig";
import { ROOT } from "../support/fixtures";

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
