// Global setup of the vitest project `faults`: starts each run with no rows, and at the end
// prints the one table of every row (and writes it to test-artifacts/faults/table.md).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { FaultRow } from "./harness";

const DIR = path.resolve(__dirname, "..", "..", "test-artifacts", "faults");
const ROWS = path.join(DIR, "rows.jsonl");

export function formatTable(rows: readonly FaultRow[], totalMs?: number): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();
  const list = (xs: readonly string[]) => (xs.length === 0 ? "0" : `${xs.length} (${xs.join(", ")})`);
  const lines = [
    "| fault | what the fleet did | outside the blast radius | records lost | upgraded twice | time to stable | row |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      [
        cell(r.fault),
        cell(r.action),
        list(r.outside),
        list(r.lost),
        list(r.twice),
        r.stableMs === null ? "not stable" : `${(r.stableMs / 1000).toFixed(1)} s`,
        r.ok ? "pass" : "FAIL",
      ].join(" | "),
    ).map((l) => `| ${l} |`),
  ];
  const failed = rows.filter((r) => !r.ok).length;
  lines.push("", `${rows.length} rows, ${failed} failed${totalMs !== undefined ? `, ${(totalMs / 1000).toFixed(0)} s in all` : ""}`);
  return lines.join("\n");
}

export function readRows(file = ROWS): FaultRow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as FaultRow);
}

let startedAt = 0;

export function setup(): void {
  startedAt = Date.now();
  mkdirSync(DIR, { recursive: true });
  rmSync(ROWS, { force: true });
}

export function teardown(): void {
  const table = formatTable(readRows(), Date.now() - startedAt);
  writeFileSync(path.join(DIR, "table.md"), `${table}\n`);
  process.stdout.write(`\nFault suite:\n\n${table}\n`);
}
