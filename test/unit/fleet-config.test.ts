import { describe, expect, it } from "vitest";
import { formatConfigErrors, parseFleetConfig } from "../../fleet/config";
import { prodStackConfig, runtimesOf } from "../support/fixtures";

function errorsOf(config: Record<string, unknown>): string[] {
  const r = parseFleetConfig(config);
  if (r.ok) throw new Error("expected errors");
  return formatConfigErrors(r.errors).split("\n");
}

describe("stack config", () => {
  it("accepts the example production stack and applies defaults", () => {
    const r = parseFleetConfig(prodStackConfig());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.runtimes).toHaveLength(5);
    expect(r.config.runtimes[0]).toMatchObject({ accountId: "internal-canary", canary: true, sshPort: 22, healthPort: 8080, executor: "pulumi" });
    expect(new Set(r.config.runtimes.map((x) => x.region))).toEqual(new Set(["nyc1", "fra1"]));
  });

  it("reports every error at once, each with its exact path and value", () => {
    const c = prodStackConfig();
    const rs = runtimesOf(c);
    rs[2]!.openclaw = "v1.2.3; rm -rf /";
    rs[1]!.runtimeService = "latest";
    rs[3]!.openclaw = "v1.0.9";
    rs[4]!.accountId = "acc-abc123";
    delete rs[0]!.region;
    rs.push({ accountId: "onprem", provider: "existing", openclaw: "v1.2.5", runtimeService: "v0.5.2" });
    (c["fleet:policy"] as Record<string, unknown>).batchPercent = 150;
    rs[1]!.colour = "blue";
    c["fleet:bogus"] = true;
    expect(errorsOf(c)).toEqual([
      "fleet:policy.batchPercent: 150: Too big: expected number to be <=100",
      "fleet:runtimes[0].region: missing: a digitalocean runtime needs a region (here or in fleet:defaults.region)",
      'fleet:runtimes[1].runtimeService: "latest" is not a release tag (expected vMAJOR.MINOR.PATCH)',
      expect.stringMatching(/^fleet:runtimes\[1\]\.colour: unknown key/),
      'fleet:runtimes[2].openclaw: "v1.2.3; rm -rf /" is not a release tag (expected vMAJOR.MINOR.PATCH)',
      'fleet:runtimes[3].openclaw: "v1.0.9" is below the minimum supported v1.1.0 (fleet:policy.minSupportedOpenclaw)',
      'fleet:runtimes[4].accountId: "acc-abc123" duplicates fleet:runtimes[1].accountId (account ids are unique)',
      "fleet:runtimes[5].host: missing: an existing-host runtime needs its address",
      expect.stringMatching(/^fleet:bogus: unknown key/),
    ]);
  });

  it("requires the SSH key to be a secret", () => {
    const c = prodStackConfig();
    c["fleet:sshPrivateKey"] = "-----BEGIN OPENSSH PRIVATE KEY-----";
    expect(errorsOf(c)).toEqual([
      "fleet:sshPrivateKey: is stored in plain text; it must be a secret (pulumi config set --secret fleet:sshPrivateKey < key)",
    ]);
    delete c["fleet:sshPrivateKey"];
    expect(errorsOf(c)).toEqual(["fleet:sshPrivateKey: missing (required): pulumi config set --secret fleet:sshPrivateKey < key"]);
  });

  it("refuses a pin that differs from the runtime's version, and droplets without SSH keys", () => {
    const c = prodStackConfig();
    runtimesOf(c)[1]!.pin = "v1.2.3";
    (c["fleet:defaults"] as Record<string, unknown>).sshKeys = [];
    expect(errorsOf(c)).toEqual([
      "fleet:defaults.sshKeys: missing: droplets log in with SSH keys only (add a DigitalOcean SSH key id or fingerprint)",
      'fleet:runtimes[1].openclaw: "v1.2.5" differs from its pin v1.2.3 (fleet:runtimes[1].pin)',
    ]);
  });

  it("rejects hostile host roots, users and host keys", () => {
    const c = prodStackConfig();
    runtimesOf(c)[0]!.hostRoot = "/opt/x; reboot";
    runtimesOf(c)[1]!.sshUser = "root --";
    runtimesOf(c)[2]!.hostKey = "ssh-ed25519 AAAA; id";
    const errs = errorsOf(c);
    expect(errs).toHaveLength(3);
    expect(errs[0]).toMatch(/^fleet:runtimes\[0\]\.hostRoot: "\/opt\/x; reboot" is not an absolute path/);
    expect(errs[1]).toMatch(/^fleet:runtimes\[1\]\.sshUser: "root --" is not a valid SSH user name/);
    expect(errs[2]).toMatch(/^fleet:runtimes\[2\]\.hostKey: .* is not an OpenSSH public host key/);
  });
});
