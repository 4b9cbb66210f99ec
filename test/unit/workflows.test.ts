// The GitHub Actions workflows: actionlint finds nothing, every `npx fleet <command>` /
// `npm run <script>` / `npx <bin>` a `run:` step calls exists in this package (with the options
// it passes), and no untrusted `${{ github.event... }}` text is spliced into a script.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { buildProgram } from "../../cli/cli";
import { ROOT } from "../support/fixtures";

const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).sort();
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string>; bin: Record<string, string> };

interface RunStep {
  workflow: string;
  job: string;
  step: string;
  script: string;
}

function runSteps(workflow: string, text: string): RunStep[] {
  const doc = parse(text) as { jobs?: Record<string, { steps?: Array<{ name?: string; run?: string; uses?: string }> }> };
  const out: RunStep[] = [];
  for (const [job, def] of Object.entries(doc.jobs ?? {})) {
    (def.steps ?? []).forEach((s, i) => {
      if (typeof s.run === "string") out.push({ workflow, job, step: s.name ?? `#${i + 1}`, script: s.run });
    });
  }
  return out;
}

/** Shell words of each simple command of a script (continuations joined; split at ; && || | and newlines). */
function commands(script: string): string[][] {
  return script
    .replace(/\\\n/g, " ")
    .split(/\n|&&|\|\||;|\|/)
    .map((c) => c.trim().replace(/^[({]\s*/, ""))
    .filter((c) => c !== "" && !c.startsWith("#"))
    .map((c) => c.split(/\s+/).map((w) => w.replace(/^["']|["']$/g, "")));
}

function fleetProgram(): Command {
  return buildProgram(async () => undefined);
}

function optionNames(cmd: Command): string[] {
  return cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => x !== undefined));
}

/** Every problem with the package commands a script calls. */
function packageCommandProblems(step: RunStep, program: Command = fleetProgram()): string[] {
  const problems: string[] = [];
  const where = `${step.workflow} ${step.job} "${step.step}"`;
  const globals = optionNames(program);
  for (const words of commands(step.script)) {
    const [first, second, ...rest] = words;
    if (first === "npx" && second === "fleet") {
      const args = rest.filter((w) => !w.startsWith("-"));
      const name = args[0];
      let cmd = program.commands.find((c) => c.name() === name);
      if (!cmd) {
        problems.push(`${where}: npx fleet ${name ?? ""}: no such fleet command (have: ${program.commands.map((c) => c.name()).join(", ")})`);
        continue;
      }
      const sub = cmd.commands.find((c) => c.name() === args[1]);
      if (sub) cmd = sub;
      const known = [...globals, ...optionNames(cmd), "--help"];
      for (const w of rest) {
        if (!w.startsWith("-")) continue;
        const opt = w.split("=")[0]!;
        if (!known.includes(opt)) problems.push(`${where}: npx fleet ${cmd.name()} ${opt}: no such option`);
      }
    } else if (first === "npx" && second !== undefined) {
      const bin = second;
      if (!existsSync(path.join(ROOT, "node_modules", ".bin", bin)) && !(bin in pkg.bin)) {
        problems.push(`${where}: npx ${bin}: not a bin of this package or its dependencies (npx would download it)`);
      }
    } else if (first === "npm" && (second === "run" || second === "run-script")) {
      const script = rest.find((w) => !w.startsWith("-"));
      if (script === undefined || !(script in pkg.scripts)) problems.push(`${where}: npm run ${script ?? ""}: no such script in package.json`);
    } else if (first === "npm" && (second === "test" || second === "t")) {
      if (!("test" in pkg.scripts)) problems.push(`${where}: npm test: no test script in package.json`);
    } else if (first === "bash" && second !== undefined && !second.startsWith("-")) {
      if (!existsSync(path.join(ROOT, second))) problems.push(`${where}: bash ${second}: no such file`);
    }
  }
  if (/\$\{\{\s*(github\.event\.|inputs\.|github\.head_ref)/.test(step.script)) {
    problems.push(`${where}: untrusted \${{ github.event / inputs / head_ref }} text spliced into the script (pass it through env)`);
  }
  return problems;
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}

function jobSteps(text: string): Array<{ job: string; steps: Step[] }> {
  const doc = parse(text) as { jobs?: Record<string, { steps?: Step[] }> };
  return Object.entries(doc.jobs ?? {}).map(([job, def]) => ({ job, steps: def.steps ?? [] }));
}

const PINNED_PULUMI = /^PULUMI_VERSION=v(\S+)$/m.exec(readFileSync(path.join(ROOT, "tools", "setup-pulumi.sh"), "utf8"))![1];

describe("GitHub Actions workflows", () => {
  it("has the four workflows", () => {
    expect(files).toEqual(["ci.yml", "convex.yml", "preview.yml", "promote.yml"]);
  });

  it(
    "actionlint reports nothing",
    () => {
      // Cache hit: ~10 ms; otherwise builds actionlint from its Go module once.
      const bin = execFileSync("bash", [path.join(ROOT, "tools", "setup-actionlint.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
        .trim()
        .split("\n")
        .at(-1)!;
      let out = "";
      let code = 0;
      try {
        out = execFileSync(path.join(bin, "actionlint"), ["-no-color", ...files.map((f) => path.join(WORKFLOWS, f))], { cwd: ROOT, encoding: "utf8" });
      } catch (err) {
        const e = err as { status?: number; stdout?: string };
        code = e.status ?? 1;
        out = e.stdout ?? String(err);
      }
      expect(out).toBe("");
      expect(code).toBe(0);
    },
    300_000,
  );

  const steps = files.flatMap((f) => runSteps(f, readFileSync(path.join(WORKFLOWS, f), "utf8")));

  it("every run: step calls only fleet commands, npm scripts and bins this package has", () => {
    const program = fleetProgram();
    expect(steps.flatMap((s) => packageCommandProblems(s, program))).toEqual([]);
  });

  it("the workflows use the fleet's own commands for rollouts and promotion", () => {
    const calls = steps.flatMap((s) => commands(s.script)).filter((w) => w[0] === "npx" && w[1] === "fleet").map((w) => w[2]);
    expect(new Set(calls)).toEqual(new Set(["validate", "releases", "rollout", "health", "promote"]));
    const scripts = steps.flatMap((s) => commands(s.script)).filter((w) => w[0] === "npm" && w[1] === "run").map((w) => w.slice(2).find((x) => !x.startsWith("-")));
    expect(new Set(scripts)).toEqual(new Set(["setup:pulumi", "typecheck", "lint", "test:e2e"]));
  });

  it("the official Pulumi toolchain: pulumi/actions at the pinned CLI version before setup:pulumi, which may not fall back to stand-ins; Go only for actionlint", () => {
    let jobsWithPulumi = 0;
    for (const f of files) {
      for (const { job, steps: list } of jobSteps(readFileSync(path.join(WORKFLOWS, f), "utf8"))) {
        const where = `${f} ${job}`;
        const setup = list.findIndex((s) => s.run?.includes("setup:pulumi"));
        const cli = list.findIndex((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === undefined);
        for (const s of list) {
          // No stand-in builds in production CI: no Go toolchain or cache keyed on tools/pulumi.
          expect(JSON.stringify(s), where).not.toMatch(/tools\/pulumi\/\*\*/);
          if (s.uses?.startsWith("actions/setup-go@")) expect(list.some((x) => x.run?.includes("setup-actionlint.sh")), `${where}: setup-go without actionlint`).toBe(true);
          if (s.uses?.startsWith("pulumi/actions@")) expect(String(s.with?.["pulumi-version"]), where).toBe(PINNED_PULUMI);
        }
        if (setup === -1) continue;
        jobsWithPulumi++;
        expect(cli, `${where}: the CLI is installed with pulumi/actions before setup:pulumi`).toBeGreaterThanOrEqual(0);
        expect(cli, where).toBeLessThan(setup);
        expect(list[setup]!.env?.FLEET_TOOLCHAIN, where).toBe("official");
      }
    }
    expect(jobsWithPulumi).toBe(4); // ci test, preview, promote staging and production
  });

  it("a step with a pipe fails when a command before the pipe fails: bash (-eo pipefail) for every run: step", () => {
    for (const f of files) {
      const doc = parse(readFileSync(path.join(WORKFLOWS, f), "utf8")) as {
        defaults?: { run?: { shell?: string } };
        jobs?: Record<string, { defaults?: { run?: { shell?: string } }; steps?: Array<{ run?: string; shell?: string }> }>;
      };
      for (const [job, def] of Object.entries(doc.jobs ?? {})) {
        for (const step of def.steps ?? []) {
          if (typeof step.run !== "string" || !/\|/.test(step.run.replace(/\|\|/g, ""))) continue;
          // GitHub's default shell is `bash -e {0}` (no pipefail); `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`.
          const shell = step.shell ?? def.defaults?.run?.shell ?? doc.defaults?.run?.shell;
          expect(shell, `${f} job ${job}: ${step.run.split("\n")[0]}`).toBe("bash");
        }
      }
    }
  });

  it("the Debian packages come from the one list (fleet-lab doctor), not an apt-get line of their own", () => {
    const scripts = steps.map((s) => s.script);
    expect(scripts.filter((s) => /apt-get install/.test(s))).toEqual([]);
    expect(scripts.filter((s) => /fleet-lab\.cjs doctor --for tests --install/.test(s))).toHaveLength(1);
    expect(readFileSync(path.join(ROOT, ".ci", "run"), "utf8")).toMatch(/^fleet-lab doctor --for tests --install$/m);
  });

  it("the checker itself catches a missing command, option, script or bin and an untrusted interpolation", () => {
    const bad: RunStep = {
      workflow: "x.yml",
      job: "j",
      step: "s",
      script: [
        "npx fleet deploy --stack prod",
        "npx fleet rollout --stack prod --to v1.2.3 --yolo",
        "npm run --silent build",
        "npx left-pad",
        'echo "${{ github.event.pull_request.title }}"',
      ].join("\n"),
    };
    const problems = packageCommandProblems(bad);
    expect(problems).toHaveLength(5);
    expect(problems[0]).toMatch(/npx fleet deploy: no such fleet command/);
    expect(problems[1]).toMatch(/npx fleet rollout --yolo: no such option/);
    expect(problems[2]).toMatch(/npm run build: no such script/);
    expect(problems[3]).toMatch(/npx left-pad: not a bin/);
    expect(problems[4]).toMatch(/untrusted/);
    expect(packageCommandProblems({ ...bad, script: "npx fleet rollout resume --break-lock\nnpm test\nnpx convex deploy" })).toEqual([]);
  });
});
