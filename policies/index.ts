// The Runtime Fleet policy pack: `pulumi preview --policy-pack policies`. The rules live in
// rules.ts (pure) and their wiring in pack.ts; this file only serves them to the engine.
import { PolicyPack } from "@pulumi/policy";
import { fleetPolicies, PACK_NAME, processStackSettings } from "./pack";

new PolicyPack(PACK_NAME, {
  description: "Runtime Fleet guards: release tags, canary first, droplet hygiene, pinned SSH host keys.",
  policies: fleetPolicies(processStackSettings()),
});
