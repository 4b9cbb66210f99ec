// `fleet-lab doctor`: what the demo and the tests need from the machine, checked in seconds before
// any long step, and installed with apt-get when run as root on Debian. The one list of Debian
// packages: `npm run demo` and `.ci/run` both read it through this command.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";

/** Who needs a package: the demo (and the lab), the test suites, or the benchmarks. */
export type Purpose = "demo" | "tests" | "bench";
export const PURPOSES: readonly Purpose[] = ["demo", "tests", "bench"];

export interface Requirement {
  /** The program looked up on PATH. */
  command: string;
  /** The Debian package that brings it. */
  pkg: string;
  /** Why the fleet needs it, in a few words. */
  why: string;
  neededBy: Purpose;
  /** A command that must succeed, for a package without a program of its own (a Python module). */
  probe?: readonly string[];
}

export const REQUIREMENTS: readonly Requirement[] = [
  { command: "sshd", pkg: "openssh-server", why: "each lab host's SSH server", neededBy: "demo" },
  { command: "ssh-keygen", pkg: "openssh-client", why: "the lab's client and host keys", neededBy: "demo" },
  { command: "ssh", pkg: "openssh-client", why: "fault injection and host actions over SSH", neededBy: "demo" },
  { command: "git", pkg: "git", why: "the release origin and each host's checkout", neededBy: "demo" },
  { command: "jq", pkg: "jq", why: "the on-host upgrade script reads its JSON input", neededBy: "demo" },
  { command: "curl", pkg: "curl", why: "the on-host script's /health and /version checks", neededBy: "demo" },
  { command: "flock", pkg: "util-linux", why: "the on-host script's lock", neededBy: "demo" },
  { command: "chromium", pkg: "chromium", why: "the dashboard e2e tests drive it", neededBy: "tests" },
  { command: "shellcheck", pkg: "shellcheck", why: "actionlint checks the workflows' scripts with it", neededBy: "tests" },
  { command: "ansible-playbook", pkg: "ansible-core", why: "the benchmark against Ansible", neededBy: "bench" },
  // Debian's own interpreter: the module is Debian's, and a python3 earlier on PATH may lack it.
  { command: "python3", pkg: "python3-scipy", why: "the canary statistics cross-check (a unit test)", neededBy: "tests", probe: ["/usr/bin/python3", "-c", "import scipy"] },
];

/** The requirements of a purpose: the demo's always (the tests and benchmarks run the lab). */
export function requirementsFor(purpose: Purpose): Requirement[] {
  return REQUIREMENTS.filter((r) => r.neededBy === "demo" || r.neededBy === purpose);
}

/** Where programs are looked for: PATH, then the sbin dirs a non-root PATH often lacks (sshd lives there). */
export function searchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = (env.FLEET_DOCTOR_PATH ?? `${env.PATH ?? ""}${delimiter}/usr/local/sbin${delimiter}/usr/sbin${delimiter}/sbin`).split(delimiter);
  return [...new Set(dirs.filter((d) => d !== ""))];
}

export type Lookup = (command: string) => string | null;

