// The five ways a rollout starts (`--batch`, `--ramp`, `--canary`, `--runtime`, the dashboard)
// create the same record through Convex's HTTP transport (the stand-in) as through the embedded
// store: the orchestrator records each, with the CLI's own option parsing, on both stores.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { resolveRolloutOptions, type RolloutCliOptions } from "../../control/options";
import { Orchestrator } from "../../control/orchestrator";
import { readStackConfig, validateStackConfig } from "../../control/stackConfig";
import type { StackEngine } from "../../control/engine";
import { planRollout } from "../../fleet/plan";
import { ConvexFleetStore, httpTransport } from "../../store/convex";
import { LocalFleetStore } from "../../store/local";
import type { FleetStore, RolloutDetail } from "../../store/types";
import { startConvexStandin, type ConvexStandin } from "../../lab/convex/standin";

const HMAC = "shapes-hmac-secret-0123456789abcdef";
const SHAPES: Array<{ name: string; cli: RolloutCliOptions; extra?: Record<string, unknown> }> = [
  { name: "--batch 10%", cli: { to: "v1.2.5", batch: "10%" } },
  { name: "--ramp 1,50%", cli: { to: "v1.2.5", ramp: "1,50%" } },
  { name: "--canary r02", cli: { to: "v1.2.5", strategy: "canary", canary: "r02" } },
  { name: "--runtime r03 r04", cli: { to: "v1.2.5", runtime: ["r03", "r04"] } },
  // as the dashboard starts one (control/operations.ts startRollout, source "dashboard")
  { name: "the dashboard", cli: { to: "v1.2.5", strategy: "canary", batch: "25%", reason: "from the page" }, extra: { source: "dashboard" } },
];

/** The deploys never run: what is compared is what each store recorded when the rollout started. */
const noEngine: StackEngine = {
  up: () => Promise.reject(new Error("no engine in this test")),
  preview: () => Promise.resolve({ changes: [], ok: true, errors: [] }),
  outputs: () => Promise.resolve({}),
  clearStaleLock: () => Promise.resolve(),
} as unknown as StackEngine;

/** The record without the clocks (each store stamps its own). */
function comparable(r: RolloutDetail | null) {
  return JSON.parse(JSON.stringify(r, (k, v: unknown) => (["createdAt", "updatedAt", "startedAt", "completedAt", "at", "lastProgressAt"].includes(k) ? undefined : v))) as unknown;
}

describe("rollout records: the HTTP transport to Convex and the embedded store agree", () => {
  let dir: string;
  let configFile: string;
  let standin: ConvexStandin;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "fleet-shapes-"));
    configFile = path.join(dir, "Pulumi.lab.yaml");
    writeFileSync(
      configFile,
      stringify({
        config: {
          "fleet:release": { openclaw: "v1.2.3", runtimeService: "v0.5.0" },
          "fleet:policy": { minSupportedOpenclaw: "v1.1.0", strategy: "rolling", batchPercent: 25 },
          "fleet:defaults": { provider: "existing" },
          "fleet:sshPrivateKey": { secure: "v1:abc" },
          "fleet:runtimes": Array.from({ length: 8 }, (_, i) => ({ accountId: `r${String(i + 1).padStart(2, "0")}`, host: `127.0.0.${11 + i}`, openclaw: "v1.2.3", runtimeService: "v0.5.0", ...(i === 0 ? { canary: true } : {}) })),
        },
      }),
    );
    standin = await startConvexStandin({ env: { FLEET_HMAC_SECRET: HMAC }, superAdmins: ["admin"] });
  });
  afterAll(async () => {
    await standin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const loadFleet = () => {
    const r = validateStackConfig(readStackConfig(configFile));
    if (!r.ok) throw new Error("bad test config");
    return r.config;
  };
  async function record(store: FleetStore, rolloutId: string, shape: (typeof SHAPES)[number]) {
    const config = readFileSync(configFile, "utf8");
    const fleet = loadFleet();
    const resolved = resolveRolloutOptions(shape.cli, fleet);
    const orchestrator = new Orchestrator({ store, engine: noEngine, stack: "lab", configFile, loadFleet, probe: async () => [] });
    await orchestrator
      .start({ rolloutId, plan: planRollout(fleet.runtimes, resolved.plan), settings: resolved.settings, initiatedBy: "ci@test", ...(resolved.reason ? { reason: resolved.reason } : {}), extraOptions: { ...resolved.recorded, ...shape.extra } })
      .catch(() => undefined) // the stubbed engine ends it; both stores see the same ending
      .finally(() => writeFileSync(configFile, config)); // the first batch's versions were written into it
    return comparable(await store.getRollout(rolloutId));
  }

  it.each(SHAPES.map((s, i) => [s.name, i] as const))("%s", async (_name, i) => {
    const shape = SHAPES[i]!;
    const rolloutId = `ro_shape${i}0000${Date.now().toString(36)}`;
    // a fresh store each (a started rollout holds the stack)
    await standin.reset();
    const local = new LocalFleetStore({ path: path.join(dir, `local-${i}.db`) });
    const convex = new ConvexFleetStore({ transport: await httpTransport({ url: standin.url, siteUrl: standin.siteUrl, authToken: await standin.issuer.token("admin") }), hmacSecret: HMAC, retries: 0 });
    try {
      const onLocal = await record(local, rolloutId, shape);
      expect(onLocal).toMatchObject({ rolloutId, options: expect.objectContaining(shape.extra ?? {}) as unknown });
      expect(await record(convex, rolloutId, shape)).toEqual(onLocal);
    } finally {
      await local.close();
    }
  });
});
