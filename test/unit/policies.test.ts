// The policy pack: every rule with passing and violating inputs, and the pack wiring (which
// resources each policy looks at, where its defaults come from).
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import { accountTag, RUNTIME_TYPE } from "../../components/runtime";
import {
  ACCOUNT_TAG_PREFIX,
  accountTagProblems,
  allowedProblems,
  backupProblems,
  canaryFirstProblems,
  hostKeyProblems,
  monitoringProblems,
  sshKeyProblems,
  versionInputProblems,
  versionStdin,
} from "../../policies/rules";
import { DROPLET_TYPE, fleetPolicies, knownHostKeys, processStackSettings, REMOTE_COMMAND_TYPE, RUNTIME_COMPONENT_TYPE, stackSettings } from "../../policies/pack";

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKMwj0MvoQYHPr4FwJxB6awX00KecFF5pO3wnc7PHmm4";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9gT819irulLe2VBgCUFBDVYWzgIirl8b2h6AgnhWlt";

describe("rules: release-tag versions", () => {
  const min = { openclaw: "v1.1.0", runtimeService: "v0.5.0" };
  it("passes release tags at or above the minimum", () => {
    expect(versionInputProblems({ openclaw: "v1.1.0", runtimeService: "v0.5.2" }, min, "x")).toEqual([]);
    expect(versionInputProblems({ openclaw: "v1.3.0-rc.1", runtimeService: "v0.5.0" }, {}, "x")).toEqual([]);
  });
  it("reports non-tags, missing fields and versions below the minimum, naming field and value", () => {
    expect(versionInputProblems({ openclaw: "latest", runtimeService: "v0.5.0" }, min, "lab-02-deploy stdin")).toEqual([
      'lab-02-deploy stdin: openclaw "latest" is not a release tag (expected vMAJOR.MINOR.PATCH)',
    ]);
    expect(versionInputProblems({ openclaw: "v1.0.9", runtimeService: "v0.4.0" }, min, "d")).toEqual([
      "d: openclaw v1.0.9 is below the minimum supported v1.1.0 (minSupportedOpenclaw)",
      "d: runtimeService v0.4.0 is below the minimum supported v0.5.0 (minSupportedRuntimeService)",
    ]);
    expect(versionInputProblems({ openclaw: "v1.2.0; rm -rf /" }, {}, "d")).toHaveLength(2);
  });
  it("reads version stdin, ignores other stdin (the install script)", () => {
    expect(versionStdin('{"openclaw":"v1.2.3","runtimeService":"v0.5.0"}')).toEqual({ openclaw: "v1.2.3", runtimeService: "v0.5.0" });
    expect(versionStdin("#!/usr/bin/env bash\necho hi")).toBeUndefined();
    expect(versionStdin('{"other":1}')).toBeUndefined();
    expect(versionStdin(undefined)).toBeUndefined();
  });
});

describe("rules: canary first", () => {
  const fleet = (canary: string, others: string[]) => [
    { accountId: "canary", openclaw: canary, canary: true },
    ...others.map((v, i) => ({ accountId: `acc-${i}`, openclaw: v, canary: false })),
  ];
  it("passes when nothing is ahead of the canary (mid-rollout included)", () => {
    expect(canaryFirstProblems(fleet("v1.2.5", ["v1.2.5", "v1.2.3"]), "canary")).toEqual([]);
    expect(canaryFirstProblems(fleet("v1.2.3", ["v1.2.3", "v1.1.5"]), "rolling")).toEqual([]);
  });
  it("reports a non-canary on a release no canary runs", () => {
    expect(canaryFirstProblems(fleet("v1.2.3", ["v1.2.5"]), "canary")).toEqual([
      "acc-0 would run openclaw v1.2.5, which no canary runs yet (canary canary on v1.2.3): upgrade the canary first",
    ]);
  });
  it("immediate stacks skip the canary on purpose; pinned runtimes on their pin are exempt", () => {
    expect(canaryFirstProblems(fleet("v1.2.3", ["v1.3.0"]), "immediate")).toEqual([]);
    expect(canaryFirstProblems([...fleet("v1.2.3", []), { accountId: "p", openclaw: "v1.3.0", canary: false, pin: "v1.3.0" }], "canary")).toEqual([]);
  });
  it("several canaries: the newest one counts; strategy canary without a canary is a violation", () => {
    const two = [...fleet("v1.2.3", ["v1.3.0"]), { accountId: "canary-2", openclaw: "v1.3.0", canary: true }];
    expect(canaryFirstProblems(two, "canary")).toEqual([]);
    expect(canaryFirstProblems([{ accountId: "a", openclaw: "v1.2.3", canary: false }], "canary")[0]).toMatch(/no runtime is marked `canary: true`/);
    expect(canaryFirstProblems([{ accountId: "a", openclaw: "v1.2.3", canary: false }], "rolling")).toEqual([]);
  });
});

