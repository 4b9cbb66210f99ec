// Runs the `fleet` CLI in-process and captures what it prints.
import { main } from "../../cli/cli";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function fleet(...argv: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (s: string | Uint8Array) => ((stdout += String(s)), true) },
    stderr: { write: (s: string | Uint8Array) => ((stderr += String(s)), true) },
  });
  return { code, stdout, stderr };
}
