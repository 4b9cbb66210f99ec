// The stand-in as its own process: `node --import tsx lab/convex/main.ts [--port N] [--site-port N]
// [--admin-port N] [--super-admin SUBJECT]...`. The deployment's environment is this process's (FLEET_HMAC_SECRET,
// FLEET_SUPER_ADMINS...). Prints one JSON line {url, siteUrl, adminUrl, issuer} once it listens;
// SIGTERM or SIGINT ends it (its data goes with it).
import { parseArgs } from "node:util";
import { startConvexStandin } from "./standin";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: "string" }, "site-port": { type: "string" }, "admin-port": { type: "string" }, "super-admin": { type: "string", multiple: true } } });
  const port = (name: string, v: string | undefined) => {
    if (v === undefined) return 0;
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new Error(`--${name}: "${v}" is not a port (expected 0..65535)`);
    return Number(v);
  };
  const standin = await startConvexStandin({
    superAdmins: values["super-admin"] ?? [],
    ports: { api: port("port", values.port), site: port("site-port", values["site-port"]), admin: port("admin-port", values["admin-port"]) },
  });
  process.stdout.write(`${JSON.stringify({ url: standin.url, siteUrl: standin.siteUrl, adminUrl: standin.adminUrl, issuer: standin.issuer.url })}\n`);
  const end = () => void standin.close().then(() => process.exit(0));
  process.once("SIGTERM", end);
  process.once("SIGINT", end);
}

main().catch((e: unknown) => {
  process.stderr.write(`convex stand-in: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