describe("rules: droplets", () => {
  it("account tag: present and naming the droplet's account", () => {
    expect(ACCOUNT_TAG_PREFIX + "acc-1").toBe(accountTag("acc-1")); // one spelling with components/
    expect(accountTagProblems({ name: "runtime-acc-1", tags: ["account:acc-1", "runtime-fleet"] })).toEqual([]);
    expect(accountTagProblems({ name: "runtime-acc-1", tags: ["runtime-fleet"] })).toEqual([
      'droplet has no account tag (expected "account:acc-1" in tags, got ["runtime-fleet"])',
    ]);
    expect(accountTagProblems({ name: "runtime-acc-1", tags: ["account:acc-2"] })[0]).toMatch(/expected "account:acc-1"/);
    expect(accountTagProblems({ tags: ["account:Not Valid"] })[0]).toMatch(/does not name an account id/);
  });
  it("monitoring on", () => {
    expect(monitoringProblems({ monitoring: true })).toEqual([]);
    expect(monitoringProblems({ monitoring: false })[0]).toMatch(/monitoring is false/);
    expect(monitoringProblems({})).toHaveLength(1);
  });
  it("backups on in production stacks only", () => {
    expect(backupProblems({ backups: true }, true)).toEqual([]);
    expect(backupProblems({ backups: false }, false)).toEqual([]);
    expect(backupProblems({ backups: false }, true)[0]).toMatch(/backups are false in a production stack/);
  });
  it("SSH keys only", () => {
    expect(sshKeyProblems({ sshKeys: ["3b:16:bf"] })).toEqual([]);
    expect(sshKeyProblems({ sshKeys: [] })[0]).toMatch(/no SSH keys/);
    expect(sshKeyProblems({ sshKeys: [""] })).toHaveLength(1);
    expect(sshKeyProblems({})).toHaveLength(1);
  });
  it("allowed regions and sizes (no list = nothing to check)", () => {
    expect(allowedProblems("region", "nyc1", ["nyc1", "fra1"], "s")).toEqual([]);
    expect(allowedProblems("region", "sfo3", undefined, "s")).toEqual([]);
    expect(allowedProblems("region", "sfo3", ["nyc1", "fra1"], "fleet:policy.allowedRegions")).toEqual([
      'droplet region "sfo3" is not allowed (allowed: nyc1, fra1; fleet:policy.allowedRegions)',
    ]);
    expect(allowedProblems("size", "s-8vcpu-16gb", ["s-2vcpu-4gb"], "c")[0]).toMatch(/size "s-8vcpu-16gb" is not allowed/);
  });
});

describe("rules: host key pinning", () => {
  const known = { "10.0.0.1": KEY_A };
  it("passes a pinned known key (comments ignored) and hosts with no known key", () => {
    expect(hostKeyProblems({ host: "10.0.0.1", hostKey: `${KEY_A} root@host` }, known, "c")).toEqual([]);
    expect(hostKeyProblems({ host: "10.0.0.9" }, known, "c")).toEqual([]);
  });
  it("reports a missing pin and a different key", () => {
    expect(hostKeyProblems({ host: "10.0.0.1" }, known, "acc-deploy")).toEqual([
      `acc-deploy: connection to 10.0.0.1 does not pin its host key (expected connection.hostKey ${KEY_A})`,
    ]);
    expect(hostKeyProblems({ host: "10.0.0.1", hostKey: KEY_B }, known, "c")[0]).toMatch(/but the known host key is/);
  });
});

// ---- the pack wiring ----

