// The admin dashboard in real Chromium against a 5-host lab fleet and the real Pulumi engine:
// sign-in, the overview against `fleet status`, the plan against `fleet plan`, a canary rollout
// started from the page and watched live (the overview too), a runtime's history and on-host
// actions, its single-runtime Upgrade button, refusals.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, screenshots, startDashboard, type DashboardProcess, type TestBrowser } from "./helpers/browser";
import { labProject, REPO, type LabProject } from "./helpers/labProject";
import type { FleetStore } from "../../store/types";
import { itOnlyOn, STORE_KINDS, useStore } from "./helpers/stores";

process.env.FLEET_LAB_NET = "127.0.4";
const ids = ["lab-01", "lab-02", "lab-03", "lab-04", "lab-05"];
const execFileP = promisify(execFile);
/** The dashboard's sign-in: its own token on the embedded store, the admin's Convex JWT on Convex. */
let TOKEN = randomBytes(24).toString("base64url");

async function poll<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe.each(STORE_KINDS)("fleet dashboard (Chromium, lab fleet, %s store)", (kind) => {
  const st = useStore(kind);
  let p: LabProject;
  let dash: DashboardProcess;
  let b: TestBrowser;
  let base: string;

  const fleet = async (...args: string[]) => {
    const r = await execFileP(process.execPath, [path.join(REPO, "bin", "fleet.cjs"), "--project", p.projectDir, "--stack", "lab", "--json", ...args], {
      env: { ...process.env, ...p.env },
      timeout: 120_000,
    }).catch((e: { stdout?: string; stderr?: string; code?: number }) => e);
    return { stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  };
  const storeRead = <T>(fn: (s: FleetStore) => Promise<T>) => st.read(p.storePath, fn);
  /** A raw HTTP request (Node's fetch would not let us forge Origin / Sec-Fetch-Site freely). */
  const raw = (method: string, urlPath: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(new URL(urlPath, base), { method, headers }, (res) => {
        let data = "";
        res.on("data", (d: Buffer) => (data += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on("error", reject);
      req.end(body);
    });

  beforeAll(async () => {
    const t0 = Date.now();
    p = await labProject(5);
    Object.assign(p.env, st.env);
    if (kind === "convex") TOKEN = await st.token("e2e-admin");
    const up = await p.engine().up(ids.map((accountId) => ({ accountId, provider: "existing" as const })));
    expect(up.ok, up.generalErrors.join("\n")).toBe(true);
    await fleet("health"); // the store observes the fleet
    dash = await startDashboard(p.projectDir, { ...p.env, FLEET_DASHBOARD_TOKEN: TOKEN });
    base = dash.url;
    b = await launchBrowser();
    b.page.on("dialog", (d) => void d.accept());
    console.log(`setup ${Date.now() - t0}ms`);
  });

  afterAll(async () => {
    await b?.close();
    await dash?.stop();
    await p?.down();
  });

  it("refuses anyone without the token: 401 and no data, for pages and the API", async () => {
    const api = await raw("GET", "/api/overview", {});
    expect(api.status).toBe(401);
    expect(api.body).not.toMatch(/lab-0|v1\.2/);
    const page = await raw("GET", "/", {});
    expect(page.status).toBe(401);
    expect(page.body).not.toMatch(/lab-0/);
    expect((await raw("GET", "/?token=wrong-token-0123456789", {})).status).toBe(401);
    expect((await raw("GET", "/api/overview", { Authorization: "Bearer not-the-token-123456" })).status).toBe(401);
    expect((await raw("GET", "/static/app.js", {})).status).toBe(401);
    const ok = await raw("GET", "/api/overview", { Authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    // Another name for 127.0.0.1 (DNS rebinding) is not this dashboard.
    expect((await raw("GET", "/api/overview", { Authorization: `Bearer ${TOKEN}`, Host: `evil.example:${dash.port}` })).status).toBe(421);
  });

  itOnlyOn(kind, "convex")("refuses a signed-in non-admin's JWT and a forged admin JWT: 401, no session, no data", async () => {
    for (const jwt of [await st.token("not-an-admin"), await st.token("e2e-admin", { forged: true })]) {
      const api = await raw("GET", "/api/overview", { Authorization: `Bearer ${jwt}` });
      expect(api.status).toBe(401);
      expect(api.body).not.toMatch(/lab-0|v1\.2/);
      const page = await raw("GET", `/?token=${jwt}`, {});
      expect(page.status).toBe(401);
      expect(page.body).not.toMatch(/lab-0/);
    }
  });

  it("signs in with ?token=, and the overview's counts equal `fleet status --json`", async () => {
    const { page, context } = b;
    await page.goto(`${base}?token=${TOKEN}`);
    expect(new URL(page.url()).search).toBe(""); // the token left the address bar
    const cookie = (await context.cookies()).find((c) => c.name === "fleet_dashboard_session");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");
    await page.getByRole("heading", { name: "Fleet Overview" }).waitFor();
    const status = JSON.parse((await fleet("status")).stdout) as { total: number; byStatus: Array<{ status: string; count: number; percent: number }>; byOpenclawVersion: Array<{ label: string; count: number; percent: number }> };
    expect(status.total).toBe(5);
    expect(await page.locator("#total").textContent()).toBe(String(status.total));
    for (const row of status.byStatus.filter((r) => r.count > 0)) {
      const shown = page.locator(`[aria-label="Runtimes by status"] [data-row="${row.status}"] + span`);
      expect(await shown.textContent()).toBe(`${row.count} (${row.percent}%)`);
    }
    for (const row of status.byOpenclawVersion) {
      const shown = page.locator(`[aria-label="Runtimes by OpenClaw version"] [data-row="${row.label}"] + span`);
      expect(await shown.textContent()).toBe(`${row.count} (${row.percent}%)`);
    }
    await screenshots(page, "runtime-management");
  });

  it("Check for Updates reads the release source's tags and records the latest", async () => {
    const { page } = b;
    await page.getByRole("button", { name: "Check for Updates" }).click();
    await page.getByRole("cell", { name: "v1.3.0" }).first().waitFor();
    const latest = await storeRead(async (s) => (await s.getConfig()).find((e) => e.key === "latest_openclaw_version")?.value);
    expect(latest).toBe("v1.3.0");
    expect(await page.locator("text=Update available").count()).toBeGreaterThan(0);
    const options = await page.locator("#target option").allTextContents();
    expect(options).toContain("v1.2.5");
    expect(options.some((o) => o.startsWith("v1.3.0"))).toBe(true);
  });

  it("Preview Upgrade Plan shows the same batches as `fleet plan --json --no-preview`", async () => {
    const { page } = b;
    await page.selectOption("#target", "v1.2.5");
    await page.check('input[name="strategy"][value="canary"]');
    await page.getByRole("button", { name: "Preview Upgrade Plan" }).click();
    await page.locator("#plan li").first().waitFor();
    const cli = JSON.parse((await fleet("plan", "--no-preview", "--to", "v1.2.5", "--strategy", "canary")).stdout) as { plan: { batches: Array<{ accountIds: string[] }> } };
    const shown = await page.locator("#plan li").evaluateAll((lis) => lis.map((li) => Array.from(li.querySelectorAll("[data-account]")).map((c) => c.getAttribute("data-account"))));
    expect(shown).toEqual(cli.plan.batches.map((x) => x.accountIds));
    expect(await page.locator("#plan").textContent()).toMatch(/estimated/);
    await screenshots(page, "upgrade-plan");
  });

  it("refuses bad input and forged requests with a clear message, changing nothing", async () => {
    const { page, context } = b;
    const configBefore = readFileSync(p.configFile, "utf8");
    // A version that is not a release tag, put into the form as a tampered option.
    await page.evaluate(() => {
      const sel = document.querySelector("#target") as HTMLSelectElement;
      sel.add(new Option("latest", "latest"));
      sel.add(new Option("v9.9.9", "v9.9.9"));
    });
    await page.selectOption("#target", "latest");
    await page.getByRole("button", { name: "Start Upgrade" }).click();
    await page.locator("#form-message [role=alert]").waitFor();
    expect(await page.locator("#form-message").textContent()).toMatch(/to: "latest" is not a release tag.*nothing was changed/);
    await page.selectOption("#target", "v9.9.9");
    await page.getByRole("button", { name: "Preview Upgrade Plan" }).click();
    await page.locator("#form-message [role=alert]").filter({ hasText: "v9.9.9" }).waitFor();
    expect(await page.locator("#form-message").textContent()).toMatch(/v9\.9\.9 is not a release tag of .*expected one of/);
    await screenshots(page, "bad-input");

    // Forged: the page's own cookie but no CSRF token.
    const noCsrf = await page.evaluate(async () => {
      const r = await fetch("/api/rollouts", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to: "v1.2.5", strategy: "canary" }) });
      return { status: r.status, body: (await r.json()) as { error: string } };
    });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.error).toMatch(/CSRF token is missing or stale.*nothing was changed/);
    // Forged: the right cookie and CSRF token, from another origin.
    const session = await page.evaluate(async () => ((await (await fetch("/api/session")).json()) as { csrf: string }).csrf);
    const cookie = (await context.cookies()).find((c) => c.name === "fleet_dashboard_session")!;
    const forged = await raw("POST", "/api/rollouts", { Cookie: `${cookie.name}=${cookie.value}`, "X-CSRF-Token": session, Origin: "http://evil.example", "Content-Type": "application/json" }, JSON.stringify({ to: "v1.2.5", strategy: "canary" }));
    expect(forged.status).toBe(403);
    expect(forged.body).toMatch(/cross-site request: Origin \\"http:\/\/evil.example\\" is not this dashboard/);
    const crossSite = await raw("POST", "/api/rollouts", { Cookie: `${cookie.name}=${cookie.value}`, "X-CSRF-Token": session, Origin: base.replace(/\/$/, ""), "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json" }, JSON.stringify({ to: "v1.2.5", strategy: "canary" }));
    expect(crossSite.status).toBe(403);
    // A stale form: previewed against a config that has since changed.
    const stale = await page.evaluate(async (csrf) => {
      const r = await fetch("/api/rollouts", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify({ to: "v1.2.5", strategy: "canary", configHash: "0000" }) });
      return { status: r.status, body: (await r.json()) as { error: string } };
    }, session);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatch(/stale/);

    expect(readFileSync(p.configFile, "utf8")).toBe(configBefore);
    expect(await storeRead((s) => s.listRollouts({ stack: "lab" }))).toEqual([]);
    await page.reload();
    await page.getByRole("heading", { name: "Start Fleet Upgrade" }).waitFor();
  });

  it("a canary rollout started from the page runs to completion, live, through pause and resume; a second is refused", async () => {
    const { page } = b;
    const t0 = Date.now();
    await poll("releases in the select", async () => (await page.locator("#target option").allTextContents()).includes("v1.2.5"), 20_000);
    await page.selectOption("#target", "v1.2.5");
    await page.check('input[name="strategy"][value="canary"]');
    await page.getByRole("button", { name: "Preview Upgrade Plan" }).click();
    await page.locator("#plan li").first().waitFor();
    await page.evaluate(() => ((window as unknown as { sameLoad: boolean }).sameLoad = true)); // gone on a reload
    await page.getByRole("button", { name: "Start Upgrade" }).click();
    await page.locator("#form-message .alert.ok").waitFor();
    const live = page.locator("#rollout-live section");
    await live.waitFor();
    // Live: the page moves on its own while the rollout runs (no reload).
    await poll("a runtime upgrading or done while the rollout runs", async () => {
      const status = await live.getAttribute("data-status");
      const moving = await page.locator('#rollout-live [data-state="upgrading"], #rollout-live [data-state="succeeded"]').count();
      return status === "running" && moving > 0;
    }, 90_000);
    expect(await page.locator("#rollout-summary").getAttribute("aria-live")).toBe("polite");
    expect(await page.locator("#rollout-summary").textContent()).toMatch(/batch \d of \d/);
    await screenshots(page, "rollout-live");

    // Pause once the canary has passed its gate: the rollout stops after its current step.
    await page.locator("#rollout-live td", { hasText: "canary stayed healthy" }).waitFor({ timeout: 90_000 });
    await page.locator("#rollout-pause").click();
    await poll("the rollout to pause", async () => (await live.getAttribute("data-status")) === "paused" && (await page.locator("#rollout-resume").isEnabled()), 90_000);
    expect(await page.locator("#rollout-summary").textContent()).toMatch(/^Paused: batch \d of 5/);
    // The overview follows the rollout while it is still active: the canary's new version is counted
    // and its row in the runtimes table shows it, with no reload of the page.
    const byVersion = (v: string) => page.locator(`[aria-label="Runtimes by OpenClaw version"] [data-row="${v}"] + span`);
    await poll("the overview to count the canary on v1.2.5", async () => /^[1-4] \(/.test((await byVersion("v1.2.5").textContent({ timeout: 1000 }).catch(() => "")) ?? ""), 15_000);
    expect(await live.getAttribute("data-status")).toBe("paused");
    const lab01 = page.locator('section[aria-labelledby="h-runtimes"] tbody tr', { has: page.locator('a[href="/runtimes/lab-01"]') });
    expect(await lab01.locator("td").allTextContents()).toContain("v1.2.5");
    expect(await page.evaluate(() => (window as unknown as { sameLoad?: boolean }).sameLoad)).toBe(true);
    await screenshots(page, "rollout-paused");

    // A second rollout while this one is active: refused, naming it and who started it.
    const csrf = await page.evaluate(async () => ((await (await fetch("/api/session")).json()) as { csrf: string }).csrf);
    const second = await page.evaluate(async (token) => {
      const r = await fetch("/api/rollouts", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token }, body: JSON.stringify({ to: "v1.3.0", strategy: "rolling" }) });
      return { status: r.status, body: (await r.json()) as { error: string } };
    }, csrf);
    expect(second.status).toBe(409);
    expect(second.body.error).toMatch(/already has rollout ro_\w+ \(paused, started .* by .*\(dashboard\)\)/);
    expect(await storeRead((s) => s.listRollouts({ stack: "lab" }))).toHaveLength(1);

    await page.locator("#rollout-resume").click();
    await poll("the rollout to run again", async () => (await live.getAttribute("data-status")) !== "paused", 30_000);

    await poll("the rollout to complete", async () => (await live.getAttribute("data-status")) === "completed", 200_000, 500);
    expect(await page.locator("#rollout-summary").textContent()).toMatch(/Completed: batch \d of \d; 5 succeeded, 0 failed/);
    const hosts = await p.status();
    expect(Object.fromEntries(hosts.map((h) => [h.runtime, h.openclaw]))).toEqual(Object.fromEntries(ids.map((id) => [id, "v1.2.5"])));
    const rollouts = await storeRead((s) => s.listRollouts({ stack: "lab" }));
    expect(rollouts.map((r) => [r.status, r.strategy, r.target.openclaw])).toEqual([["completed", "canary", "v1.2.5"]]);
    // the timeline draws each runtime's upgrade record: the page reads them with its next refresh
    await poll("the timeline to draw every upgrade", async () => (await page.locator("#rollout-live figure.timeline svg rect").count()) >= 5, 15_000);
    await screenshots(page, "rollout-done");
    console.log(`rollout from the page: ${Date.now() - t0}ms`);
  });

  it("a runtime's page shows its new history row, its logs and a working Force Restart", async () => {
    const { page } = b;
    await page.goto(`${base}runtimes/lab-02`);
    await page.getByRole("heading", { name: "Upgrade History" }).waitFor();
    const row = page.locator('section[aria-labelledby="h-history"] tbody tr').first();
    expect(await row.locator("td").allTextContents()).toEqual(expect.arrayContaining(["v1.2.3", "v1.2.5", "success"]));
    expect(await page.locator("#openclaw-version").textContent()).toMatch(/^v1\.2\.5 \(latest: v1\.3\.0\)/);
    expect(await page.locator("#ssh-command").textContent()).toBe(`ssh -p 2222 root@${p.lab.hosts[1]!.address}`);
    await page.getByRole("button", { name: "View Logs" }).click();
    await page.locator("pre.logs").waitFor({ timeout: 60_000 });
    const before = (await p.status()).find((h) => h.runtime === "lab-02")!.restarts;
    await page.getByRole("button", { name: "Force Restart" }).click();
    await page.locator("#runtime-message .alert.ok").waitFor({ timeout: 90_000 });
    expect((await p.status()).find((h) => h.runtime === "lab-02")!.restarts).toBe(before + 1);
    expect(dash.output()).not.toMatch(/PRIVATE KEY/);
    await screenshots(page, "runtime");
    await page.goto(`${base}history`);
    await page.getByRole("heading", { name: "Upgrade records" }).waitFor();
    expect(await page.locator("table").last().locator("tbody tr").count()).toBe(5);
    await screenshots(page, "history");
  });

  it("a runtime's Upgrade button upgrades that runtime alone to the latest release, live on its page", async () => {
    const { page } = b;
    await page.goto(`${base}runtimes/lab-03`);
    await page.locator("#openclaw-version").waitFor();
    expect(await page.locator("#openclaw-version").textContent()).toMatch(/^v1\.2\.5 \(latest: v1\.3\.0\)/);
    await page.locator("#upgrade-version").click();
    await page.locator("#runtime-message .alert.ok").waitFor({ timeout: 30_000 });
    expect(await page.locator("#runtime-message").textContent()).toMatch(/^Rollout ro_\w+ started for lab-03\.$/);
    await page.locator("#rollout-live section").waitFor();
    // When the rollout ends the page is read again: the runtime's own version and history show it.
    await poll("lab-03's page to show v1.3.0", async () => /^v1\.3\.0 /.test((await page.locator("#openclaw-version").textContent({ timeout: 1000 }).catch(() => "")) ?? ""), 200_000, 500);
    const row = page.locator('section[aria-labelledby="h-history"] tbody tr').first();
    expect(await row.locator("td").allTextContents()).toEqual(expect.arrayContaining(["v1.2.5", "v1.3.0", "success"]));
    const hosts = Object.fromEntries((await p.status()).map((h) => [h.runtime, h.openclaw]));
    expect(hosts).toEqual({ "lab-01": "v1.2.5", "lab-02": "v1.2.5", "lab-03": "v1.3.0", "lab-04": "v1.2.5", "lab-05": "v1.2.5" });
    const mine = (await storeRead((s) => s.listRollouts({ stack: "lab" }))).filter((r) => r.target.openclaw === "v1.3.0");
    expect(mine.map((r) => [r.status, r.batches])).toEqual([["completed", [["lab-03"]]]]);
    await screenshots(page, "runtime-upgraded");
  });
});
