// Release tags: the one definition of "a valid version" for the whole fleet.
// A tag reaches a shell, an SSH command or a config write only after passing isReleaseTag.
import semver from "semver";

/**
 * vMAJOR.MINOR.PATCH with an optional semver prerelease (v1.3.0-rc.1). No build metadata,
 * no leading zeros, nothing else: no `latest`, no spaces, no shell characters.
 * Mirrored in components/scripts/fleet-upgrade.sh (the host validates again).
 */
export const RELEASE_TAG_PATTERN =
  /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?$/;

/** Longest tag accepted; keeps arguments and log lines bounded. */
export const RELEASE_TAG_MAX_LENGTH = 64;

export const RELEASE_TAG_EXPECTED = "vMAJOR.MINOR.PATCH";

export type ReleaseTag = string & { readonly __brand: "ReleaseTag" };

export function isReleaseTag(value: unknown): value is ReleaseTag {
  return (
    typeof value === "string" &&
    value.length <= RELEASE_TAG_MAX_LENGTH &&
    RELEASE_TAG_PATTERN.test(value) &&
    semver.valid(value.slice(1)) !== null
  );
}

/** The message every room uses for a value that is not a release tag. */
export function releaseTagProblem(value: unknown): string {
  return `${JSON.stringify(value)} is not a release tag (expected ${RELEASE_TAG_EXPECTED})`;
}

export class InvalidVersionError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
  ) {
    super(`${field}: ${releaseTagProblem(value)}`);
    this.name = "InvalidVersionError";
  }
}

/** Returns the tag, or throws an error naming the field, the value and what was expected. */
export function parseReleaseTag(value: unknown, field = "version"): ReleaseTag {
  if (!isReleaseTag(value)) throw new InvalidVersionError(field, value);
  return value;
}

function bare(tag: string): string {
  return tag.startsWith("v") ? tag.slice(1) : tag;
}

/** Orders two release tags (negative, zero, positive), semver precedence. */
export function compareReleases(a: string, b: string): number {
  return semver.compare(bare(parseReleaseTag(a, "a")), bare(parseReleaseTag(b, "b")));
}

export function isNewer(candidate: string, than: string): boolean {
  return compareReleases(candidate, than) > 0;
}

export function isDowngrade(from: string, to: string): boolean {
  return compareReleases(to, from) < 0;
}

/** True when `version` is at or above the minimum supported release. */
export function isSupported(version: string, minSupported: string): boolean {
  return compareReleases(version, minSupported) >= 0;
}

/** Sorted ascending; invalid entries dropped. */
export function sortReleases(tags: Iterable<string>): ReleaseTag[] {
  return [...new Set([...tags].filter(isReleaseTag))].sort(compareReleases);
}

/** The newest stable release (prereleases only when there is no stable one), or undefined. */
export function latestRelease(tags: Iterable<string>): ReleaseTag | undefined {
  const sorted = sortReleases(tags);
  const stable = sorted.filter((t) => semver.prerelease(bare(t)) === null);
  return (stable.length > 0 ? stable : sorted).at(-1);
}

/** Overview grouping: v1.1.5 -> "v1.1.x". Not a release tag: "unknown". */
export function releaseLine(version: string): string {
  if (!isReleaseTag(version)) return "unknown";
  const parsed = semver.parse(bare(version));
  return parsed === null ? "unknown" : `v${parsed.major}.${parsed.minor}.x`;
}

/** The most common version among `versions` (ties: the newest), or undefined when empty. */
export function mostCommonVersion(versions: Iterable<string>): string | undefined {
  const counts = new Map<string, number>();
  for (const v of versions) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  let bestCount = 0;
  for (const [v, n] of counts) {
    const newer = best !== undefined && isReleaseTag(v) && isReleaseTag(best) && isNewer(v, best);
    if (n > bestCount || (n === bestCount && newer)) {
      best = v;
      bestCount = n;
    }
  }
  return best;
}
