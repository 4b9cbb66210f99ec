// The rollout page's canary analysis in a real Chromium: each metric's canary and control
// distributions side by side, the verdict and the score, from the records of two simulated bakes
// (a release adding 3% errors, a good one), read through the one function that finds analyses
// in a rollout's steps. The dashboard's own files, served as they are (no build step).
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analysisPolicySchema } from "../../fleet/config";
import { ERRORS_3PCT, GOOD, simulateBake } from "../../lab/bakes";
import { PUBLIC_DIR } from "../../dashboard/server";
import { launchBrowser, screenshots, type TestBrowser } from "./helpers/browser";

const policy = analysisPolicySchema.parse(undefined);
const scenario = { noisy: true, canaries: 1, controls: 5, windowSeconds: 300 };
const halted = simulateBake(11, { ...scenario, shift: ERRORS_3PCT }, policy);
const passed = { ...simulateBake(12, { ...scenario, shift: GOOD }, policy), batch: 1, at: halted.at + 1 };
// The step shape of the rollout record as the step machine keeps it; other steps carry no analysis.
const rollout = { rolloutId: "ro_analysis1", steps: [{ kind: "deploy" }, { kind: "analysis", analysis: halted }, { kind: "analysis", analysis: passed }] };

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/style.css"></head>
<body><main id="main"></main><script type="module">
import { analysisSection } from "/analysis.js";
const rollout = await (await fetch("/rollout.json")).json();
document.getElementById("main").append(analysisSection(rollout));
document.body.dataset.ready = "1";
</script></body></html>`;

let server: Server;
let base: string;
let b: TestBrowser;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/") return res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    if (url === "/rollout.json") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(rollout));
    const file = path.basename(url);
    if (!["analysis.js", "ui.js", "style.css"].includes(file)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": file.endsWith(".css") ? "text/css" : "text/javascript" }).end(readFileSync(path.join(PUBLIC_DIR, file)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  b = await launchBrowser();
});

afterAll(async () => {
  await b?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe("the canary analysis chart", () => {
  it("shows each analysis newest first with its decision and score, and each metric's two distributions", async () => {
    const errors: string[] = [];
    b.page.on("pageerror", (e) => errors.push(e.message));
    await b.page.goto(base);
    await b.page.waitForSelector("body[data-ready='1']");
    expect(errors).toEqual([]);
    const analyses = b.page.locator(".analysis");
    expect(await analyses.count()).toBe(2);
    expect(await analyses.nth(0).getAttribute("data-decision")).toBe("go");
    expect(await analyses.nth(1).getAttribute("data-decision")).toBe("halt");
    expect(await analyses.nth(1).locator("[data-score]").textContent()).toBe(`score ${halted.score}`);
    const failing = analyses.nth(1).locator("figure.metric[data-metric='error_rate']");
    expect(await failing.getAttribute("data-verdict")).toBe("fail");
    // two rows of dots, one per sample, and a median line each
    const m = halted.metrics.find((x) => x.metric === "error_rate")!;
    expect(await failing.locator("circle").count()).toBe(m.canary.length + m.control.length);
    expect(await failing.locator("line[data-median]").count()).toBe(2);
    expect(await failing.locator("svg").getAttribute("aria-label")).toBe(`error_rate: canary ${m.canary.length} samples, control ${m.control.length} samples`);
    expect(await analyses.nth(1).locator("figure.metric").count()).toBe(halted.metrics.length);
    const files = await screenshots(b.page, "canary-analysis");
    expect(files).toHaveLength(2);
  });
});
