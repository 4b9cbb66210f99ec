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
  return scriptSha256(script).slice(0, 16);
}

/** The full sha256 the host checks a received copy against. */
export function scriptSha256(script: string | Buffer = upgradeScript()): string {
  return createHash("sha256").update(script).digest("hex");
}

/** Runs where `pulumi up` runs: copies the script (and an agent bundle) to a host by path and digest. */
export const INSTALLER_PATH = path.join(__dirname, "scripts", "install-over-ssh.sh");

const SHA256 = /^[0-9a-f]{64}$/;
function checkSha256(digest: string): string {
  if (!SHA256.test(digest)) throw new Error(`digest: ${JSON.stringify(digest)} is not a sha256 in hex (64 of 0-9a-f)`);
  return digest;
}

/** Shell single quotes around any text. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The install command's own text: the installer, by path (its inputs travel in its environment). */
export function installerCommand(installer: string = INSTALLER_PATH): string {
  return `exec /bin/bash ${shellQuote(installer)}`;
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

/**
 * Run on the host: installs (or refreshes) the script from stdin atomically, once the copy
 * matches its sha256: a half-written or wrong script never runs.
 */
export function installCommand(root: string, sha256: string = scriptSha256(), options: { waitCloudInit?: boolean } = {}): string {
  const r = checkHostRoot(root);
  const d = checkSha256(sha256);
  return [
    "set -eu",
    // A new droplet: its first boot (packages, the OpenClaw checkout) ends before the script runs.
    ...(options.waitCloudInit ? ["cloud-init status --wait >/dev/null 2>&1 || true"] : []),
    `install -d -m 0755 '${r}/bin' '${r}/etc' '${r}/state'`,
    `tmp=$(mktemp '${r}/bin/.fleet-upgrade.XXXXXX')`,
    `trap 'rm -f "$tmp"' EXIT`,
    `cat > "$tmp"`,
    `if [ "$(sha256sum < "$tmp" | cut -d ' ' -f 1)" != '${d}' ]; then echo 'fleet-upgrade install: the copy received does not match sha256 ${d}' >&2; exit 1; fi`,
    `chmod 0755 "$tmp"`,
    `mv -f "$tmp" '${r}/bin/fleet-upgrade'`,
    // One updater per host: OpenClaw's own auto-updater goes off with every install.
    `{ '${r}/bin/fleet-upgrade' updater-off >/dev/null || echo "fleet-upgrade updater-off failed: see fleet health" >&2; }`,
    `echo '{"installed":true,"script":"${d.slice(0, 16)}"}'`,
  ].join("; ");
}

/** Run on the host: the agent's bundle (gzip on stdin, checked against its sha256) into place. */
export function agentBundleInstallCommand(root: string, sha256: string): string {
  const r = checkHostRoot(root);
  const d = checkSha256(sha256);
  const dir = `${r}/lib/runtime-fleet/agent`;
  return [
    "set -eu",
    `install -d -m 0755 '${dir}'`,
    `tmp=$(mktemp '${dir}/.fleet-agent.XXXXXX')`,
    `trap 'rm -f "$tmp" "$tmp.cjs"' EXIT`,
    `cat > "$tmp"`,
    `if [ "$(sha256sum < "$tmp" | cut -d ' ' -f 1)" != '${d}' ]; then echo 'fleet-agent install: the bundle received does not match sha256 ${d}' >&2; exit 1; fi`,
    `gunzip -c "$tmp" > "$tmp.cjs"`,
    `chmod 0644 "$tmp.cjs"`,
    `mv -f "$tmp.cjs" '${dir}/fleet-agent.cjs'`,
  ].join("; ");
}

export function upgradeCommand(root: string): string {
  return `'${scriptOnHost(root)}' upgrade --stdin`;
}

export function statusCommand(root: string): string {
  return `'${scriptOnHost(root)}' status`;
}

// The stdin and result line are protocol shapes (protocol/onhost.ts); re-exported for the components.
export { parseUpgradeResult, targetsStdin, UPGRADE_STATUSES, type TargetVersions, type UpgradeResult, type UpgradeStatus } from "../protocol/onhost";
