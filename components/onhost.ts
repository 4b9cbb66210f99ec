// The on-host side as the components see it: the script's text, where it lives on a host, and
// the exact command lines run over SSH. Command text never carries a version: targets travel
// on stdin as JSON (protocol/onhost.ts), already validated (and validated again on the host).
import { readFileSync } from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";

export const SCRIPT_PATH = path.join(__dirname, "scripts", "fleet-upgrade.sh");

let cachedScript: string | undefined;
/** The on-host upgrade script, read once per process. */
export function upgradeScript(): string {
  cachedScript ??= readFileSync(SCRIPT_PATH, "utf8");
  return cachedScript;
}

export function scriptDigest(script: string = upgradeScript()): string {
  return createHash("sha256").update(script).digest("hex").slice(0, 16);
}

/** Host roots reach shell text, so they are held to the config schema's pattern again here. */
const HOST_ROOT = /^\/[A-Za-z0-9._/-]{0,255}$/;
export function checkHostRoot(root: string): string {
  if (!HOST_ROOT.test(root) || root.split("/").includes("..")) {
    throw new Error(`hostRoot: ${JSON.stringify(root)} is not an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  return root;
}

export function scriptOnHost(root: string): string {
  return `${checkHostRoot(root)}/bin/fleet-upgrade`;
}

/** Installs (or refreshes) the script from stdin atomically: a half-written script never runs. */
export function installCommand(root: string): string {
  const r = checkHostRoot(root);
  return [
    "set -eu",
    `install -d -m 0755 '${r}/bin' '${r}/etc' '${r}/state'`,
    `tmp=$(mktemp '${r}/bin/.fleet-upgrade.XXXXXX')`,
    `cat > "$tmp"`,
    `chmod 0755 "$tmp"`,
    `mv -f "$tmp" '${r}/bin/fleet-upgrade'`,
    // One updater per host: OpenClaw's own auto-updater goes off with every install.
    `{ '${r}/bin/fleet-upgrade' updater-off >/dev/null || echo "fleet-upgrade updater-off failed: see fleet health" >&2; }`,
    `echo '{"installed":true}'`,
  ].join(" && ");
}

export function upgradeCommand(root: string): string {
  return `'${scriptOnHost(root)}' upgrade --stdin`;
}

export function statusCommand(root: string): string {
  return `'${scriptOnHost(root)}' status`;
}

// The stdin and result line are protocol shapes (protocol/onhost.ts); re-exported for the components.
export { parseUpgradeResult, targetsStdin, UPGRADE_STATUSES, type TargetVersions, type UpgradeResult, type UpgradeStatus } from "../protocol/onhost";
