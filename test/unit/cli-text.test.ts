// Text from a record or a host is shown, never obeyed: `fleet history` and the rollout progress
// print an upgrade error holding terminal escapes with every control character visible.
/* eslint-disable no-control-regex -- this test is about control characters */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { printable, printableJson, printableLines } from "../../cli/text";
import { progressSink } from "../../cli/progress";
import { openStore } from "../../store/index";
import { fleet } from "../support/cli";
import { ROOT } from "../support/fixtures";

const HOSTILE = "\x1b[2J\x1b[1;31mFAKE: all runtimes OK\x1b[0m\r";
// Anything a terminal would act on: C0, DEL, C1, separators, bidi overrides.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

describe("printable", () => {
  it("shows the escapes of a forged result as text", () => {
    expect(printable(HOSTILE)).toBe("\\x1b[2J\\x1b[1;31mFAKE: all runtimes OK\\x1b[0m\\x0d");
    expect(printable("a\nb\u009b\u202e")).toBe("a\\x0ab\\x9b\\u202e");
    expect(printableLines("line one\n\tline two\x07")).toBe("line one\n\tline two\\x07");
  });

  it("leaves no control character in any string, and leaves safe text as it is", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(printable(s)).not.toMatch(CONTROL);
        expect(printableLines(s).replace(/[\n\t]/g, "")).not.toMatch(CONTROL);
      }),
    );
    fc.assert(fc.property(fc.string({ unit: "grapheme-ascii" }).filter((s) => !CONTROL.test(s)), (s) => {
      expect(printable(s)).toBe(s);
    }));
  });

  it("JSON keeps the value and escapes what JSON.stringify leaves raw", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const json = printableJson({ s });
        expect(json).not.toMatch(CONTROL);
        expect(JSON.parse(json)).toEqual({ s });
      }),
    );
  });
});

describe("stored and host-supplied text in the CLI's output", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-text-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("fleet history prints an upgrade error's escapes visibly on one line; --json keeps the text exactly", async () => {
    copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), path.join(dir, "Pulumi.unit.yaml"));
    const store = await openStore({ localPath: path.join(dir, ".fleet", "store.db"), env: {} });
    await store.recordUpgrade({
      eventId: "e-1",
      stack: "unit",
      accountId: "acc-abc123",
      fromOpenclaw: "v1.2.4",
      toOpenclaw: "v1.2.5",
      fromRuntimeService: "v0.5.2",
      toRuntimeService: "v0.5.2",
      status: "failed",
      startedAt: Date.UTC(2026, 0, 1),
      completedAt: Date.UTC(2026, 0, 1, 0, 1),
      durationMs: 60_000,
      error: `${HOSTILE}\nacc-def456 success`,
      initiatedBy: "agent",
      executor: "agent",
    });
    await store.close();
    const env = { ...process.env };
    delete process.env.FLEET_STORE_PATH;
    try {
      const r = await fleet("history", "--stack", "unit", "--project", dir);
      expect(r.code).toBe(0);
      expect(r.stdout.replace(/\n/g, "")).not.toMatch(CONTROL);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("error: \\x1b[2J\\x1b[1;31mFAKE: all runtimes OK\\x1b[0m\\x0d\\x0aacc-def456 success");
      const json = await fleet("history", "--stack", "unit", "--project", dir, "--json");
      expect(json.stdout).not.toContain("\x1b");
      expect((JSON.parse(json.stdout) as { items: Array<{ error: string }> }).items[0]?.error).toBe(`${HOSTILE}\nacc-def456 success`);
    } finally {
      process.env = env;
    }
  });

  it("rollout progress shows a runtime's failure detail escaped, one line per event, on a pipe and on a TTY", () => {
    for (const tty of [false, true]) {
      let written = "";
      const sink = progressSink({ json: false, tty, write: (t) => void (written += t), now: () => 0 });
      sink({ type: "start", rolloutId: "r-1", stack: "unit", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", batches: [["acc-abc123"]], resumed: false });
      sink({ type: "runtime", rolloutId: "r-1", accountId: "acc-abc123", state: "failed", detail: `${HOSTILE}\nforged line` });
      sink({ type: "end", rolloutId: "r-1", status: "failed", reason: HOSTILE });
      // The TTY view's own cursor moves are its only escapes: ESC [ n F, ESC [ 0 J.
      const own = written.replace(/\u001b\[\d+F\u001b\[0J/g, "");
      expect(own).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/u);
      // The pipe prints every event; the TTY view keeps the latest status line.
      if (!tty) expect(own).toContain("\\x1b[2J\\x1b[1;31mFAKE: all runtimes OK\\x1b[0m\\x0d\\x0aforged line");
      expect(own).toContain("failed: \\x1b[2J\\x1b[1;31mFAKE: all runtimes OK\\x1b[0m\\x0d");
      expect(own).not.toMatch(/^forged line/m);
    }
  });
});
