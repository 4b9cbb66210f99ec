// `fleet validate`: the stack config checked by fleet/config, every error listed.
import type { Command } from "commander";
import { formatConfigErrors } from "../../fleet/config";
import { EXIT_OK, EXIT_USAGE } from "../../control/errors";
import type { CommandContext } from "../cli";
import { readStackConfig, stackConfigPath, validateStackConfig } from "../../control/stackConfig";
import { resolveStack } from "../../control/stackName";

export function registerValidate(
  program: Command,
  run: (fn: (ctx: CommandContext) => Promise<number>, cmd: Command) => Promise<void>,
): void {
  program
    .command("validate")
    .description("check a stack's config (Pulumi.<stack>.yaml): exit 0 when valid, 2 listing every error")
    .option("--config-file <path>", "validate this file instead of Pulumi.<stack>.yaml")
    .action(async (opts: { configFile?: string }, cmd: Command) =>
      run(async (ctx) => validate(ctx, opts.configFile), cmd),
    );
}

export async function validate(ctx: CommandContext, configFile?: string): Promise<number> {
  const file = configFile ?? stackConfigPath(ctx.projectDir, await resolveStack(ctx.globals.stack, ctx.projectDir));
  const result = validateStackConfig(readStackConfig(file));
  if (!result.ok) {
    if (ctx.out.json) ctx.out.emit({ valid: false, file, errors: result.errors });
    else ctx.out.warn(`${file}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}\n${formatConfigErrors(result.errors)}`);
    return EXIT_USAGE;
  }
  const { config } = result;
  const droplets = config.runtimes.filter((r) => r.provider === "digitalocean").length;
  const canaries = config.runtimes.filter((r) => r.canary).map((r) => r.accountId);
  const pinned = config.runtimes.filter((r) => r.pin !== undefined).length;
  if (ctx.out.json) {
    ctx.out.emit({
      valid: true,
      file,
      runtimes: config.runtimes.length,
      droplets,
      existing: config.runtimes.length - droplets,
      canaries,
      pinned,
      release: config.release,
    });
  } else {
    ctx.out.say(
      `valid: ${config.runtimes.length} runtimes (${droplets} droplets, ${config.runtimes.length - droplets} existing hosts), ` +
        `release openclaw ${config.release.openclaw} / runtime service ${config.release.runtimeService}, ` +
        `canary ${canaries.length > 0 ? canaries.join(", ") : "none"}${pinned > 0 ? `, ${pinned} pinned` : ""}`,
    );
  }
  return EXIT_OK;
}
