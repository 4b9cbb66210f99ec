// tools/setup-pulumi.sh chooses the official CLI where it can be had and the stand-ins only when it
// cannot, saying which. A stand-in `pulumi` script on PATH plays the official CLI; a stand-in `go`
// records whether anything was built; the cache dir is a temp dir (no real Go build runs here).
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ROOT } from "../support/fixtures";

const SCRIPT = path.join(ROOT, "tools", "setup-pulumi.sh");
const CACHE_NAME = "pulumi-v3.260.0-command-v1.2.1";

function script(file: string, body: string): void {
  writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(file, 0o755);
}

describe("tools/setup-pulumi.sh: official CLI or stand-ins", () => {
  let dir: string;
  let official: string;
  let goBin: string;
  let cache: string;
  let goLog: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "setup-pulumi-"));
    official = path.join(dir, "official");
    goBin = path.join(dir, "go-bin");
    cache = path.join(dir, "cache");
    goLog = path.join(dir, "go.log");
    mkdirSync(official);
    mkdirSync(goBin);
    // The official distribution: pulumi with its language host beside it. `plugin install`
    // succeeds or fails as the test says (FAKE_PLUGIN_INSTALL), recording its arguments.
    script(
      path.join(official, "pulumi"),
      `case "$1" in
  version) echo v3.260.0 ;;
  plugin) echo "$*" >> "${dir}/plugin.log"
    if [ "$FAKE_PLUGIN_INSTALL" = ok ]; then echo "[resource plugin command-1.2.1] installing"; else echo "error: could not get plugin command v1.2.1: Get https://api.github.com: dial tcp: lookup api.github.com: no such host" >&2; exit 255; fi ;;
  *) exit 3 ;;
esac`,
    );
    script(path.join(official, "pulumi-language-nodejs"), "exit 0");
    // go: records every call; "builds" a binary that reports the pinned version.
    script(
      path.join(goBin, "go"),
      `echo "$*" >> "${goLog}"
case "$1" in
  env) echo go1.26.6 ;;
  mod) echo "# get https://proxy.golang.org/example.com/a/@v/v1.0.0.zip" >&2; echo "# get https://proxy.golang.org/example.com/a/@v/v1.0.0.zip: 200 OK (0.010s)" >&2 ;;
  list) printf 'fmt\\nexample.com/a\\nmain\\n' ;;
  build) out=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done
    echo example.com/a >&2; echo main >&2
    printf '#!/usr/bin/env bash\\necho v3.260.0\\n' > "$out"; chmod +x "$out" ;;
esac`,
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (pathDirs: string[], env: Record<string, string> = {}, args: string[] = []) => {
    const r = spawnSync("bash", [SCRIPT, ...args], {
      encoding: "utf8",
      timeout: 60_000, // a mistake here must not start a real build that runs for minutes
      env: { HOME: dir, PATH: [...pathDirs, "/usr/bin", "/bin"].join(":"), FLEET_TOOLCHAIN_DIR: cache, FLEET_GO_DIRS: "", ...env },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, last: r.stdout.trim().split("\n").at(-1) };
  };
  const goCalls = () => (existsSync(goLog) ? readFileSync(goLog, "utf8").trim().split("\n") : []);
  /** A cached stand-in build, stamped for the current sources. */
  const fakeCachedBuild = () => {
    const stamp = spawnSync("bash", [SCRIPT, "--stamp"], { encoding: "utf8" }).stdout.trim();
    mkdirSync(path.join(cache, CACHE_NAME, "bin"), { recursive: true });
    script(path.join(cache, CACHE_NAME, "bin", "pulumi"), "echo v3.260.0");
    writeFileSync(path.join(cache, CACHE_NAME, ".complete"), `${stamp}\n`);
    rmSync(goLog, { force: true });
  };

  it("the official CLI's plugin install succeeds: that CLI is used, nothing is built", () => {
    const r = run([official, goBin], { FAKE_PLUGIN_INSTALL: "ok" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.last).toBe(official);
    expect(r.stderr).toMatch(/toolchain: official Pulumi CLI v3\.260\.0 with pulumi-resource-command v1\.2\.1 from its plugin cache/);
    expect(readFileSync(path.join(dir, "plugin.log"), "utf8").trim()).toBe("plugin install resource command v1.2.1");
    expect(goCalls()).toEqual([]);
    expect(existsSync(cache)).toBe(false);
    expect(run([official, goBin], {}, ["--plan"]).last).toBe("official");
  });

  it("the plugin install fails, a cached stand-in build exists: the cache is used, nothing is built, and it says why", () => {
    fakeCachedBuild();
    const r = run([official, goBin], { FAKE_PLUGIN_INSTALL: "fail" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.last).toBe(path.join(cache, CACHE_NAME, "bin"));
    expect(r.stderr).toMatch(/the official command provider could not be installed \(error: could not get plugin command v1\.2\.1: .*no such host\): using the stand-ins/);
    expect(r.stderr).toMatch(/toolchain: stand-ins \(tools\/pulumi, cached build\)/);
    expect(goCalls()).toEqual([]);
  });

  it("the plugin install fails and nothing is cached: the stand-ins are built, with progress, and the output says so", () => {
    const r = run([official, goBin], { FAKE_PLUGIN_INSTALL: "fail" });
    expect(r.code, r.stderr).toBe(0);
    const bin = path.join(cache, CACHE_NAME, "bin");
    expect(r.last).toBe(bin);
    expect(r.stderr).toMatch(/using the stand-ins/);
    expect(r.stderr).toMatch(/toolchain: building the stand-ins with .*go \(go1\.26\.6\)/);
    expect(r.stderr).toMatch(/pulumi \(tools\/pulumi\/cli\): downloading modules/);
    expect(r.stderr).toMatch(/modules downloaded: 1\n/);
    expect(r.stderr).toMatch(/packages compiled: 2 of 3\n/);
    expect(r.stderr).toMatch(/toolchain: stand-ins \(tools\/pulumi\) built in \d+s/);
    expect(goCalls().filter((c) => c.startsWith("build")).map((c) => c.split(" ").at(-1))).toEqual([".", ".", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"]);
    for (const b of ["pulumi", "pulumi-language-nodejs", "pulumi-resource-command"]) expect(existsSync(path.join(bin, b)), b).toBe(true);
    expect(readFileSync(path.join(cache, CACHE_NAME, ".complete"), "utf8").trim()).toBe(spawnSync("bash", [SCRIPT, "--stamp"], { encoding: "utf8" }).stdout.trim());
    // The second run takes the build from the cache.
    rmSync(goLog);
    const again = run([official, goBin], { FAKE_PLUGIN_INSTALL: "fail" });
    expect(again.last).toBe(bin);
    expect(goCalls()).toEqual([]);
  });

  it("FLEET_TOOLCHAIN=official (CI) fails rather than fall back to the stand-ins", () => {
    fakeCachedBuild();
    const r = run([official, goBin], { FAKE_PLUGIN_INSTALL: "fail", FLEET_TOOLCHAIN: "official" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^setup-pulumi: error: FLEET_TOOLCHAIN=official, but no official Pulumi CLI/);
  });

  it("an official CLI without its language host, or too old, is not used; no CLI and no Go: one clear error", () => {
    rmSync(path.join(official, "pulumi-language-nodejs"));
    fakeCachedBuild();
    const r = run([official, goBin], { FAKE_PLUGIN_INSTALL: "ok" });
    expect(r.stderr).toMatch(/pulumi v3\.260\.0 on PATH has no pulumi-language-nodejs beside it: not using it/);
    expect(r.last).toBe(path.join(cache, CACHE_NAME, "bin"));
    rmSync(cache, { recursive: true });
    const noGo = run([official], {}, []);
    expect(noGo.code).toBe(1);
    expect(noGo.stderr.trim().split("\n").at(-1)).toMatch(/^setup-pulumi: error: building the stand-ins needs Go >= 1\.26\.6 and no 'go' was found/);
    expect(run([official], {}, ["--plan"]).last).toBe("build");
  });

  it("the cache stamp follows the stand-ins' sources, not their tests: a changed test rebuilds nothing", () => {
    // a copy of the script beside a copy of tools/pulumi, to edit the sources without touching the repo's
    const tools = path.join(dir, "tools");
    mkdirSync(tools);
    copyFileSync(SCRIPT, path.join(tools, "setup-pulumi.sh"));
    cpSync(path.join(ROOT, "tools", "pulumi"), path.join(tools, "pulumi"), { recursive: true });
    const stamp = () => spawnSync("bash", [path.join(tools, "setup-pulumi.sh"), "--stamp"], { encoding: "utf8" }).stdout.trim();
    const before = stamp();
    expect(before).toBe(spawnSync("bash", [SCRIPT, "--stamp"], { encoding: "utf8" }).stdout.trim());
    writeFileSync(path.join(tools, "pulumi", "command", "extra_test.go"), "package main\n");
    expect(stamp()).toBe(before);
    writeFileSync(path.join(tools, "pulumi", "command", "extra.go"), "package main\n");
    expect(stamp()).not.toBe(before);
  });
});
