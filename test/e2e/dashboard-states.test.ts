// The dashboard's empty and error states and its keyboard/label basics, in real Chromium against
// an in-process server (a temp stack config, the real local store; no lab needed).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenAuthenticator } from "../../dashboard/auth";
import { DashboardFleet } from "../../dashboard/fleet";
import { startDashboardServer } from "../../dashboard/server";
import { makeOutput, type CommandContext } from "../../cli/cli";
import { stackContext } from "../../control/context";
import { LocalFleetStore } from "../../store/local";
import { launchBrowser, screenshots, type TestBrowser } from "./helpers/browser";

const TOKEN = "states-test-token-0123456789abcdef";

const yaml = (runtimes: string) => `config:
  fleet:release: { openclaw: v1.2.3, runtimeService: v0.5.0 }
  fleet:policy: { minSupportedOpenclaw: v1.1.0, strategy: rolling, batchPercent: 50 }
  fleet:defaults: { provider: existing }
  fleet:sshPrivateKey: { secure: v1:abc }
  fleet:runtimes:${runtimes}
`;

async function serve(runtimes: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-dash-states-"));
  writeFileSync(path.join(dir, "Pulumi.states.yaml"), yaml(runtimes));
  const ctx: CommandContext = { globals: { stack: "states" }, out: makeOutput(true, { write: () => true }, { write: () => true }), projectDir: dir };
  const store = new LocalFleetStore({ path: path.join(dir, "store.db") });
  const fleet = new DashboardFleet({ ctx, sc: await stackContext(ctx) });
  const running = await startDashboardServer({ fleet, auth: tokenAuthenticator(TOKEN, store, "states@test"), host: "127.0.0.1", port: 0 });
  return {
    store,
    running,
    async close() {
      await running.close();
      await store.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("dashboard states (Chromium)", () => {
  let b: TestBrowser;
  const servers: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    b = await launchBrowser();
  });
  afterAll(async () => {
    await b?.close();
    for (const s of servers) await s.close();
  });

  it("a fleet of zero runtimes, then a store that is down", async () => {
    const s = await serve(" []");
    servers.push(s);
    const { page } = b;
    await page.goto(`${s.running.url}?token=${TOKEN}`);
    await page.getByText("No runtimes observed yet").waitFor();
    expect(await page.locator("#total").textContent()).toBe("0");
    expect(await page.getByText("This stack has no runtimes configured.").count()).toBe(1);
    await screenshots(page, "empty-fleet");
    await s.store.close();
    await page.reload();
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").textContent()).toMatch(/The fleet store is unavailable/);
    expect(await page.getByRole("button", { name: "Retry" }).count()).toBe(1);
    await screenshots(page, "store-down");
  });

  it("is labelled and keyboard-usable", async () => {
    const s = await serve(`
    - { accountId: acme, host: 127.0.0.1, openclaw: v1.2.3, runtimeService: v0.5.0, canary: true }
    - { accountId: globex, host: 127.0.0.2, openclaw: v1.1.5, runtimeService: v0.5.0 }`);
    servers.push(s);
    const { page } = b;
    await page.goto(`${s.running.url}?token=${TOKEN}`);
    await page.getByRole("heading", { name: "Start Fleet Upgrade" }).waitFor();
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll("input, select, button")).filter((el) => {
        const id = el.getAttribute("id");
        const labelled = (id && document.querySelector(`label[for="${id}"]`)) || el.closest("label") || (el.textContent ?? "").trim() !== "" || el.getAttribute("aria-label");
        return !labelled;
      }).length,
    );
    expect(unlabelled).toBe(0);
    expect(await page.locator("th[scope=col]").count()).toBeGreaterThan(0);
    // Keyboard: the skip link comes first, and a runtime's page opens from the keyboard.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await page.getByRole("link", { name: "globex" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Runtime: globex" }).waitFor();
    await screenshots(page, "runtime-unobserved");
  });
});
