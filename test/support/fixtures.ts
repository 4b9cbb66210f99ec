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

/**
 * A small stack config for unit tests, as YAML text: existing hosts, release v1.2.3/v0.5.0.
 * `runtimes` is its fleet:runtimes list (each line starting "\n    - " or "\n      "); `policy`
 * the policy lines after the minimum (a rolling 50% policy unless given).
 */
export function unitStackYaml(runtimes: string, policy = "\n    strategy: rolling\n    batchPercent: 50"): string {
  return `config:
  fleet:release:
    openclaw: v1.2.3
    runtimeService: v0.5.0
  fleet:policy:
    minSupportedOpenclaw: v1.1.0${policy}
  fleet:defaults:
    provider: existing
  fleet:sshPrivateKey:
    secure: v1:abc
  fleet:runtimes:${runtimes}
`;
}

/** Runtimes for unitStackYaml: acme (the canary) on 127.0.0.1, then globex, initech... on .2, .3. */
export function unitRuntimes(names: readonly string[]): string {
  return names.map((n, i) => `\n    - accountId: ${n}\n      host: 127.0.0.${i + 1}\n      openclaw: v1.2.3\n      runtimeService: v0.5.0${i === 0 ? "\n      canary: true" : ""}`).join("");
}
