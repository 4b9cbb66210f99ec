// cloud-init for a new droplet: docker, the tools the on-host script needs and the OpenClaw
// checkout. It carries no version (versions are the deploy command's job), so a release never
// changes user data; the droplet also ignores later user-data changes. The script comes with the
// install command, by digest (which waits for cloud-init, then turns OpenClaw's own updater off),
// so the script's text is not kept in the stack's state with every droplet's user data.
import { stringify } from "yaml";
import { checkHostRoot } from "./onhost";

export interface CloudInitArgs {
  hostRoot: string;
  healthPort: number;
  /** Git remote of OpenClaw; the checkout starts there and the deploy command picks the tag. */
  openclawRemote?: string;
  /** Agent runtimes: Node 24 for the self-upgrade agent (Ubuntu's own Node is too old). */
  agentNode?: boolean;
}

export function cloudInit(args: CloudInitArgs): string {
  const root = checkHostRoot(args.hostRoot);
  const runcmd: string[][] = [["install", "-d", "-m", "0755", `${root}/bin`, `${root}/etc`, `${root}/state`]];
  if (args.openclawRemote) {
    runcmd.push(["git", "clone", "--quiet", "--", args.openclawRemote, `${root}/openclaw`]);
  }
  runcmd.push(["systemctl", "enable", "--now", "docker"]);
  // The npm registry's `node` package, as the project itself runs: /usr/local/bin/node.
  if (args.agentNode) runcmd.push(["npm", "install", "--global", "--no-audit", "--no-fund", "node@24"]);
  const doc = {
    package_update: true,
    packages: ["docker.io", "docker-compose-v2", "git", "jq", "curl", "util-linux", ...(args.agentNode ? ["npm"] : [])],
    write_files: [
      {
        path: `${root}/etc/fleet.env`,
        permissions: "0644",
        content: `FLEET_HEALTH_URL=http://127.0.0.1:${args.healthPort}\n`,
      },
    ],
    runcmd,
  };
  return `#cloud-config\n${stringify(doc)}`;
}
