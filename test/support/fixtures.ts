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

/** A "billion laughs" YAML: 9 levels of 9 aliases each, its `config.fleet:runtimes` 9^9 entries. */
export function yamlAliasBomb(): string {
  const name = (i: number) => String.fromCharCode(97 + i);
  const levels = [`${name(0)}: &${name(0)} [${Array(9).fill("x").join(", ")}]`];
  for (let i = 1; i < 9; i++) levels.push(`${name(i)}: &${name(i)} [${Array(9).fill(`*${name(i - 1)}`).join(", ")}]`);
  return `${levels.join("\n")}\nconfig:\n  fleet:runtimes: *${name(8)}\n`;
}
