// The lab's pure parts: fault parsing and the generated stack config (validated by fleet/config).
import { describe, expect, it } from "vitest";
import { parseFleetConfig } from "../../fleet/config";
import { parseFault } from "../../lab/kit";
import { hostAddress, labStackConfig, runtimeName, type LabRecord } from "../../lab/lab";

function fakeLab(n: number): LabRecord {
  return {
    version: 1,
    dir: "/tmp/lab",
    createdAt: "2026-01-01T00:00:00Z",
    node: "/usr/bin/node",
    user: "root",
    projectDir: "/work",
    stack: "lab",
    backendUrl: "file:///tmp/lab/pulumi-state",
    passphrase: "p",
    keys: { privateKey: "/k", publicKey: "/k.pub", authorizedKeys: "/a", knownHosts: "/kh" },
    origin: { path: "/tmp/lab/origin/openclaw.git", url: "file:///tmp/lab/origin/openclaw.git" },
    registry: "/tmp/lab/registry/runtime-service.txt",
    docker: "/tmp/lab/bin/docker",
    pulumiDir: null,
    hosts: Array.from({ length: n }, (_, k) => ({
      runtime: runtimeName(k + 1),
      address: hostAddress(k + 1),
      healthPort: 8080,
      root: `/tmp/lab/hosts/${runtimeName(k + 1)}`,
      canary: k === 0,
      ssh: {
        port: 2222,
        config: "/c",
        log: "/l",
        pidFile: "/p",
        hostKeyFile: "/h",
        hostPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVm/Vi0IYpY+JRMaZt6ubBboWzjcdb2zJzes7dL10X0",
      },
    })),
  };
}

describe("lab fault kinds", () => {
  it("parses every kind", () => {
    expect(parseFault("fail-upgrade")).toEqual({ kind: "fail-upgrade" });
    expect(parseFault("unhealthy")).toEqual({ kind: "unhealthy" });
    expect(parseFault("degrade:30")).toEqual({ kind: "degrade", seconds: 30 });
    expect(parseFault("slow:2.5")).toEqual({ kind: "slow", seconds: 2.5 });
    expect(parseFault("unreachable")).toEqual({ kind: "unreachable" });
    expect(parseFault("crash")).toEqual({ kind: "crash" });
    expect(parseFault("drop-ssh")).toEqual({ kind: "drop-ssh" });
    expect(parseFault("degrade-now")).toEqual({ kind: "degrade-now" });
    expect(parseFault("slow-start:30")).toEqual({ kind: "slow-start", seconds: 30 });
    expect(parseFault("clear")).toEqual({ kind: "clear" });
    expect(parseFault("regress:errors=+3%")).toEqual({ kind: "regress-errors", rate: 0.03 });
    expect(parseFault("regress:errors=+0.5%")).toEqual({ kind: "regress-errors", rate: 0.005 });
    expect(parseFault("regress:latency=+200ms")).toEqual({ kind: "regress-latency", ms: 200 });
    expect(parseFault("noisy")).toEqual({ kind: "noisy" });
  });
  it.each(["", "degrade", "degrade:", "degrade:-1", "slow:x", "slow-start", "drop-ssh:1", "boom", "crash;id", "regress:errors=3%", "regress:errors=+101%", "regress:latency=+200", "regress:latency=-5ms"])("refuses %j", (text) => {
    expect(() => parseFault(text)).toThrow(/unknown fault/);
  });
});

describe("lab stack config", () => {
  it("is a valid fleet config for 1..200 hosts, lab-01 the canary", () => {
    for (const n of [1, 3, 200]) {
      const parsed = parseFleetConfig({ ...labStackConfig(fakeLab(n)), "fleet:sshPrivateKey": { secure: "x" } });
      expect(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors)).toBe(true);
      if (!parsed.ok) continue;
      expect(parsed.config.runtimes).toHaveLength(n);
      expect(parsed.config.runtimes.filter((r) => r.canary).map((r) => r.accountId)).toEqual(["lab-01"]);
      expect(parsed.config.runtimes.at(-1)).toMatchObject({ host: hostAddress(n), sshPort: 2222, healthPort: 8080, provider: "existing" });
    }
  });
  it("addresses stay on 127.0.0.11..210", () => {
    expect(hostAddress(1)).toBe("127.0.0.11");
    expect(hostAddress(200)).toBe("127.0.0.210");
    expect(runtimeName(7)).toBe("lab-07");
    expect(runtimeName(123)).toBe("lab-123");
  });
});
