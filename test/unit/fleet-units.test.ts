import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatDuration, parseDuration, parsePercent } from "../../fleet/units";

describe("durations and percentages", () => {
  it("parses what people type, and refuses the rest naming the field", () => {
    expect(parseDuration("60s", "--wait")).toBe(60);
    expect(parseDuration("30m", "--bake")).toBe(1800);
    expect(parseDuration("90", "--wait")).toBe(90);
    expect(parseDuration("1.5h", "--wait")).toBe(5400);
    expect(() => parseDuration("soon", "--wait")).toThrow('--wait: "soon" is not a duration (expected e.g. 60s, 30m, 1h)');
    expect(() => parseDuration("9d", "--bake")).toThrow(/--bake: "9d" is not a duration of at most/);
    expect(parsePercent("20%", "--max-batch-failure")).toBe(20);
    expect(parsePercent("5", "--pause-on-failure")).toBe(5);
    expect(() => parsePercent("120%", "--min-healthy")).toThrow('--min-healthy: "120%" is not a percentage from 0% to 100%');
  });

  it("formats durations back (exact under an hour, to the minute above)", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 86_400 }), (s) => {
      const text = formatDuration(s).replace(/ /g, "");
      const parts = [...text.matchAll(/(\d+)([hms])/g)].reduce((acc, m) => acc + Number(m[1]) * (UNITS2[m[2]!] ?? 0), 0);
      expect(Math.abs(parts - s)).toBeLessThan(s >= 3600 ? 60 : 1);
    }));
  });
});
const UNITS2: Record<string, number> = { h: 3600, m: 60, s: 1 };

describe("surrounding whitespace", () => {
  it("is refused in durations and percentages, naming the value as typed", () => {
    expect(() => parsePercent(" 5%", "--pause-on-failure")).toThrow('--pause-on-failure: " 5%" is not a percentage from 0% to 100%');
    expect(() => parseDuration(" 60s", "--wait")).toThrow('--wait: " 60s" is not a duration');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.constantFrom(" ", "\t", "\n"), fc.boolean(), (n, ws, before) => {
        const text = before ? `${ws}${n}%` : `${n}%${ws}`;
        expect(() => parsePercent(text, "--min-healthy")).toThrow(/is not a percentage/);
        expect(parsePercent(`${n}%`, "--min-healthy")).toBe(n);
      }),
    );
  });
});