const stackConfig = {
  "fleet:policy": JSON.stringify({ minSupportedOpenclaw: "v1.1.0", minSupportedRuntimeService: "v0.5.0", strategy: "canary", production: true, allowedRegions: ["nyc1"], allowedSizes: ["s-2vcpu-4gb"] }),
  "fleet:defaults": JSON.stringify({ provider: "existing" }),
  "fleet:runtimes": JSON.stringify([
    { accountId: "can", host: "10.0.0.1", hostKey: KEY_A, openclaw: "v1.2.3", runtimeService: "v0.5.0", canary: true },
    { accountId: "acc", host: "10.0.0.2", openclaw: "v1.2.3", runtimeService: "v0.5.0" },
  ]),
  "fleet:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY----- never read",
};

function byName<T extends { name: string }>(list: T[], name: string): T {
  const found = list.find((p) => p.name === name);
  if (!found) throw new Error(`no policy ${name}`);
  return found;
}

function runResource(policy: ResourceValidationPolicy, type: string, name: string, props: Record<string, unknown>, config: object = {}): string[] {
  const out: string[] = [];
  const args = { type, name, props, urn: `urn:pulumi:s::p::${type}::${name}`, getConfig: () => config } as unknown as ResourceValidationArgs;
  const validate = policy.validateResource;
  for (const v of Array.isArray(validate) ? validate : validate ? [validate] : []) void v(args, (m) => out.push(m));
  return out;
}

function runStack(policy: StackValidationPolicy, resources: PolicyResource[], config: object = {}): string[] | "not applicable" {
  const out: string[] = [];
  const args = {
    resources,
    getConfig: () => config,
    notApplicable: () => {
      throw new NotApplicable();
    },
  } as unknown as StackValidationArgs;
  try {
    void policy.validateStack(args, (m) => out.push(m));
  } catch (e) {
    if (e instanceof NotApplicable) return "not applicable";
    throw e;
  }
  return out;
}
class NotApplicable extends Error {}

function deployOf(accountId: string, openclaw: string): PolicyResource {
  const parent = { type: RUNTIME_COMPONENT_TYPE, name: accountId, props: {}, urn: `urn:${accountId}` } as unknown as PolicyResource;
  return {
    type: REMOTE_COMMAND_TYPE,
    name: `${accountId}-deploy`,
    props: { stdin: JSON.stringify({ openclaw, runtimeService: "v0.5.0" }), connection: { host: "h" } },
    parent,
  } as unknown as PolicyResource;
}

