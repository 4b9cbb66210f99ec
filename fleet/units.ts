// Durations and percentages as people type them on the command line and in forms. Pure.
// Surrounding whitespace is refused, as everywhere else in the CLI: ' 5%' is a typo, not 5%.

export class UnitError extends Error {
  constructor(
    readonly field: string,
    readonly value: string,
    readonly expected: string,
  ) {
    super(`${field}: ${JSON.stringify(value)} is not ${expected}`);
    this.name = "UnitError";
  }
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `30m`, `1.5h`, `1d` -> seconds. */
export function parseDuration(text: string, field: string, max = 7 * 86_400): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new UnitError(field, text, "a duration (expected e.g. 60s, 30m, 1h)");
  const seconds = Number(m[1]) * (UNITS[m[2] ?? "s"] ?? 1);
  if (!Number.isFinite(seconds) || seconds > max) {
    throw new UnitError(field, text, `a duration of at most ${formatDuration(max)}`);
  }
  return seconds;
}

/** `20%` or `20` -> 20, within 0..100. */
export function parsePercent(text: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text);
  const value = m ? Number(m[1]) : NaN;
  if (!m || value < 0 || value > 100) throw new UnitError(field, text, "a percentage from 0% to 100%");
  return value;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ""}`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}h${m ? ` ${m}m` : ""}`;
}
