// The adversarial suite (issue 18): bad input and attacks against every surface a user or a host
// can reach, each handled as expected (the right exit code or HTTP status, one clear line, and
// nothing changed). Fast, no lab: the CLI in-process, stack config files, the on-host script run
// with bash against a scratch host root, and the two HTTP servers on 127.0.0.1:0. The summary
// table goes to test-artifacts/adversarial.md.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOutput, type CommandContext } from "../../cli/cli";
import { stackContext } from "../../control/context";
import { SCRIPT_PATH } from "../../components/onhost";
import { tokenAuthenticator } from "../../dashboard/auth";
import { DashboardFleet } from "../../dashboard/fleet";
import { startDashboardServer } from "../../dashboard/server";
import { EVENTS_PATH, KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signPayload } from "../../protocol/signature";
import { agentKeyId, agentSecret } from "../../protocol/credential";
import { startEndpoint } from "../../store/endpoint";
import { LocalFleetStore } from "../../store/local";
import { fleet } from "../support/cli";
import { yamlAliasBomb, unitRuntimes, unitStackYaml } from "../support/fixtures";

interface Tried {
  surface: string;
  input: string;
  expected: string;
  got: string;
  ok: boolean;
}
const tried: Tried[] = [];
function note(surface: string, input: string, expected: string | number, got: string | number): void {
  tried.push({ surface, input, expected: String(expected), got: String(got), ok: String(expected) === String(got) });
}

const STACK = unitStackYaml(unitRuntimes(["acme", "globex"]));

