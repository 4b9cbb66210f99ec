// The self-upgrade agent on a host: its systemd unit, its config, its root-only credential, and
// the remote command that installs them. Used by the Runtime component for runtimes whose
// executor is "agent": such a runtime gets this install instead of the deploy command, so its
// versions are the agent's business only (a runtime is upgraded by Pulumi or by its agent, never
// both). The credential travels as a Pulumi secret on stdin, never in the command text.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { ResolvedRuntime } from "../fleet/config";
import { agentSecret } from "../protocol/credential";
import { checkHostRoot } from "./onhost";
import { agentBundleFile } from "./agentBundle";

export const AGENT_UNIT_NAME = "fleet-agent.service";
export const AGENT_UNIT_DIR = "/etc/systemd/system";
/** Where cloud-init puts Node 24 (the npm registry's `node` package, as the project itself uses). */
export const AGENT_NODE = "/usr/local/bin/node";

export interface AgentUnitOptions {
  hostRoot: string;
  /** Node 22+ on the host (cloud-init installs Node 24 there for agent runtimes). */
  nodePath?: string;
  /** The agent's launcher on the host (the package's agent/fleet-agent.cjs, shipped with its sources). */
  launcherPath?: string;
}

const SAFE_PATH = /^\/[A-Za-z0-9._/-]{1,255}$/;

/** The unit: restarted always (the agent exits after each upgrade to come back on the new version). */
export function agentUnitFile(o: AgentUnitOptions): string {
  const root = checkHostRoot(o.hostRoot);
  const node = o.nodePath ?? AGENT_NODE;
  const launcher = o.launcherPath ?? `${root}/lib/runtime-fleet/agent/fleet-agent.cjs`;
  for (const [k, v] of Object.entries({ nodePath: node, launcherPath: launcher })) {
    if (!SAFE_PATH.test(v)) throw new Error(`${k}: ${JSON.stringify(v)} is not an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  return [
    "[Unit]",
    "Description=Runtime Fleet self-upgrade agent",
    "After=network-online.target docker.service",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${node} ${launcher} --config ${root}/etc/agent.json`,
    "Restart=always",
    "RestartSec=5",
    "NoNewPrivileges=true",
    "PrivateTmp=true",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export interface AgentConfigInput {
  stack: string;
  accountId: string;
  endpoint: string;
  hostRoot: string;
  healthPort: number;
  heartbeatSeconds?: number;
}

/** agent.json (read by agent/agent.ts loadAgentConfig). */
export function agentConfigJson(c: AgentConfigInput): string {
  return JSON.stringify({
    stack: c.stack,
    accountId: c.accountId,
    endpoint: c.endpoint,
    hostRoot: checkHostRoot(c.hostRoot),
    healthUrl: `http://127.0.0.1:${c.healthPort}`,
    heartbeatSeconds: c.heartbeatSeconds ?? 30,
  });
}

/**
 * Reads {unit, config, credential, bundle} JSON from stdin and installs (the agent's bundled code
 * is already there: the runtime's install command copied it, checked against its digest, and
 * `bundle` names that digest so a new bundle restarts the agent): the credential 0600 (umask 077
 * from the start, so no file ever holds it readable), the config,
 * the unit; then (re)starts the service. The temporary file is removed whatever happens.
 */
export function agentInstallCommand(root: string, unitDir = AGENT_UNIT_DIR): string {
  const r = checkHostRoot(root);
  if (!SAFE_PATH.test(unitDir)) throw new Error(`unitDir: ${JSON.stringify(unitDir)} is not a safe absolute path`);
  return [
    "set -eu",
    "umask 077",
    `install -d -m 0755 '${r}/etc'`,
    `tmp=$(mktemp '${r}/etc/.agent-install.XXXXXX')`,
    `trap 'rm -f "$tmp"' EXIT`,
    `cat > "$tmp"`,
    `test -x '${AGENT_NODE}' || { echo 'fleet-agent needs Node 22+ at ${AGENT_NODE}' >&2; exit 1; }`,
    `test -s '${r}/lib/runtime-fleet/agent/fleet-agent.cjs' || { echo 'fleet-agent: ${r}/lib/runtime-fleet/agent/fleet-agent.cjs is missing (the install command copies it)' >&2; exit 1; }`,
    `jq -r .credential "$tmp" > '${r}/etc/.agent.credential.new'`,
    `mv -f '${r}/etc/.agent.credential.new' '${r}/etc/agent.credential'`,
    `jq -c .config "$tmp" > '${r}/etc/agent.json'`,
    `jq -r .unit "$tmp" > '${unitDir}/${AGENT_UNIT_NAME}'`,
    `chmod 0644 '${unitDir}/${AGENT_UNIT_NAME}' '${r}/etc/agent.json'`,
    "systemctl daemon-reload",
    `systemctl enable ${AGENT_UNIT_NAME}`,
    `systemctl restart ${AGENT_UNIT_NAME}`,
    `echo '{"agent":"installed"}'`,
  ].join("; ");
}

/** What the program needs from its environment to install agents; every gap named. */
export function agentSettingsFromEnv(env: Record<string, string | undefined> = process.env): { hmacSecret: string; endpoint: string; heartbeatSeconds?: number } {
  const hmacSecret = env.FLEET_HMAC_SECRET;
  const endpoint = env.FLEET_AGENT_ENDPOINT;
  if (!hmacSecret) throw new Error("FLEET_HMAC_SECRET: missing: runtimes with executor \"agent\" need it to derive their agent credentials");
  if (!endpoint || !/^https?:\/\/[^\s]+$/.test(endpoint)) {
    throw new Error(`FLEET_AGENT_ENDPOINT: ${endpoint ? JSON.stringify(endpoint) : "missing"}: expected the URL agents post to (the Convex site URL, or the embedded endpoint)`);
  }
  const hb = env.FLEET_AGENT_HEARTBEAT_SECONDS;
  return { hmacSecret, endpoint, ...(hb && Number(hb) > 0 ? { heartbeatSeconds: Number(hb) } : {}) };
}

/**
 * The agent's install command for one runtime. Inputs: the unit, config and credential (stdin,
 * secret) — none carries a version, so a rollout's version change never runs it.
 */
export function createAgentService(
  name: string,
  runtime: ResolvedRuntime,
  connection: command.types.input.remote.ConnectionArgs,
  install: pulumi.Resource,
  parent: pulumi.Resource,
  env: Record<string, string | undefined> = process.env,
): command.remote.Command {
  const settings = agentSettingsFromEnv(env);
  const unit = agentUnitFile({ hostRoot: runtime.hostRoot });
  const stack = pulumi.getStack();
  const config = JSON.parse(
    agentConfigJson({
      stack,
      accountId: runtime.accountId,
      endpoint: settings.endpoint,
      hostRoot: runtime.hostRoot,
      healthPort: runtime.healthPort,
      ...(settings.heartbeatSeconds ? { heartbeatSeconds: settings.heartbeatSeconds } : {}),
    }),
  ) as Record<string, unknown>;
  const bundle = agentBundleFile().sha256;
  const stdin = pulumi.secret(pulumi.output(agentSecret(settings.hmacSecret, stack, runtime.accountId)).apply((credential) => JSON.stringify({ unit, config, credential, bundle })));
  return new command.remote.Command(
    `${name}-agent`,
    { connection, create: agentInstallCommand(runtime.hostRoot), stdin, addPreviousOutputInEnv: false },
    // The stdout is only {"agent":"installed"}, but nothing from a secret input may leak through it.
    { parent, dependsOn: [install], additionalSecretOutputs: ["stdout", "stderr"] },
  );
}
