// Which stack a command works on: --stack, else $PULUMI_STACK, else the stack Pulumi has selected.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { isStackName } from "../fleet/ids";
import { UsageError } from "./errors";

const run = promisify(execFile);

export async function resolveStack(option: string | undefined, projectDir: string): Promise<string> {
  const chosen = option ?? process.env.PULUMI_STACK;
  if (chosen !== undefined) {
    if (!isStackName(chosen)) {
      throw new UsageError(`--stack: ${JSON.stringify(chosen)} is not a stack name (letters, digits, '.', '_' or '-')`);
    }
    return chosen;
  }
  try {
    const { stdout } = await run("pulumi", ["stack", "--show-name", "--non-interactive"], { cwd: projectDir, timeout: 20_000 });
    const name = stdout.trim().split("/").at(-1) ?? "";
    if (isStackName(name)) return name;
  } catch {
    // no CLI, no login or no stack selected: fall through to the error below
  }
  throw new UsageError("--stack: no stack given (pass --stack NAME, set PULUMI_STACK, or select one with `pulumi stack select`)");
}