const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-adversarial-"));
const project = path.join(dir, "project");
mkdirSync(project);
const stackFile = path.join(project, "Pulumi.unit.yaml");
writeFileSync(stackFile, STACK);
/** What "nothing changed" looks at: every file in the project and its content. */
const snapshot = (root: string) =>
  Object.fromEntries(
    (readdirSync(root, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
      .filter((d) => d.isFile())
      .map((d) => {
        const f = path.join(d.parentPath, d.name);
        return [path.relative(root, f), readFileSync(f, "utf8")];
      }),
  );

afterAll(() => {
  const surfaces = [...new Set(tried.map((t) => t.surface))];
  const lines = [
    "# Adversarial suite",
    "",
    "| surface | inputs tried | handled as expected |",
    "| --- | ---: | ---: |",
    ...surfaces.map((s) => {
      const of = tried.filter((t) => t.surface === s);
      return `| ${s} | ${of.length} | ${of.filter((t) => t.ok).length} |`;
    }),
    `| **all** | ${tried.length} | ${tried.filter((t) => t.ok).length} |`,
    "",
    "| surface | input | expected | got |",
    "| --- | --- | --- | --- |",
    ...tried.map((t) => `| ${t.surface} | ${t.input.replace(/\|/g, "\\|")} | ${t.expected} | ${t.got}${t.ok ? "" : " ✗"} |`),
    "",
  ];
  mkdirSync(path.resolve(__dirname, "..", "..", "test-artifacts"), { recursive: true });
  writeFileSync(path.resolve(__dirname, "..", "..", "test-artifacts", "adversarial.md"), lines.join("\n"));
  console.log(lines.slice(0, 4 + surfaces.length + 1).join("\n"));
  rmSync(dir, { recursive: true, force: true });
});

describe("CLI arguments", () => {
  const p = ["--project", project, "--stack", "unit"];
  const cases: Array<[string, string[]]> = [
    ["a stack name with shell characters", ["validate", "--project", project, "--stack", "unit;id"]],
    ["a stack name that walks out of the project", ["validate", "--project", project, "--stack", "../../etc/passwd"]],
    ["an unknown command", ["frobnicate", ...p]],
    ["an unknown option", ["status", ...p, "--yolo"]],
    ["history --runtime with markup", ["history", ...p, "--runtime", "<b>X</b>"]],
    ["history --limit abc", ["history", ...p, "--limit", "abc"]],
    ["history --limit 0", ["history", ...p, "--limit", "0"]],
    ["history --limit 201", ["history", ...p, "--limit", "201"]],
    ["plan --to latest", ["plan", ...p, "--no-preview", "--to", "latest"]],
    ["plan --to with a command substitution", ["plan", ...p, "--no-preview", "--to", "v1.2.5$(id)"]],
    ["plan --to with a newline", ["plan", ...p, "--no-preview", "--to", "v1.2.5\nv1.2.6"]],
    ["plan --to with an escape sequence", ["plan", ...p, "--no-preview", "--to", "\x1b[2Jv1.2.5"]],
    ["plan --strategy yolo", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--strategy", "yolo"]],
    ["plan --batch 0%", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--batch", "0%"]],
    ["plan --batch abc", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--batch", "abc"]],
    ["plan --batch 101%", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--batch", "101%"]],
    ["plan --wait -5s", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--wait", "-5s"]],
    ["plan --bake forever", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--bake", "forever"]],
    ["plan --strategy canary --canary of an unknown runtime", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--strategy", "canary", "--canary", "ghost-98"]],
    ["plan --runtime with shell characters", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--runtime", "acme;rm"]],
    ["plan a downgrade without consent", ["plan", ...p, "--no-preview", "--to", "v1.2.2"]],
    ["plan below the minimum supported", ["plan", ...p, "--no-preview", "--to", "v1.0.0", "--allow-downgrade"]],
    ["rollback --runtime unknown", ["rollback", ...p, "--runtime", "ghost-98", "--to", "v1.2.2"]],
    ["rollback below the minimum supported", ["rollback", ...p, "--runtime", "acme", "--to", "v1.0.0"]],
    ["plan --pause-on-failure with a leading space", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--pause-on-failure", " 5%"]],
    ["plan --wait with a leading space", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--wait", " 60s"]],
    ["plan --auto-rollback --no-auto-rollback", ["plan", ...p, "--no-preview", "--to", "v1.2.5", "--auto-rollback", "--no-auto-rollback"]],
    ["history --rollout that is not an id", ["history", ...p, "--rollout", "<anything>"]],
    ["history --cursor garbage", ["history", ...p, "--cursor", "garbage"]],
    ["rollout pause of a malformed id", ["rollout", "pause", "ro_;id", ...p]],
  ];
  it.each(cases)("%s: exit 2, one line, nothing changed", async (name, argv) => {
    const before = snapshot(project);
    const r = await fleet(...argv);
    note("CLI arguments", name, 2, r.code);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stderr).not.toContain("\x1b");
    expect(snapshot(project)).toEqual(before);
  });
});

describe("stack config files", () => {
  const files = path.join(dir, "configs");
  mkdirSync(files);
  const write = (name: string, text: string | Buffer) => {
    const f = path.join(files, name);
    writeFileSync(f, text);
    return f;
  };
  const cases: Array<[string, () => string]> = [
    ["a YAML alias bomb", () => write("bomb.yaml", yamlAliasBomb())],
    ["a directory", () => path.join(files)],
    ["/dev/zero", () => "/dev/zero"],
    ["a named pipe", () => {
      const f = path.join(files, "fifo.yaml");
      spawnSync("mkfifo", [f]);
      return f;
    }],
    ["a 5 MiB file", () => write("big.yaml", `config:\n  other:x: "${"y".repeat(5 * 1024 * 1024)}"\n`)],
    ["a symlink to a missing file", () => {
      const f = path.join(files, "dangling.yaml");
      symlinkSync(path.join(files, "nowhere"), f);
      return f;
    }],
    ["not YAML", () => write("bad.yaml", "config: [unclosed\n")],
    ["config as a list", () => write("list.yaml", "config:\n  - a\n")],
    ["a NUL byte", () => write("nul.yaml", Buffer.from("config:\n  fleet:release: \0\n"))],
    ["shell characters in a version", () => write("shell.yaml", STACK.replace("openclaw: v1.2.3\n    runtimeService: v0.5.0\n  fleet:policy", "openclaw: v1.2.3; rm -rf /\n    runtimeService: v0.5.0\n  fleet:policy"))],
    ["an escape sequence in a runtime name", () => write("esc.yaml", STACK.replace("accountId: acme", "accountId: \"\\e[2Jacme\""))],
    ["the SSH key in plain text", () => write("plain.yaml", STACK.replace("secure: v1:abc", "").replace("fleet:sshPrivateKey:\n", "fleet:sshPrivateKey: -----BEGIN OPENSSH PRIVATE KEY-----\n"))],
    ["10,001 runtimes", () => write("many.yaml", `${STACK}${Array.from({ length: 10_000 }, (_, i) => `    - {accountId: x${i}, host: 127.0.0.9, openclaw: v1.2.3, runtimeService: v0.5.0}\n`).join("")}`)],
    ["5,000 bad runtimes", () => write("bad-many.yaml", `${STACK}${Array.from({ length: 5_000 }, (_, i) => `    - {accountId: y${i}, host: 127.0.0.9, openclaw: latest, runtimeService: v0.5.0}\n`).join("")}`)],
    ["a duplicate account id", () => write("dup.yaml", STACK.replace("accountId: globex", "accountId: acme"))],
    ["an unknown fleet: key", () => write("unknown.yaml", `${STACK}  fleet:runtime: []\n`)],
  ];
  it.each(cases)("%s: fleet validate exits 2 naming the file, bounded output, file unchanged", async (name, make) => {
    const file = make();
    const before = snapshot(files);
    const started = Date.now();
    const r = await fleet("validate", "--config-file", file);
    note("stack config files", name, 2, r.code);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr.length).toBeLessThan(8192);
    expect(r.stderr).not.toContain("\x1b");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(snapshot(files)).toEqual(before);
  });
});

describe("the on-host script's stdin", () => {
  const root = path.join(dir, "host");
  beforeAll(() => {
    mkdirSync(path.join(root, "openclaw"), { recursive: true });
    mkdirSync(path.join(root, "state"), { recursive: true });
  });
  const json = (o: unknown) => JSON.stringify(o);
  const cases: Array<[string, string | Buffer]> = [
    ["two concatenated objects", '{"openclaw":"v1","runtimeService":"v0.5.2"}{"openclaw":".2.3","runtimeService":"v0.5.2"}'],
    ["two objects on two lines", `${json({ openclaw: "v1.2.5", runtimeService: "v0.5.2" })}\n${json({ openclaw: "v1.2.6", runtimeService: "v0.5.2" })}`],
    ["a NUL byte inside a version", Buffer.from('{"openclaw":"v1.2.5\0","runtimeService":"v0.5.2"}')],
    ["a trailing NUL byte", Buffer.from('{"openclaw":"v1.2.5","runtimeService":"v0.5.2"}\0')],
    ["nothing", ""],
    ["null", "null"],
    ["an array", "[]"],
    ["a number for a version", json({ openclaw: 1, runtimeService: "v0.5.2" })],
    ["a missing runtimeService", json({ openclaw: "v1.2.5" })],
    ["a command substitution", json({ openclaw: "$(touch /tmp/pwned)", runtimeService: "v0.5.2" })],
    ["a newline in a version", json({ openclaw: "v1.2.5\nv1.2.6", runtimeService: "v0.5.2" })],
    ["an escape sequence", json({ openclaw: "\x1b[2Jv1.2.5", runtimeService: "v0.5.2" })],
    ["latest", json({ openclaw: "latest", runtimeService: "v0.5.2" })],
    ["a leading zero", json({ openclaw: "v01.2.5", runtimeService: "v0.5.2" })],
    ["70 KB of padding", json({ openclaw: "v1.2.5", runtimeService: "v0.5.2", pad: "x".repeat(70_000) })],
    ["not JSON", "openclaw=v1.2.5"],
  ];
  it.each(cases)("%s: exit 2, one JSON result line, nothing changed on the host", (name, input) => {
    const before = snapshot(root);
    const r = spawnSync("bash", [SCRIPT_PATH, "--root", root, "upgrade", "--stdin"], { input, encoding: "utf8", timeout: 30_000 });
    note("on-host script stdin", name, 2, r.status ?? "killed");
    expect(r.status, r.stdout + r.stderr).toBe(2);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ status: "failed", from: null, to: null });
    expect(snapshot(root)).toEqual(before);
  });
});

describe("the embedded events endpoint", () => {
  const SECRET = "adversarial-secret-0123456789";
  let store: LocalFleetStore;
  let endpoint: Awaited<ReturnType<typeof startEndpoint>>;
  beforeAll(async () => {
    store = new LocalFleetStore({ path: path.join(dir, "endpoint.db") });
    endpoint = await startEndpoint({ store, hmacSecret: SECRET, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await endpoint.close();
    await store.close();
  });
  const event = { id: "ev-1", type: "runtime.upsert", stack: "unit", accountId: "acme", status: "online" };
  const signed = async (body: string, over: Record<string, string> = {}) => {
    const ts = String(Date.now());
    return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: await signPayload(SECRET, ts, body), "content-type": "application/json", ...over };
  };
  const cases: Array<[string, number, () => Promise<Response>]> = [
    ["GET on the events path", 405, () => fetch(`${endpoint.url}${EVENTS_PATH}`)],
    ["an unknown path", 404, () => fetch(`${endpoint.url}/admin`, { method: "POST" })],
    ["no signature headers", 401, () => fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body: JSON.stringify(event) })],
    ["a wrong signature", 401, async () => fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body: JSON.stringify(event), headers: await signed("other", {}) })],
    ["a stale timestamp", 401, async () => {
      const body = JSON.stringify(event);
      const ts = String(Date.now() - 3_600_000);
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: await signPayload(SECRET, ts, body) } });
    }],
    ["a timestamp that is not a number", 401, () => fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body: "{}", headers: { [TIMESTAMP_HEADER]: "now", [SIGNATURE_HEADER]: "00" } })],
    ["an unknown key id", 401, async () => fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body: "{}", headers: await signed("{}", { [KEY_ID_HEADER]: "nobody" }) })],
    ["a body over the limit", 413, async () => {
      const body = "x".repeat(1_100_000);
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signed(body) });
    }],
    ["a signed body that is not JSON", 400, async () => fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body: "not json", headers: await signed("not json") })],
    ["a signed event without an id", 400, async () => {
      const body = JSON.stringify({ ...event, id: undefined });
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signed(body) });
    }],
    ["a stack id that walks out of its directory", 400, async () => {
      const body = JSON.stringify({ id: "ev-ids-1", type: "runtime.upsert", runtimes: [{ stack: "../../x", accountId: "acme", status: "online", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }] });
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signed(body) });
    }],
    ["an account id with markup", 400, async () => {
      const body = JSON.stringify({ id: "ev-ids-2", type: "runtime.upsert", runtimes: [{ stack: "unit", accountId: "<b>X</b>", status: "online", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }] });
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signed(body) });
    }],
    ["an agent key posting for another stack", 403, async () => {
      const body = JSON.stringify({ id: "ev-scope-1", type: "runtime.upsert", runtimes: [{ stack: "prod", accountId: "acme", status: "online", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }] });
      const ts = String(Date.now());
      const key = await agentSecret(SECRET, "unit", "acme");
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: await signPayload(key, ts, body), [KEY_ID_HEADER]: agentKeyId("unit", "acme") } });
    }],
    ["an agent key posting for another runtime", 403, async () => {
      const body = JSON.stringify({ id: "ev-scope-2", type: "runtime.upsert", runtimes: [{ stack: "unit", accountId: "ghost-98", status: "online", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" }] });
      const ts = String(Date.now());
      const key = await agentSecret(SECRET, "unit", "acme");
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: await signPayload(key, ts, body), [KEY_ID_HEADER]: agentKeyId("unit", "acme") } });
    }],
    ["a signed event of an unknown type", 400, async () => {
      const body = JSON.stringify({ ...event, id: "ev-2", type: "runtime.delete" });
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers: await signed(body) });
    }],
    ["a replayed signature", 409, async () => {
      // A valid event (an activity: it records no runtime), applied once, then the same request again.
      const body = JSON.stringify({ id: "ev-replayed", type: "activity", activity: { actor: "ci", action: "note", message: "replayed" } });
      const headers = await signed(body);
      await fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers });
      return fetch(`${endpoint.url}${EVENTS_PATH}`, { method: "POST", body, headers });
    }],
  ];
  it.each(cases)("%s: HTTP %i, nothing recorded", async (name, status, send) => {
    const r = await send();
    note("events endpoint", name, status, r.status);
    expect(r.status).toBe(status);
    expect(((await r.json()) as { ok: boolean }).ok).toBe(false);
    expect(await store.listRuntimes({})).toEqual([]);
  });
});

