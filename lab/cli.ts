// `fleet-lab`: a local simulated fleet (real sshd, simulated runtimes on 127.0.0.x, faults).
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { check, describeToolchain, doctor, missingLine, PURPOSES, requirementsFor, systemIo, toolchainPlan, type Purpose } from "./doctor";
import { FAULT_KINDS } from "./kit";
import { defaultLabDir, labDown, labEnv, LabError, labFault, labStatus, labUp, MAX_HOSTS, MAX_RUNTIMES_PER_HOST } from "./lab";
import { printableLines } from "../cli/text";

function hostCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_HOSTS) {
    throw new InvalidArgumentError(`expected an integer 1..${MAX_HOSTS}`);
  }
  return Number(value);
}

function runtimesPerHost(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_RUNTIMES_PER_HOST) {
    throw new InvalidArgumentError(`expected an integer 1..${MAX_RUNTIMES_PER_HOST}`);
  }
  return Number(value);
}

function purpose(value: string): Purpose {
  if (!(PURPOSES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${PURPOSES.join(", ")}`);
  return value as Purpose;
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
    .option("--runtimes-per-host <k>", `runtimes on each host, own root and health port each (1..${MAX_RUNTIMES_PER_HOST})`, runtimesPerHost, 1)
    .option(...dirOption)
    .option("--project <dir>", "Pulumi project dir (where Pulumi.lab.yaml goes)", process.cwd())
    .option("--no-pulumi", "do not create the lab stack / store the SSH key secret")
    .action(async (opts: { hosts: number; runtimesPerHost: number; dir: string; project: string; pulumi: boolean }) => {
      // Before any host is made: a missing program is one line with the command that installs it.
      const io = systemIo(err);
      const checks = check(requirementsFor("demo"), io);
      if (checks.some((c) => c.found === null)) throw new LabError(missingLine(checks, io.isRoot));
      const result = await labUp({ hosts: opts.hosts, runtimesPerHost: opts.runtimesPerHost, dir: opts.dir, projectDir: opts.project, configureStack: opts.pulumi, log: err });
      const what = opts.runtimesPerHost > 1 ? `${result.lab.hosts.length} runtimes on ${opts.hosts} hosts` : `${result.lab.hosts.length} hosts`;
      out(`lab up: ${what} in ${result.lab.dir} (${result.timingsMs.hostsStarted ?? "?"} ms)`);
      for (const h of result.lab.hosts) out(`  ${h.runtime}  ${h.address}  ssh :${h.ssh.port}  health :${h.healthPort}  ${h.root}`);
      out(`stack config: ${result.stackFile}`);
      if (result.lab.pulumiDir) out(describeToolchain(result.lab.pulumiDir));
      // Without Pulumi the lab still works (the message says what to do); a Pulumi failure is exit 1.
      if (result.stack.failed) code = 1;
    });

  program
    .command("doctor")
    .description("check (and, as root on Debian with --install, install) what the demo or the tests need")
    .option("--for <purpose>", `what to check for: ${PURPOSES.join(", ")}`, purpose, "demo" as Purpose)
    .option("--install", "install missing Debian packages with apt-get (root on Debian only)")
    .option("--no-toolchain", "skip the Pulumi toolchain check")
    .option("--json", "one JSON document")
    .action((opts: { for: Purpose; install?: boolean; toolchain: boolean; json?: boolean }) => {
      const io = systemIo(err);
      const result = doctor({ purpose: opts.for, install: opts.install === true, toolchain: opts.toolchain }, io, () => toolchainPlan(io.lookup));
      if (opts.json) out(JSON.stringify(result));
      else {
        const found = result.checks.filter((c) => c.found !== null).map((c) => c.command);
        const tc = result.toolchain ? `; Pulumi toolchain: ${result.toolchain.choice === "build" ? `build the stand-ins with ${result.toolchain.go ?? "go (missing)"}` : result.toolchain.choice}` : "";
        out(`doctor (${opts.for}): ${found.length} of ${result.checks.length} found${found.length ? ` (${found.join(", ")})` : ""}${tc}`);
      }
      if (!result.ok) {
        err(`fleet-lab: ${result.fix}`);
        code = 1;
      }
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
    // One line, no stack trace (FLEET_DEBUG=1 shows it): a lab step failing is not a bug report.
    const text = error instanceof Error ? (process.env.FLEET_DEBUG ? (error.stack ?? error.message) : error.message) : String(error);
    err(`fleet-lab: ${text}`);
    return 1;
  }
}
