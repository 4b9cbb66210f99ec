// The Ansible side of `npm run bench:rollout`: an inventory and ansible.cfg for a lab, and a run
// of bench/ansible/upgrade.yml timed batch by batch (each serial batch starts with the
// fleet-upgrade task's header, timestamped as it is printed).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import YAML from "yaml";
import type { LabRecord } from "../../lab/lab";

export const PLAYBOOK = path.join(__dirname, "upgrade.yml");

export interface AnsibleFiles {
  dir: string;
  inventory: string;
  config: string;
}

/** The lab's hosts as an inventory group `runtimes`, in rollout order, strictly host-key checked. */
export function inventoryOf(lab: LabRecord): Record<string, unknown> {
  const hosts = Object.fromEntries(
    lab.hosts.map((h) => [h.runtime, { ansible_host: h.address, ansible_port: h.ssh.port, host_root: h.root, health_port: h.healthPort }]),
  );
  return {
    all: {
      vars: {
        ansible_user: lab.user,
        ansible_ssh_private_key_file: lab.keys.privateKey,
        ansible_ssh_common_args: `-o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${lab.keys.knownHosts}`,
        ansible_python_interpreter: "/usr/bin/python3",
      },
      children: { runtimes: { hosts } },
    },
  };
}

/** ansible.cfg: forks above the batch size (never the limit), pipelining and SSH multiplexing on. */
export function ansibleConfig(forks: number, controlDir: string): string {
  return [
    "[defaults]",
    `forks = ${forks}`,
    "host_key_checking = True",
    "retry_files_enabled = False",
    "interpreter_python = /usr/bin/python3",
    "",
    "[ssh_connection]",
    "pipelining = True",
    "ssh_args = -o ControlMaster=auto -o ControlPersist=120s",
    `control_path_dir = ${controlDir}`,
    "",
  ].join("\n");
}

export function writeAnsibleFiles(lab: LabRecord, dir: string): AnsibleFiles {
  const inventory = path.join(dir, "inventory.yml");
  const config = path.join(dir, "ansible.cfg");
  writeFileSync(inventory, YAML.stringify(inventoryOf(lab)));
  // Short control path dir: a socket path has at most 108 bytes.
  writeFileSync(config, ansibleConfig(Math.max(25, lab.hosts.length), path.join(dir, "cp")));
  return { dir, inventory, config };
}

export interface AnsibleRun {
  ok: boolean;
  code: number;
  wallMs: number;
  /** Start and end of each serial batch (epoch ms). */
  batches: Array<{ startMs: number; endMs: number }>;
  /** The last lines of its output (for a failure's report). */
  tail: string[];
}

/** Runs the playbook to `target`; `serial` as Ansible takes it ("10%", "2"). */
export function runAnsible(files: AnsibleFiles, target: { openclaw: string; runtimeService: string }, serial = "10%"): Promise<AnsibleRun> {
  // JSON extra vars: strings stay strings (no templating of a version into anything else).
  const extra = JSON.stringify({ openclaw: target.openclaw, runtime_service: target.runtimeService, fleet_serial: serial });
  const started = Date.now();
  const child = spawn("ansible-playbook", ["-i", files.inventory, "-e", extra, PLAYBOOK], {
    cwd: files.dir,
    env: { ...process.env, ANSIBLE_CONFIG: files.config, ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0", PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const starts: number[] = [];
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line.startsWith("TASK [fleet-upgrade]")) starts.push(Date.now());
    keep(line);
  });
  createInterface({ input: child.stderr }).on("line", keep);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      const end = Date.now();
      const batches = starts.map((s, i) => ({ startMs: i === 0 ? started : s, endMs: starts[i + 1] ?? end }));
      resolve({ ok: code === 0, code: code ?? 1, wallMs: end - started, batches, tail });
    });
  });
}