describe("the dashboard HTTP API", () => {
  const TOKEN = "adversarial-token-0123456789abcdef";
  let store: LocalFleetStore;
  let running: Awaited<ReturnType<typeof startDashboardServer>>;
  const dashProject = path.join(dir, "dash");
  beforeAll(async () => {
    mkdirSync(dashProject);
    writeFileSync(path.join(dashProject, "Pulumi.unit.yaml"), STACK);
    const ctx: CommandContext = { globals: { stack: "unit" }, out: makeOutput(true, { write: () => true }, { write: () => true }), projectDir: dashProject };
    const sc = await stackContext(ctx);
    store = new LocalFleetStore({ path: path.join(dir, "dash.db") });
    running = await startDashboardServer({ fleet: new DashboardFleet({ ctx, sc }), auth: tokenAuthenticator(TOKEN, store, "adversary@test"), host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await running.close();
    await store.close().catch(() => undefined);
  });
  const bearer = { Authorization: `Bearer ${TOKEN}` };
  const post = (p: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${running.url}${p}`, { method: "POST", headers: { ...bearer, "Content-Type": "application/json", ...headers }, body });
  const cases: Array<[string, number, () => Promise<Response>]> = [
    ["the API without a credential", 401, () => fetch(`${running.url}api/overview`)],
    ["a wrong bearer token", 401, () => fetch(`${running.url}api/overview`, { headers: { Authorization: "Bearer wrong-token-0123456789abcdef" } })],
    ["a wrong login token", 401, () => fetch(`${running.url}?token=nope`, { redirect: "manual" })],
    ["a plan to latest", 400, () => post("api/plan", JSON.stringify({ to: "latest", strategy: "canary" }))],
    ["a plan with a command field", 400, () => post("api/plan", JSON.stringify({ to: "v1.2.5", strategy: "rolling", command: "rm -rf /" }))],
    ["a plan with an unknown strategy", 400, () => post("api/plan", JSON.stringify({ to: "v1.2.5", strategy: "yolo" }))],
    ["a plan below the minimum supported", 400, () => post("api/plan", JSON.stringify({ to: "v1.0.0", strategy: "rolling" }))],
    ["a body that is not JSON", 400, () => post("api/plan", "{not json")],
    ["history with limit=abc", 400, () => fetch(`${running.url}api/history?limit=abc`, { headers: bearer })],
    ["history with a cursor the store never gave", 400, () => fetch(`${running.url}api/history?cursor=AAAA`, { headers: bearer })],
    ["a runtime id with a malformed escape", 400, () => fetch(`${running.url}api/runtimes/%E0%A4%A`, { headers: bearer })],
    ["a runtime id with markup", 400, () => fetch(`${running.url}api/runtimes/%3Cb%3EX%3C%2Fb%3E`, { headers: bearer })],
  ];
  it.each(cases)("%s: HTTP %i, nothing changed", async (name, status, send) => {
    const before = snapshot(dashProject);
    const r = await send();
    note("dashboard HTTP API", name, status, r.status);
    expect(r.status).toBe(status);
    expect(await r.text()).not.toMatch(/\n\s+at /);
    expect(snapshot(dashProject)).toEqual(before);
    expect(await store.listRollouts({ stack: "unit" })).toEqual([]);
  });
});
