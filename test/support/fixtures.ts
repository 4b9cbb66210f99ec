// Stack configs used across unit tests: the example production stack, parsed from the repo.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

export const ROOT = path.resolve(__dirname, "..", "..");

export function prodStackConfig(): Record<string, unknown> {
  const doc = parse(readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, unknown> };
  return structuredClone(doc.config);
}

export function runtimesOf(config: Record<string, unknown>): Array<Record<string, unknown>> {
  return config["fleet:runtimes"] as Array<Record<string, unknown>>;
}
