// The `fleet` CLI. Every command takes --stack and --json; exit codes per control/errors.ts.
import { Command, CommanderError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, isBadInput, OperationError } from "../control/errors";
import { registerValidate } from "./commands/validate";
import { registerPlan } from "./commands/plan";
import { registerRollout } from "./commands/rollout";
import { registerStatus } from "./commands/status";
import { registerReleases } from "./commands/releases";
import { registerMonitor } from "./commands/monitor";
import { registerDashboard } from "./commands/dashboard";
import { printableJson, printableLines } from "./text";

export interface Output {
  json: boolean;
  /** One JSON document (or one JSON line of a stream) on stdout. */
  emit(value: unknown): void;
  /** Human text on stdout (suppressed with --json). */
  say(text: string): void;
  /** Diagnostics on stderr. */
  warn(text: string): void;
}

export interface GlobalOptions {
  stack?: string;
  json?: boolean;
  project?: string;
}

export interface CommandContext {
  globals: GlobalOptions;
  out: Output;
  projectDir: string;
  /** When this command began (performance.now() ms): the process's start when it is the process (bin/fleet.cjs), else the main() call. */
  startedAt?: number;
}

/** How a command runs its action: output, exit code and errors handled once (buildProgram). */
export type Run = (fn: (ctx: CommandContext) => Promise<number>, cmd: Command) => Promise<void>;

export function makeOutput(
  json: boolean,
  stdout: Pick<NodeJS.WritableStream, "write"> = process.stdout,
  stderr: Pick<NodeJS.WritableStream, "write"> = process.stderr,
): Output {
  return {
    json,
    // Every human line passes printableLines: no path can hand a terminal a raw escape sequence.
    emit: (value) => stdout.write(`${printableJson(value)}\n`),
    say: (text) => {
      if (!json) stdout.write(`${printableLines(text)}\n`);
    },
    warn: (text) => stderr.write(`${printableLines(text)}\n`),
  };
}

export function buildProgram(run: Run, io: Io = process): Command {
  const program = new Command("fleet")
    .description("Runtime Fleet: provision, upgrade and watch a fleet of OpenClaw runtimes")
    .addOption(new Option("--stack <name>", "the Pulumi stack (default: $PULUMI_STACK, else the selected stack)"))
    .option("--json", "machine-readable output")
    .option("--project <dir>", "the Pulumi project directory", process.cwd())
    .showHelpAfterError()
    .exitOverride()
    // Set before the commands are added: subcommands inherit it.
    .configureOutput({ writeErr: (s) => io.stderr.write(s), writeOut: (s) => io.stdout.write(s) });
  registerValidate(program, run);
  registerPlan(program, run);
  registerRollout(program, run);
  registerStatus(program, run);
  registerReleases(program, run);
  registerMonitor(program, run);
  registerDashboard(program, run);
  return program;
}

export interface Io {
  stdout: Pick<NodeJS.WritableStream, "write">;
  stderr: Pick<NodeJS.WritableStream, "write">;
}

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  let code = EXIT_OK;
  const startedAt = io === process ? 0 : performance.now();
  const run = async (fn: (ctx: CommandContext) => Promise<number>, cmd: Command) => {
    const globals = cmd.optsWithGlobals() as GlobalOptions;
    const out = makeOutput(Boolean(globals.json), io.stdout, io.stderr);
    try {
      code = await fn({ globals, out, projectDir: globals.project ?? process.cwd(), startedAt });
    } catch (err) {
      code = reportError(err, out);
    }
  };
  const program = buildProgram(run, io);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is bad input.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    return reportError(err, makeOutput(argv.includes("--json"), io.stdout, io.stderr));
  }
  return code;
}

export function reportError(err: unknown, out: Output): number {
  const usage = isBadInput(err);
  const message = err instanceof Error ? err.message : String(err);
  if (out.json) out.emit({ ok: false, error: message, kind: usage ? "bad-input" : "failed" });
  else out.warn(`fleet: ${message}`);
  if (usage) return EXIT_USAGE;
  if (!(err instanceof OperationError) && process.env.FLEET_DEBUG) out.warn(String((err as Error)?.stack ?? err));
  return EXIT_FAILED;
}
