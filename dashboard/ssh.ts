// On-host actions from the dashboard (restart, logs) over SSH, through the same on-host script the
// deploy uses. The stack's key is a Pulumi secret: read with the Automation API, held in memory,
// written to a 0600 temp file only for the duration of one ssh run, never logged or returned.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import type { ResolvedRuntime } from "../fleet/config";
import { scriptOnHost } from "../components/onhost";
import { defaultEngineEnv } from "../control/engine";

export type HostAction = { kind: "restart" } | { kind: "logs"; lines: number };

export interface HostRunResult {
  ok: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The decrypted fleet:sshPrivateKey of a stack (Automation API `stack.getConfig`). */
export async function readStackSshKey(projectDir: string, stack: string, env: Record<string, string>): Promise<string> {
  const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: false }).catch(() => undefined);
  const ws = await LocalWorkspace.selectStack(
    { stackName: stack, workDir: projectDir },
    { envVars: { ...defaultEngineEnv(), ...env }, ...(pulumiCommand ? { pulumiCommand } : {}) },
  );
  const value = await ws.getConfig("fleet:sshPrivateKey");
  if (!value.value) throw new Error(`stack ${stack} has no fleet:sshPrivateKey`);
  return value.value.endsWith("\n") ? value.value : `${value.value}\n`;
}

/** The remote command line: the script path (validated host root) and fixed arguments only. */
export function remoteCommand(runtime: Pick<ResolvedRuntime, "hostRoot">, action: HostAction): string {
  const script = `'${scriptOnHost(runtime.hostRoot)}'`;
  if (action.kind === "restart") return `${script} restart`;
  if (!Number.isInteger(action.lines) || action.lines < 1 || action.lines > 10_000) throw new Error("lines: expected an integer 1..10000");
  return `${script} logs --lines ${action.lines}`;
}

/** What an admin pastes into a terminal for a console on the host. */
export function sshConsoleCommand(runtime: Pick<ResolvedRuntime, "host" | "sshPort" | "sshUser">): string | null {
  if (!runtime.host) return null;
  return `ssh -p ${runtime.sshPort} ${runtime.sshUser}@${runtime.host}`;
}

export async function runOnHost(
  runtime: Pick<ResolvedRuntime, "host" | "sshPort" | "sshUser" | "hostKey" | "hostRoot">,
  privateKey: string,
  action: HostAction,
  opts: { timeoutMs?: number; dialTimeoutSeconds?: number } = {},
): Promise<HostRunResult> {
  if (!runtime.host) throw new Error("the runtime has no host address yet");
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-dash-ssh-"));
  try {
    const keyFile = path.join(dir, "key");
    writeFileSync(keyFile, privateKey, { mode: 0o600 });
    const knownHosts = path.join(dir, "known_hosts");
    // A configured host key is checked strictly; without one the first key seen is accepted (as
    // the deploy's command provider does), in a throwaway file.
    if (runtime.hostKey) {
      const name = runtime.sshPort === 22 ? runtime.host : `[${runtime.host}]:${runtime.sshPort}`;
      writeFileSync(knownHosts, `${name} ${runtime.hostKey}\n`);
    }
    const args = [
      "-i", keyFile,
      "-p", String(runtime.sshPort),
      "-o", "BatchMode=yes",
      "-o", "IdentitiesOnly=yes",
      "-o", `UserKnownHostsFile=${knownHosts}`,
      "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", `StrictHostKeyChecking=${runtime.hostKey ? "yes" : "accept-new"}`,
      "-o", `ConnectTimeout=${opts.dialTimeoutSeconds ?? 10}`,
      "-o", "LogLevel=ERROR",
      "-F", "/dev/null",
      "-l", runtime.sshUser,
      runtime.host,
      "--",
      remoteCommand(runtime, action),
    ];
    return await new Promise<HostRunResult>((resolve) => {
      execFile("ssh", args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 255) : 0;
        resolve({ ok: !err, exitCode: code, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
