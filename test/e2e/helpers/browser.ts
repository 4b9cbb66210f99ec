// Real Chromium (Debian's) driven by playwright-core, with a fresh profile each launch, and the
// `fleet dashboard` child process. Everything started here is stopped by the returned close().
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { REPO } from "./labProject";

export const CHROMIUM = process.env.FLEET_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = path.join(REPO, "test-artifacts", "dashboard");

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set FLEET_CHROMIUM)`);
  const profile = mkdtempSync(path.join(os.tmpdir(), "fleet-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Full-page screenshots at desktop (1280) and phone (390) widths. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const files: string[] = [];
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 1280 ? 900 : 844 });
    const file = path.join(ARTIFACTS, `${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  return files;
}

export interface DashboardProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** `fleet dashboard --port 0 --json` as a child process; resolves when it says where it listens. */
export async function startDashboard(projectDir: string, env: Record<string, string>, timeoutMs = 60_000): Promise<DashboardProcess> {
  const child = spawn(process.execPath, [path.join(REPO, "bin", "fleet.cjs"), "--project", projectDir, "--stack", "lab", "--json", "dashboard", "--port", "0"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const listening = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dashboard did not start within ${timeoutMs}ms:\n${out}\n${err}`)), timeoutMs);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      for (const line of out.split("\n")) {
        try {
          const msg = JSON.parse(line) as { type?: string; url?: string; port?: number };
          if (msg.type === "listening" && msg.url && msg.port) {
            clearTimeout(timer);
            resolve({ url: msg.url, port: msg.port });
          }
        } catch {
          /* not a complete JSON line yet */
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`dashboard exited (${code}) before listening:\n${out}\n${err}`));
    });
  });
  return {
    ...listening,
    child,
    output: () => `${out}\n${err}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
