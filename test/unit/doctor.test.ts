// The first-run check (fleet-lab doctor): what the demo and the tests need, found through PATH,
// installed with apt-get as root on Debian, otherwise one line with the command to run. The CLI
// and the demo are run for real against a search path without sshd (nothing is uninstalled).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { doctor, pathLookup, REQUIREMENTS, requirementsFor, searchPath, type DoctorIo } from "../../lab/doctor";
import { ROOT } from "../support/fixtures";

function fakeIo(present: string[], over: Partial<DoctorIo> = {}): DoctorIo & { aptCalls: string[][]; lines: string[] } {
  const aptCalls: string[][] = [];
  const lines: string[] = [];
  return {
    lookup: (c) => (present.includes(c) ? `/usr/bin/${c}` : null),
    probe: () => true,
    isRoot: false,
    isDebian: true,
    apt: (args) => {
      aptCalls.push([...args]);
      return 0;
    },
    installedBinary: () => null,
    log: (l) => lines.push(l),
    aptCalls,
    lines,
    ...over,
  };
}

const demoCommands = requirementsFor("demo").map((r) => r.command);
const allButSshd = demoCommands.filter((c) => c !== "sshd");

describe("the one list of packages", () => {
  it("says for each package what it is for and who needs it; the tests need the demo's and Chromium and shellcheck", () => {
    for (const r of REQUIREMENTS) expect(r.why.length, r.pkg).toBeGreaterThan(5);
    expect(demoCommands).toEqual(["sshd", "ssh-keygen", "ssh", "git", "jq", "curl", "flock"]);
    const tests = requirementsFor("tests").map((r) => r.pkg);
    expect(tests).toEqual(expect.arrayContaining(["openssh-server", "openssh-client", "git", "jq", "curl", "util-linux", "chromium", "shellcheck"]));
    expect(tests).toContain("python3-scipy");
    expect(tests).not.toContain("ansible-core");
    expect(requirementsFor("bench").map((r) => r.pkg)).toEqual(expect.arrayContaining(["ansible-core", "openssh-server"]));
  });

  it("looks programs up through the search path it is given, so a PATH without sshd reports it", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "doctor-path-"));
    try {
      symlinkSync(process.execPath, path.join(dir, "git"));
      const lookup = pathLookup([dir]);
      expect(lookup("git")).toBe(path.join(dir, "git"));
      expect(lookup("sshd")).toBeNull();
      expect(searchPath({ PATH: `/a${path.delimiter}/b` })).toEqual(["/a", "/b", "/usr/local/sbin", "/usr/sbin", "/sbin"]);
      expect(searchPath({ PATH: "/a", FLEET_DOCTOR_PATH: dir })).toEqual([dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("doctor()", () => {
  it("not root: reports the missing program, its package and the one command to run, installing nothing", () => {
    const io = fakeIo(allButSshd);
    const r = doctor({ install: true }, io);
    expect(r.ok).toBe(false);
    expect(r.fix).toBe("missing sshd (openssh-server: each lab host's SSH server); run: sudo apt-get update && sudo apt-get install -y --no-install-recommends openssh-server");
    expect(io.aptCalls).toEqual([]);
    expect(r.checks.find((c) => c.command === "sshd")?.found).toBeNull();
  });

  it("root on Debian: apt-get update once, then one install of every missing package, saying what and why, and checks again", () => {
    const io = fakeIo(["ssh-keygen", "git", "curl", "flock"], {
      isRoot: true,
      installedBinary: (pkg, command) => `/usr/sbin/${command}-from-${pkg}`,
    });
    const r = doctor({ install: true }, io);
    expect(io.aptCalls).toEqual([
      ["update", "-qq"],
      ["install", "-y", "-qq", "--no-install-recommends", "openssh-server", "openssh-client", "jq"],
    ]);
    expect(io.lines).toContain("doctor: installing openssh-server: sshd is missing (each lab host's SSH server)");
    expect(io.lines).toContain("doctor: installing jq: jq is missing (the on-host upgrade script reads its JSON input)");
    expect(r.installed).toEqual(["openssh-server", "openssh-client", "jq"]);
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.command === "sshd")?.found).toBe("/usr/sbin/sshd-from-openssh-server");
  });

  it("root but a failed install: still missing, with the command to run", () => {
    const io = fakeIo(allButSshd, { isRoot: true, apt: () => 100 });
    const r = doctor({ install: true }, io);
    expect(r.ok).toBe(false);
    expect(r.installed).toEqual([]);
    expect(r.fix).toMatch(/^missing sshd .*run: apt-get update && apt-get install -y --no-install-recommends openssh-server$/);
  });

  it("root without --install, or not on Debian: installs nothing", () => {
    const noFlag = fakeIo(allButSshd, { isRoot: true });
    expect(doctor({}, noFlag).ok).toBe(false);
    const notDebian = fakeIo(allButSshd, { isRoot: true, isDebian: false });
    expect(doctor({ install: true }, notDebian).fix).toMatch(/openssh-server \(or your system's equivalent\)$/);
    expect([...noFlag.aptCalls, ...notDebian.aptCalls]).toEqual([]);
  });

  it("a package without a program of its own is checked by its probe (scipy)", () => {
    const all = requirementsFor("tests").map((r) => r.command);
    const r = doctor({ purpose: "tests" }, fakeIo(all, { probe: (argv) => !argv.includes("import scipy") }));
    expect(r.fix).toMatch(/^missing python3 \(python3-scipy: /);
  });

  it("the toolchain: a problem there (no Go to build the stand-ins) fails the check with its own advice", () => {
    const r = doctor({ toolchain: true }, fakeIo(demoCommands), () => ({ choice: "build", go: null, problem: "no Pulumi CLI and no go to build the stand-ins: install Go" }));
    expect(r).toMatchObject({ ok: false, fix: "no Pulumi CLI and no go to build the stand-ins: install Go", toolchain: { choice: "build" } });
  });
});

describe("on a machine without sshd (a search path that lacks it)", () => {
  let dir: string;
  const env = () => ({ ...process.env, FLEET_DOCTOR_PATH: dir, FLEET_TOOLCHAIN_DIR: path.join(dir, "no-toolchain"), FLEET_LAB_NET: "127.0.9" });
  beforeAll(() => {
    // Every demo program but sshd, linked from where this machine has it.
    dir = mkdtempSync(path.join(os.tmpdir(), "doctor-nosshd-"));
    chmodSync(dir, 0o755); // the demo runs as nobody
    const real = pathLookup(searchPath());
    for (const c of allButSshd) symlinkSync(real(c)!, path.join(dir, c));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("`fleet-lab doctor` exits 1 with one line naming sshd, its package and the install command", () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "fleet-lab.cjs"), "doctor", "--no-toolchain"], { env: env(), encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^fleet-lab: missing sshd \(openssh-server: each lab host's SSH server\); run: (sudo )?apt-get update && (sudo )?apt-get install -y --no-install-recommends openssh-server$/)]);
    expect(r.stdout).toMatch(/^doctor \(demo\): 6 of 7 found/);
    const json = spawnSync(process.execPath, [path.join(ROOT, "bin", "fleet-lab.cjs"), "doctor", "--json", "--no-toolchain"], { env: env(), encoding: "utf8" });
    const doc = JSON.parse(json.stdout) as { ok: boolean; checks: Array<{ command: string; found: string | null }> };
    expect(doc.ok).toBe(false);
    expect(doc.checks.filter((c) => c.found === null).map((c) => c.command)).toEqual(["sshd"]);
  });

  it("`fleet-lab up` refuses before making any host: the same line, no stack trace", () => {
    const lab = path.join(dir, "lab");
    const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "fleet-lab.cjs"), "up", "--hosts", "1", "--dir", lab, "--no-pulumi"], { env: env(), encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^fleet-lab: missing sshd .*openssh-server$/)]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("`npm run demo`, not root: stops within 10 s with the install command, before the toolchain or any host", () => {
    // As root (CI), the demo runs as nobody: a real non-root run.
    const asUser = process.getuid?.() === 0 ? ["runuser", "-u", "nobody", "--"] : [];
    const t0 = Date.now();
    const r = spawnSync(asUser[0] ?? "env", [...asUser.slice(1), ...(asUser.length ? ["env"] : []), `PATH=${process.env.PATH}`, `FLEET_DOCTOR_PATH=${dir}`, `FLEET_TOOLCHAIN_DIR=${path.join(dir, "no-toolchain")}`, "HOME=/tmp", "bash", path.join(ROOT, "tools", "demo.sh")], {
      encoding: "utf8",
      cwd: ROOT,
      timeout: 60_000,
    });
    const ms = Date.now() - t0;
    expect(r.status, r.stderr).toBe(1);
    expect(ms).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/fleet-lab: missing sshd \(openssh-server: each lab host's SSH server\); run: sudo apt-get update && sudo apt-get install -y --no-install-recommends openssh-server\n$/);
    expect(r.stdout).toMatch(/== prerequisites/);
    expect(r.stdout).not.toMatch(/== Pulumi toolchain|== lab: 5 simulated hosts/);
    expect(r.stderr).not.toMatch(/setup-pulumi|building/);
  }, 60_000);
});