export function pathLookup(dirs: readonly string[]): Lookup {
  return (command) => {
    for (const dir of dirs) {
      const file = join(dir, command);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
    return null;
  };
}

export interface Check {
  requirement: Requirement;
  /** Where it was found, or null. */
  found: string | null;
}

export interface DoctorIo {
  lookup: Lookup;
  /** Runs a probe; true when it exits 0. */
  probe: (argv: readonly string[]) => boolean;
  isRoot: boolean;
  isDebian: boolean;
  /** Runs apt-get with these arguments, its output on our stderr; the exit code. */
  apt: (args: readonly string[]) => number;
  /** Whether the package, once installed, put an executable named `command` on disk. */
  installedBinary: (pkg: string, command: string) => string | null;
  log: (line: string) => void;
}

export function check(requirements: readonly Requirement[], io: Pick<DoctorIo, "lookup" | "probe">): Check[] {
  return requirements.map((requirement) => {
    const found = io.lookup(requirement.command);
    const ok = found !== null && (requirement.probe === undefined || io.probe(requirement.probe));
    return { requirement, found: ok ? found : null };
  });
}

export function missingPackages(checks: readonly Check[]): string[] {
  return [...new Set(checks.filter((c) => c.found === null).map((c) => c.requirement.pkg))];
}

export function installCommand(packages: readonly string[], root: boolean): string {
  return `${root ? "" : "sudo "}apt-get update && ${root ? "" : "sudo "}apt-get install -y --no-install-recommends ${packages.join(" ")}`;
}

/** One line naming what is missing, what for, and the one command that installs it. */
export function missingLine(checks: readonly Check[], root: boolean): string {
  const missing = checks.filter((c) => c.found === null);
  const what = missing.map((c) => `${c.requirement.command} (${c.requirement.pkg}: ${c.requirement.why})`).join(", ");
  return `missing ${what}; run: ${installCommand(missingPackages(missing), root)}`;
}

export interface DoctorResult {
  ok: boolean;
  purpose: Purpose;
  checks: Array<{ command: string; pkg: string; why: string; neededBy: Purpose; found: string | null }>;
  /** Packages apt-get installed in this run. */
  installed: string[];
  /** What to run when something is still missing. */
  fix: string | null;
  toolchain: ToolchainPlan | null;
}

export interface DoctorOptions {
  purpose?: Purpose;
  /** Install what is missing when root on Debian. */
  install?: boolean;
  /** Also check what the Pulumi toolchain needs (Go, when the stand-ins must be built). */
  toolchain?: boolean;
}

/** Checks, installs (root on Debian, when asked) and checks again. Never throws for a missing tool. */
export function doctor(options: DoctorOptions, io: DoctorIo, toolchainPlan: () => ToolchainPlan | null = () => null): DoctorResult {
  const purpose = options.purpose ?? "demo";
  const requirements = requirementsFor(purpose);
  let checks = check(requirements, io);
  const installed: string[] = [];
  let missing = missingPackages(checks);
  if (missing.length > 0 && options.install && io.isRoot && io.isDebian) {
    for (const c of checks.filter((x) => x.found === null)) io.log(`doctor: installing ${c.requirement.pkg}: ${c.requirement.command} is missing (${c.requirement.why})`);
    io.log("doctor: apt-get update");
    if (io.apt(["update", "-qq"]) !== 0) io.log("doctor: apt-get update failed; trying the install from the current package lists");
    io.log(`doctor: apt-get install -y --no-install-recommends ${missing.join(" ")}`);
    const code = io.apt(["install", "-y", "-qq", "--no-install-recommends", ...missing]);
    if (code === 0) installed.push(...missing);
    // A just-installed program may sit outside the PATH searched (sshd in /usr/sbin): the package says where.
    const pkgOf = new Map(requirements.map((r) => [r.command, r.pkg]));
    const lookup: Lookup = (command) => {
      const pkg = pkgOf.get(command);
      return io.lookup(command) ?? (pkg !== undefined && installed.includes(pkg) ? io.installedBinary(pkg, command) : null);
    };
    checks = check(requirements, { probe: io.probe, lookup });
    missing = missingPackages(checks);
  }
  let fix = missing.length > 0 ? missingLine(checks, io.isRoot) : null;
  if (fix !== null && !io.isDebian) fix = `${fix} (or your system's equivalent)`;
  const toolchain = options.toolchain ? toolchainPlan() : null;
  if (fix === null && toolchain?.problem) fix = toolchain.problem;
  return {
    ok: fix === null,
    purpose,
    checks: checks.map((c) => ({ command: c.requirement.command, pkg: c.requirement.pkg, why: c.requirement.why, neededBy: c.requirement.neededBy, found: c.found })),
    installed,
    fix,
    toolchain,
  };
}

// The Pulumi toolchain ------------------------------------------------------------------------

const REPO_ROOT = resolve(__dirname, "..");
export const GO_MIN = "1.26.6";

export interface ToolchainPlan {
  /** What tools/setup-pulumi.sh would do: use the official CLI, the cached stand-ins, or build them. */
  choice: "official" | "cached" | "build";
  /** Go that would build the stand-ins (only looked for when choice is build). */
  go: string | null;
  /** Why the toolchain cannot be had, with what to do; null when it can. */
  problem: string | null;
}

function versionAtLeast(version: string, min: string): boolean {
  const a = version.replace(/^go|^v/, "").split(/[.-]/).map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    if (Number.isNaN(x)) return false;
    if (x !== b[i]) return x > b[i]!;
  }
  return true;
}

