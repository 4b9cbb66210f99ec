// Runs the Pulumi program under mocks and collects every resource it registers.
// Mocks stand in for the DigitalOcean API and the SSH hosts (neither is reachable here).
import * as pulumi from "@pulumi/pulumi";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pulumiState = require("@pulumi/pulumi/runtime/state") as { getStore(): object };

/** Names of the resource and error hooks the program registered in the last run. */
export const hooks: string[] = [];

export interface MockResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isWrappedSecret(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

export function unwrapSecret<T = unknown>(value: unknown): T {
  return (isWrappedSecret(value) ? (value as { value: unknown }).value : value) as T;
}

/** Flattens a stack config map (structured values JSON-encoded, as the engine hands them over). */
function toConfigMap(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

export async function runProgram(
  config: Record<string, unknown>,
  importProgram: () => Promise<Record<string, unknown>>,
): Promise<{ resources: MockResource[]; exports: Record<string, unknown> }> {
  const resources: MockResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "digitalocean:index/droplet:Droplet") {
          state.ipv4Address = `203.0.113.${resources.length % 250}`;
        }
        if (args.type === "command:remote:Command") {
          const stdin = unwrapSecret<string | undefined>(args.inputs.stdin);
          state.stdout =
            String(args.inputs.create).includes(" status") && stdin
              ? JSON.stringify({ reported: JSON.parse(stdin), healthy: true })
              : '{"status":"success"}';
          state.stderr = "";
        }
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    "runtime-fleet",
    "test",
    false,
  );
  // Mocks have no engine to call hooks back; a stand-in callback server takes their registration
  // (the hook callbacks themselves are tested directly, their wiring end to end).
  hooks.length = 0;
  (pulumiState.getStore() as { callbacks?: unknown }).callbacks = {
    registerResourceHook: async (hook: { name: string }) => void hooks.push(hook.name),
    registerErrorHook: async (hook: { name: string }) => void hooks.push(hook.name),
    awaitStackRegistrations: async () => undefined,
  };
  // The SSH key is a secret in every stack; the mocks mark it so, as the engine would.
  pulumi.runtime.setAllConfig(toConfigMap(config), ["fleet:sshPrivateKey"]);
  const exports = await importProgram();
  await settle(exports);
  return { resources, exports };
}

/** Waits until every exported output has resolved, so every resource was registered. */
async function settle(value: unknown): Promise<void> {
  const out: pulumi.Output<unknown> = pulumi.output(value);
  await new Promise<void>((resolve) => out.apply(() => resolve()));
}
