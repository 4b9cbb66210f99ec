// One OpenSSH sshd per lab host, on the host's own address (sshd listens on at most 16 addresses
// per process, and a stopped sshd is exactly what "unreachable" means).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isProcess, pollUntil, runOk, sshBanner, stopProcess } from "./procs";
import { labStateDir, type LabHost, type SshControl, type SshdInfo } from "./kit";

export const SSHD = "/usr/sbin/sshd";
export const SSH_PORT = 2222;

export interface LabKeys {
  privateKey: string;
  publicKey: string;
  authorizedKeys: string;
  knownHosts: string;
}

/** The lab's one client key pair (and the authorized_keys every host's sshd reads). */
export async function createClientKeys(labDir: string): Promise<LabKeys> {
  const dir = join(labDir, "keys");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKey = join(dir, "client_ed25519");
  rmSync(privateKey, { force: true });
  rmSync(`${privateKey}.pub`, { force: true });
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "fleet-lab", "-f", privateKey]);
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, readFileSync(`${privateKey}.pub`, "utf8"), { mode: 0o600 });
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, "");
  return { privateKey, publicKey: `${privateKey}.pub`, authorizedKeys, knownHosts };
}

/** Generates the host key and sshd_config of a host (under ROOT/state/lab/sshd). */
export async function prepareSshd(host: LabHost, keys: LabKeys, port = SSH_PORT): Promise<SshdInfo> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} not found: install Debian's openssh-server (apt-get install -y openssh-server)`);
  }
  const dir = join(labStateDir(host.root), "sshd");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKeyFile = join(dir, "ssh_host_ed25519_key");
  rmSync(hostKeyFile, { force: true });
  rmSync(`${hostKeyFile}.pub`, { force: true });
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", host.runtime, "-f", hostKeyFile]);
  const [type, key] = readFileSync(`${hostKeyFile}.pub`, "utf8").trim().split(/\s+/);
  const config = join(dir, "sshd_config");
  const pidFile = join(dir, "sshd.pid");
  const log = join(dir, "sshd.log");
  writeFileSync(
    config,
    [
      "# fleet-lab: one sshd per simulated host",
      `ListenAddress ${host.address}:${port}`,
      `HostKey ${hostKeyFile}`,
      `PidFile ${pidFile}`,
      `AuthorizedKeysFile ${keys.authorizedKeys}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      "PrintMotd no",
      "UseDNS no",
      // rollouts open many sessions at once
      "MaxStartups 200:30:400",
      "MaxSessions 100",
      "LogLevel INFO",
      "",
    ].join("\n"),
  );
  return { port, config, log, pidFile, hostKeyFile, hostPublicKey: `${type} ${key}` };
}

const sshdMarks = (ssh: SshdInfo) => ["sshd", ssh.config];

export function sshdPid(host: LabHost): number | null {
  if (!host.ssh) return null;
  try {
    const pid = Number.parseInt(readFileSync(host.ssh.pidFile, "utf8"), 10);
    return isProcess(pid, sshdMarks(host.ssh)) ? pid : null;
  } catch {
    return null;
  }
}

export function sshdRunning(host: LabHost): boolean {
  return sshdPid(host) !== null;
}

/** Starts the host's sshd (detached, survives the lab CLI) and waits for its SSH banner. */
export async function startSshd(host: LabHost, timeoutMs = 15_000): Promise<number> {
  const ssh = host.ssh;
  if (!ssh) throw new Error(`${host.runtime}: no sshd prepared`);
  const running = sshdPid(host);
  if (running !== null) return running;
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation dir sshd requires
  const out = openSync(ssh.log, "a");
  const child = spawn(SSHD, ["-D", "-f", ssh.config, "-E", ssh.log], { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${host.runtime}: could not start sshd`);
  child.unref();
  writeFileSync(ssh.pidFile, String(pid));
  await pollUntil(`${host.runtime} sshd on ${host.address}:${ssh.port}`, async () => {
    if (!isProcess(pid, ["sshd"])) throw new Error(`sshd exited; see ${ssh.log}`);
    return (await sshBanner(host.address, ssh.port)) !== false;
  }, { timeoutMs });
  return pid;
}

export async function stopSshd(host: LabHost): Promise<void> {
  const pid = sshdPid(host);
  if (pid !== null && host.ssh) await stopProcess(pid, sshdMarks(host.ssh));
}

export const sshControl: SshControl = {
  start: async (host) => {
    await startSshd(host);
  },
  stop: stopSshd,
  running: sshdRunning,
};

/** known_hosts line of a host: `[127.0.0.11]:2222 ssh-ed25519 AAAA...`. */
export function knownHostsLine(host: LabHost): string {
  if (!host.ssh) throw new Error(`${host.runtime}: no sshd`);
  return `[${host.address}]:${host.ssh.port} ${host.ssh.hostPublicKey}`;
}

/** ssh argv (without the remote command) to reach a lab host with the lab key, strictly checked. */
export function sshArgs(host: LabHost, keys: LabKeys, user: string): string[] {
  if (!host.ssh) throw new Error(`${host.runtime}: no sshd`);
  return [
    "-i", keys.privateKey,
    "-p", String(host.ssh.port),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${keys.knownHosts}`,
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
    `${user}@${host.address}`,
  ];
}