/** Asks tools/setup-pulumi.sh what it would choose (--plan changes nothing), and checks Go when it must build. */
export function toolchainPlan(lookup: Lookup, env: NodeJS.ProcessEnv = process.env): ToolchainPlan {
  const r = spawnSync("bash", [join(REPO_ROOT, "tools", "setup-pulumi.sh"), "--plan"], { encoding: "utf8", env, timeout: 30_000 });
  const choice = r.stdout.trim().split("\n").at(-1) as ToolchainPlan["choice"];
  if (r.status !== 0 || !["official", "cached", "build"].includes(choice)) {
    return { choice: "build", go: null, problem: `tools/setup-pulumi.sh --plan failed: ${(r.stderr || r.stdout).trim().split("\n").at(-1) ?? ""}` };
  }
  if (choice !== "build") return { choice, go: null, problem: null };
  const go = lookup("go") ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : null);
  const advice = "install Go from https://go.dev/dl (the stand-ins are built from tools/pulumi), or the official Pulumi CLI (https://www.pulumi.com/docs/install/)";
  if (go === null) return { choice, go, problem: `no Pulumi CLI and no go to build the stand-ins: ${advice}` };
  const v = spawnSync(go, ["env", "GOVERSION"], { encoding: "utf8", timeout: 10_000 }).stdout?.trim() ?? "";
  if (!versionAtLeast(v, GO_MIN)) return { choice, go, problem: `${go} is ${v || "of unknown version"}; building the stand-ins needs Go >= ${GO_MIN}: ${advice}` };
  return { choice, go, problem: null };
}

/** One line: which Pulumi toolchain a bin dir holds (fleet-lab and the e2e suites print it). */
export function describeToolchain(binDir: string): string {
  const stamp = join(dirname(binDir), ".complete");
  const version = spawnSync(join(binDir, "pulumi"), ["version"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" }, timeout: 20_000 }).stdout?.trim() || "unknown version";
  if (existsSync(stamp)) {
    return `toolchain: stand-ins (pulumi ${version} built from pkg/v3, language host and command provider from tools/pulumi) in ${binDir}`;
  }
  if (existsSync(join(binDir, "pulumi-resource-command"))) return `toolchain: pulumi ${version} with the language host and command provider beside it in ${binDir}`;
  return `toolchain: official Pulumi CLI ${version} in ${binDir}, command provider from its plugin cache`;
}

// The machine ---------------------------------------------------------------------------------

export function systemIo(log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): DoctorIo {
  return {
    lookup: pathLookup(searchPath(env)),
    probe: (argv) => spawnSync(argv[0]!, argv.slice(1), { stdio: "ignore", timeout: 20_000 }).status === 0,
    isRoot: typeof process.getuid === "function" && process.getuid() === 0,
    // apt-get itself is looked for on the real PATH (FLEET_DOCTOR_PATH only narrows the requirements').
    isDebian: existsSync("/etc/debian_version") && pathLookup(searchPath({ PATH: env.PATH }))("apt-get") !== null,
    apt: (args) =>
      spawnSync("apt-get", [...args], { stdio: ["ignore", process.stderr, process.stderr], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status ?? 1,
    installedBinary: (pkg, command) => {
      const r = spawnSync("dpkg-query", ["-L", pkg], { encoding: "utf8" });
      const file = (r.stdout ?? "").split("\n").find((f) => f.endsWith(`/bin/${command}`) || f.endsWith(`/sbin/${command}`));
      return file !== undefined && existsSync(file) ? file : null;
    },
    log,
  };
}
