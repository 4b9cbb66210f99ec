import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  compareReleases,
  isReleaseTag,
  isSupported,
  latestRelease,
  mostCommonVersion,
  parseReleaseTag,
  releaseLine,
  sortReleases,
} from "../../fleet/versions";

const num = fc.integer({ min: 0, max: 999 });
const tag = fc.tuple(num, num, num).map(([a, b, c]) => `v${a}.${b}.${c}`);
const prerelease = fc.constantFrom("rc.1", "beta", "alpha.2", "rc.10");
const anyTag = fc.oneof(tag, fc.tuple(tag, prerelease).map(([t, p]) => `${t}-${p}`));

describe("release tags", () => {
  it("accepts every vMAJOR.MINOR.PATCH, with or without a prerelease", () => {
    fc.assert(fc.property(anyTag, (t) => isReleaseTag(t)));
  });

  it("rejects anything with a shell or whitespace character in it", () => {
    const bad = fc.tuple(anyTag, fc.constantFrom(";", " ", "$", "`", "|", "&", "\n", "'", '"', "(", ">", "*"), fc.string({ maxLength: 8 }))
      .map(([t, c, rest]) => `${t}${c}${rest}`);
    fc.assert(fc.property(bad, (s) => !isReleaseTag(s)));
  });

  it("rejects the usual non-tags", () => {
    for (const s of ["latest", "1.2.3", "v1.2", "v01.2.3", "v1.2.3+build", "V1.2.3", "", "v1.2.3-", "main", "v1.2.3; rm -rf /", "$(id)"]) {
      expect(isReleaseTag(s), s).toBe(false);
    }
    expect(() => parseReleaseTag("latest", "fleet:release.openclaw")).toThrow(
      'fleet:release.openclaw: "latest" is not a release tag (expected vMAJOR.MINOR.PATCH)',
    );
  });

  it("orders like semver: antisymmetric and transitive", () => {
    fc.assert(
      fc.property(anyTag, anyTag, anyTag, (a, b, c) => {
        expect(Math.sign(compareReleases(a, b))).toBe(-Math.sign(compareReleases(b, a)));
        if (compareReleases(a, b) <= 0 && compareReleases(b, c) <= 0) expect(compareReleases(a, c)).toBeLessThanOrEqual(0);
      }),
    );
    expect(compareReleases("v1.10.0", "v1.9.0")).toBeGreaterThan(0);
    expect(compareReleases("v1.3.0-rc.1", "v1.3.0")).toBeLessThan(0);
  });

  it("sorts, and finds the latest stable release", () => {
    fc.assert(
      fc.property(fc.array(anyTag, { maxLength: 20 }), (tags) => {
        const sorted = sortReleases(tags);
        for (let i = 1; i < sorted.length; i++) expect(compareReleases(sorted[i - 1]!, sorted[i]!)).toBeLessThan(0);
      }),
    );
    expect(latestRelease(["v1.2.5", "v1.3.0-rc.1", "v1.2.6", "junk"])).toBe("v1.2.6");
    expect(latestRelease(["v1.3.0-rc.1"])).toBe("v1.3.0-rc.1");
    expect(latestRelease([])).toBeUndefined();
  });

  it("checks the minimum supported release", () => {
    fc.assert(fc.property(anyTag, anyTag, (v, min) => isSupported(v, min) === compareReleases(v, min) >= 0));
    expect(isSupported("v1.1.5", "v1.1.0")).toBe(true);
    expect(isSupported("v1.0.9", "v1.1.0")).toBe(false);
  });

  it("groups by release line for the overview", () => {
    fc.assert(fc.property(tag, (t) => releaseLine(t) === `${t.split(".").slice(0, 2).join(".")}.x`));
    expect(releaseLine("v1.1.5")).toBe("v1.1.x");
    expect(releaseLine("garbage")).toBe("unknown");
  });

  it("names the most common version, the newest on a tie", () => {
    expect(mostCommonVersion(["v1.2.3", "v1.2.5", "v1.2.3"])).toBe("v1.2.3");
    expect(mostCommonVersion(["v1.2.3", "v1.2.5"])).toBe("v1.2.5");
    expect(mostCommonVersion([])).toBeUndefined();
  });
});
