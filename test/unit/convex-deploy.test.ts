// What `npx convex deploy` needs, checked offline (no deployment can be reached from here):
// the committed codegen lists every module Convex would push, every module bundles for Convex's
// isolate runtime (esbuild, platform browser, as Convex's bundler does), and auth.config.ts
// turns the deployment's environment into one JWT provider, refusing to deploy without it.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuthConfig } from "convex/server";
import { CONVEX_DIR } from "../../lab/convex/standin";

/** The modules Convex pushes: convex/'s top-level .ts/.js files, less _generated, schema and dotted names (tests, auth.config). */
function pushedModules(): string[] {
  return readdirSync(CONVEX_DIR, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name) && e.name !== "schema.ts" && (e.name.match(/\./g) ?? []).length === 1)
    .filter((e) => /^\s{0,100}(import|export)/m.test(readFileSync(path.join(CONVEX_DIR, e.name), "utf8")))
    .map((e) => e.name.replace(/\.(ts|js)$/, ""))
    .sort();
}

describe("deployable Convex, offline", () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ["FLEET_AUTH_ISSUER", "FLEET_AUTH_JWKS_URL", "FLEET_AUTH_APPLICATION_ID"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it("convex/_generated/api.d.ts lists exactly the modules Convex would push (run `npx convex codegen` after adding one)", () => {
    const api = readFileSync(path.join(CONVEX_DIR, "_generated", "api.d.ts"), "utf8");
    const listed = [...api.matchAll(/^import type \* as (\w+) from "\.\.\/([\w/]+)\.js";$/gm)].map((m) => m[2]!).sort();
    expect(listed).toEqual(pushedModules());
    expect(listed).toEqual(expect.arrayContaining(["http", "crons", "runtimes", "rollouts", "history", "overview"]));
  });

  it("every pushed module and auth.config.ts bundle for Convex's isolate runtime (no Node built-ins)", { timeout: 60_000 }, async () => {
    const entryPoints = [...pushedModules().map((m) => path.join(CONVEX_DIR, `${m}.ts`)), path.join(CONVEX_DIR, "auth.config.ts")];
    const result = await build({ entryPoints, bundle: true, platform: "browser", format: "esm", target: "esnext", write: false, outdir: "out", splitting: true, logLevel: "silent", conditions: ["convex", "module"] });
    expect(result.errors).toEqual([]);
    expect(result.outputFiles.map((f) => path.basename(f.path))).toEqual(expect.arrayContaining(["http.js", "crons.js", "auth.config.js"]));
  });

  it("auth.config.ts: one custom JWT provider from the deployment's environment, with the documented defaults", async () => {
    process.env.FLEET_AUTH_ISSUER = "https://fleet-admins.clerk.accounts.dev/";
    delete process.env.FLEET_AUTH_JWKS_URL;
    delete process.env.FLEET_AUTH_APPLICATION_ID;
    vi.resetModules(); // auth.config.ts reads the environment when it is loaded, as at deploy time
    const config = (await import("../../convex/auth.config")) as { default: AuthConfig };
    expect(config.default.providers).toEqual([
      { type: "customJwt", issuer: "https://fleet-admins.clerk.accounts.dev", jwks: "https://fleet-admins.clerk.accounts.dev/.well-known/jwks.json", algorithm: "RS256", applicationID: "convex" },
    ]);
  });

  it("auth.config.ts without FLEET_AUTH_ISSUER fails the deploy, naming the variable", async () => {
    delete process.env.FLEET_AUTH_ISSUER;
    vi.resetModules();
    await expect(import("../../convex/auth.config")).rejects.toThrow(/FLEET_AUTH_ISSUER is not set: npx convex env set FLEET_AUTH_ISSUER/);
  });
});
