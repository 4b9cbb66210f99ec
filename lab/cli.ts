// `fleet-lab`: a local simulated fleet (real sshd, simulated runtimes on 127.0.0.x, faults).
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { FAULT_KINDS } from "./kit";
import { defaultLabDir, labDown, labEnv, LabError, labFault, labStatus, labUp, MAX_HOSTS } from "./lab";
import { printableLines } from "../cli/text";

function hostCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_HOSTS) {
    throw new InvalidArgumentError(`expected an integer 1..${MAX_HOSTS}`);
  }
  return Number(value);
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  // Host-supplied text (versions served over HTTP, errors) is printed with controls escaped.
  const out = (s: string) => process.stdout.write(printableLines(s.endsWith("\n") ? s : `${s}\n`));
  const err = (s: string) => process.stderr.write(printableLines(s.endsWith("\n") ? s : `${s}\n`));
  let code = 0;
  const program = new Command("fleet-lab")
    .description("A local simulated fleet: hosts on 127.0.0.(10+i) with sshd on :2222 and a runtime on :8080")
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err });
  const dirOption = ["--dir <dir>", "lab directory", defaultLabDir()] as const;

  program
    .command("up")
    .description("create and start N hosts, write Pulumi.lab.yaml in the project dir")
    .requiredOption("--hosts <n>", `number of hosts (1..${MAX_HOSTS})`, hostCount)
    .option(...dirOption)
    .option("--project <dir>", "Pulumi project dir (where Pulumi.lab.yaml goes)", process.cwd())
    .option("--no-pulumi", "do not create the lab stack / store the SSH key secret")
    .action(async (opts: { hosts: number; dir: string; project: string; pulumi: boolean }) => {
      const result = await labUp({ hosts: opts.hosts, dir: opts.dir, projectDir: opts.project, configureStack: opts.pulumi, log: err });
      out(`lab up: ${result.lab.hosts.length} hosts in ${result.lab.dir} (${result.timingsMs.hostsStarted ?? "?"} ms)`);
      for (const h of result.lab.hosts) out(`  ${h.runtime}  ${h.address}  ssh :${h.ssh.port}  health :${h.healthPort}  ${h.root}`);
      out(`stack config: ${result.stackFile}`);
      // Without Pulumi the lab still works (the message says what to do); a Pulumi failure is exit 1.
      if (result.stack.failed) code = 1;
    });

  program
    .command("fault")
    .description(`inject a fault into one runtime: ${FAULT_KINDS.join(", ")}`)
    .argument("<runtime>", "runtime id, e.g. lab-02")
    .argument("<kind>", "fault kind")
    .option(...dirOption)
    .action(async (runtime: string, kind: string, opts: { dir: string }) => {
      const faults = await labFault(opts.dir, runtime, kind);
      out(`${runtime}: ${kind} (active faults: ${JSON.stringify(faults)})`);
    });

  program
    .command("status")
    .description("versions and health as served over HTTP, upgrade and restart counts")
    .option("--json", "one JSON document")
    .option(...dirOption)
    .action(async (opts: { json?: boolean; dir: string }) => {
      const status = await labStatus(opts.dir);
      if (opts.json) {
        out(JSON.stringify(status));
        return;
      }
      out("RUNTIME   ADDRESS       OPENCLAW  SERVICE   HEALTHY  UPGRADES  RESTARTS");
      for (const h of status.hosts) {
        out(
          [h.runtime.padEnd(9), h.address.padEnd(13), (h.openclaw ?? "-").padEnd(9), (h.runtimeService ?? "-").padEnd(9),
            String(h.healthy).padEnd(8), String(h.upgrades).padEnd(9), String(h.restarts)].join(" "),
        );
      }
    });

  program
    .command("env")
    .description('print export lines: eval "$(fleet-lab env)" then pulumi preview --stack lab')
    .option(...dirOption)
    .action(async (opts: { dir: string }) => {
      out(await labEnv(opts.dir));
    });

  program
    .command("down")
    .description("stop every process of the lab (idempotent)")
    .option(...dirOption)
    .action(async (opts: { dir: string }) => {
      const { stopped } = await labDown(opts.dir);
      out(`lab down: ${stopped} processes stopped, none left`);
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2; // usage errors are bad input
    }
    if (error instanceof LabError) {
      err(`fleet-lab: ${error.message}`);
      return error.exitCode;
    }
    err(`fleet-lab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}
