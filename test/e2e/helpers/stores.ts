// Every e2e suite runs on both stores: the embedded SQLite store, and Convex through the local
// stand-in (lab/convex/, its own process) reached the way production reaches a deployment
// (FLEET_CONVEX_URL, FLEET_CONVEX_SITE_URL, FLEET_HMAC_SECRET, FLEET_CONVEX_AUTH_TOKEN).
//
//   describe.each(STORE_KINDS)("... (%s store)", (kind) => {
//     const st = useStore(kind);         // before the suite's own beforeAll
//     ... st.env, await st.open(p.storePath) ...
//   });
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, it } from "vitest";
import { ConvexFleetStore, httpTransport } from "../../../store/convex";
import { LocalFleetStore } from "../../../store/local";
import type { FleetStore } from "../../../store/types";

export const STORE_KINDS = ["local", "convex"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

const REPO = path.resolve(__dirname, "..", "..", "..");
const ADMIN = "e2e-admin";
const HMAC_SECRET = "e2e-convex-hmac-secret-0123456789";

export interface StoreUnderTest {
  readonly kind: StoreKind;
  /** Environment for the CLI, the engine and its hooks (already in process.env during the suite). */
  readonly env: Record<string, string>;
  /** The deployment's machine-writer secret (convex); local suites keep their own. */
  readonly hmacSecret: string;
  /** Where machine writers post on Convex (the site URL); null for the embedded store. */
  readonly siteUrl: string | null;
  /** The store as the test reads it: the file at `localPath`, or the deployment as a super admin. */
  open(localPath: string): Promise<FleetStore>;
  read<T>(localPath: string, fn: (s: FleetStore) => Promise<T>): Promise<T>;
  /** A JWT from the lab issuer for `subject` (`e2e-admin` is the super admin); `forged`: signed by a key it does not publish. */
  token(subject: string, opts?: { forged?: boolean }): Promise<string>;
  /** The deployment unreachable (listeners closed, data kept) for `ms`, then back. */
  outage(ms: number): Promise<void>;
}

interface Running {
  child: ChildProcess;
  url: string;
  siteUrl: string;
  adminUrl: string;
  env: Record<string, string>;
}

async function startStandin(): Promise<Running> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "lab", "convex", "main.ts"), "--super-admin", ADMIN], {
    cwd: REPO,
    env: { ...process.env, FLEET_HMAC_SECRET: HMAC_SECRET },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the Convex stand-in exited (${code}): ${stderr}`)));
  });
  const { url, siteUrl, adminUrl } = JSON.parse(line) as { url: string; siteUrl: string; adminUrl: string };
  const token = await adminToken(adminUrl, ADMIN);
  return {
    child,
    url,
    siteUrl,
    adminUrl,
    env: { FLEET_CONVEX_URL: url, FLEET_CONVEX_SITE_URL: siteUrl, FLEET_HMAC_SECRET: HMAC_SECRET, FLEET_CONVEX_AUTH_TOKEN: token },
  };
}

async function adminToken(adminUrl: string, subject: string, opts: { forged?: boolean } = {}): Promise<string> {
  const res = await fetch(`${adminUrl}/admin/token`, { method: "POST", body: JSON.stringify({ subject, ...opts }), headers: { "content-type": "application/json" } });
  if (!res.ok) throw new Error(`stand-in token: HTTP ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

async function stopStandin(r: Running): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => r.child.once("exit", () => resolve()));
  r.child.kill("SIGTERM");
  await exited;
}

/** The store a suite runs on; valid inside its tests and hooks (started in beforeAll, ended in afterAll). */
export function useStore(kind: StoreKind): StoreUnderTest {
  let running: Running | undefined;
  const need = () => {
    if (!running) throw new Error("the Convex stand-in is not running (useStore's beforeAll has not run)");
    return running;
  };
  if (kind === "convex") {
    beforeAll(async () => {
      running = await startStandin();
      Object.assign(process.env, running.env);
    });
    afterAll(async () => {
      for (const k of Object.keys(running?.env ?? {})) delete process.env[k];
      if (running) await stopStandin(running);
    });
  }
  return {
    kind,
    get env() {
      return kind === "convex" ? need().env : {};
    },
    get hmacSecret() {
      return HMAC_SECRET;
    },
    get siteUrl() {
      return kind === "convex" ? need().siteUrl : null;
    },
    async open(localPath) {
      if (kind === "local") return new LocalFleetStore({ path: localPath });
      const r = need();
      return new ConvexFleetStore({ transport: await httpTransport({ url: r.url, siteUrl: r.siteUrl, authToken: r.env.FLEET_CONVEX_AUTH_TOKEN! }), hmacSecret: HMAC_SECRET });
    },
    async read(localPath, fn) {
      const s = await this.open(localPath);
      try {
        return await fn(s);
      } finally {
        await s.close();
      }
    },
    async token(subject, opts) {
      return await adminToken(need().adminUrl, subject, opts);
    },
    async outage(ms) {
      const res = await fetch(`${need().adminUrl}/admin/stop`, { method: "POST", body: JSON.stringify({ ms }), headers: { "content-type": "application/json" } });
      if (!res.ok) throw new Error(`stand-in stop: HTTP ${res.status}`);
    },
  };
}

/**
 * `it` for the cases that run on one store only (CI time: the README lists them); on the other
 * store the case is not defined at all, so nothing is reported as skipped.
 */
export function itOnlyOn(kind: StoreKind, only: StoreKind): typeof it {
  if (kind === only) return it;
  return Object.assign(() => undefined, it) as unknown as typeof it;
}