describe("pack wiring", () => {
  const settings = stackSettings(stackConfig);
  const policies = fleetPolicies(settings);

  it("borrows defaults from the stack's fleet:* config (never the SSH key) and from PULUMI_CONFIG", () => {
    expect(RUNTIME_COMPONENT_TYPE).toBe(RUNTIME_TYPE);
    expect(settings).toMatchObject({ minSupportedOpenclaw: "v1.1.0", strategy: "canary", production: true, allowedRegions: ["nyc1"] });
    expect(settings.runtimes?.map((r) => [r.accountId, r.canary, r.hostKey ?? null])).toEqual([["can", true, KEY_A], ["acc", false, null]]);
    expect(JSON.stringify(settings)).not.toContain("PRIVATE KEY");
    expect(processStackSettings({ PULUMI_CONFIG: JSON.stringify(stackConfig) })).toEqual(settings);
    expect(processStackSettings({})).toEqual({});
    expect(stackSettings({ "fleet:policy": "not json" })).toEqual({});
    expect(knownHostKeys(settings, { "10.0.0.3": KEY_B })).toEqual({ "10.0.0.1": KEY_A, "10.0.0.3": KEY_B });
  });

  it("every policy is mandatory by default and has a unique name", () => {
    expect(new Set(policies.map((p) => p.name)).size).toBe(policies.length);
    expect(policies.every((p) => p.enforcementLevel === "mandatory")).toBe(true);
    expect(policies.map((p) => p.name)).toEqual([
      "release-tag-versions",
      "canary-first",
      "droplet-account-tag",
      "droplet-monitoring",
      "droplet-backups-in-production",
      "droplet-ssh-keys",
      "droplet-allowed-region",
      "droplet-allowed-size",
      "remote-command-host-key",
    ]);
  });

  it("release-tag-versions looks at remote commands' version stdin, minimum from the stack or policy config", () => {
    const p = byName(policies, "release-tag-versions") as ResourceValidationPolicy;
    const stdin = (openclaw: string) => ({ stdin: JSON.stringify({ openclaw, runtimeService: "v0.5.0" }) });
    expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-deploy", stdin("v1.2.3"))).toEqual([]);
    expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-deploy", stdin("v1.0.0"))).toEqual([
      "acc-deploy stdin: openclaw v1.0.0 is below the minimum supported v1.1.0 (minSupportedOpenclaw)",
    ]);
    expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-deploy", stdin("v1.2.3"), { minSupportedOpenclaw: "v1.2.5" })).toHaveLength(1);
    expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-install", { stdin: "#!/bin/sh" })).toEqual([]);
    expect(runResource(p, DROPLET_TYPE, "d", stdin("bad"))).toEqual([]);
  });

  it("canary-first reads the deploy commands under Runtime components; canaries from the stack or policy config", () => {
    const p = byName(policies, "canary-first") as StackValidationPolicy;
    expect(runStack(p, [deployOf("can", "v1.2.5"), deployOf("acc", "v1.2.3")])).toEqual([]);
    expect(runStack(p, [deployOf("can", "v1.2.3"), deployOf("acc", "v1.2.5")])).toEqual([
      "acc would run openclaw v1.2.5, which no canary runs yet (canary can on v1.2.3): upgrade the canary first",
    ]);
    expect(runStack(p, [deployOf("can", "v1.2.3"), deployOf("acc", "v1.2.5")], { canaries: ["acc"] })).toEqual([]);
    expect(runStack(p, [deployOf("can", "v1.2.3"), deployOf("acc", "v1.2.5")], { strategy: "immediate" })).toEqual([]);
    expect(runStack(p, [])).toBe("not applicable");
  });

  it("droplet policies look at droplets only; backups/regions/sizes default from fleet:policy", () => {
    const good = { name: "runtime-acc", tags: ["account:acc"], monitoring: true, backups: true, sshKeys: ["k"], region: "nyc1", size: "s-2vcpu-4gb" };
    const bad = { name: "runtime-acc", tags: [], monitoring: false, backups: false, sshKeys: [], region: "sfo3", size: "s-8vcpu-16gb" };
    for (const name of ["droplet-account-tag", "droplet-monitoring", "droplet-backups-in-production", "droplet-ssh-keys", "droplet-allowed-region", "droplet-allowed-size"]) {
      const p = byName(policies, name) as ResourceValidationPolicy;
      expect(runResource(p, DROPLET_TYPE, "acc-droplet", good), name).toEqual([]);
      expect(runResource(p, DROPLET_TYPE, "acc-droplet", bad), name).toHaveLength(1);
      expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-deploy", bad), name).toEqual([]);
    }
    const regions = byName(policies, "droplet-allowed-region") as ResourceValidationPolicy;
    expect(runResource(regions, DROPLET_TYPE, "d", good, { allowedRegions: ["fra1"] })).toEqual([
      'droplet region "nyc1" is not allowed (allowed: fra1; policy config allowedRegions)',
    ]);
    const backups = byName(policies, "droplet-backups-in-production") as ResourceValidationPolicy;
    expect(runResource(backups, DROPLET_TYPE, "d", bad, { production: false })).toEqual([]);
    const unconstrained = fleetPolicies({});
    expect(runResource(byName(unconstrained, "droplet-allowed-size") as ResourceValidationPolicy, DROPLET_TYPE, "d", bad)).toEqual([]);
    expect(runResource(byName(unconstrained, "droplet-backups-in-production") as ResourceValidationPolicy, DROPLET_TYPE, "d", bad)).toEqual([]);
  });

  it("remote-command-host-key: known keys from fleet:runtimes[].hostKey and the policy config map", () => {
    const p = byName(policies, "remote-command-host-key") as ResourceValidationPolicy;
    expect(runResource(p, REMOTE_COMMAND_TYPE, "can-deploy", { connection: { host: "10.0.0.1", hostKey: KEY_A } })).toEqual([]);
    expect(runResource(p, REMOTE_COMMAND_TYPE, "can-deploy", { connection: { host: "10.0.0.1" } })[0]).toMatch(/does not pin its host key/);
    expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-deploy", { connection: { host: "10.0.0.2" } })).toEqual([]);
    expect(runResource(p, REMOTE_COMMAND_TYPE, "acc-deploy", { connection: { host: "10.0.0.2", hostKey: KEY_A } }, { knownHostKeys: { "10.0.0.2": KEY_B } })[0]).toMatch(
      /connection.hostKey for 10.0.0.2 is .* but the known host key is/,
    );
  });
});
