// Rollout progress for people and machines: a live view on a TTY (batch i/n, each runtime's
// state, elapsed, ETA), plain lines when not a TTY, JSON lines with --json.
import { formatDuration } from "../fleet/units";
import type { ProgressEvent } from "../control/orchestrator";
import { printable } from "./text";

export interface ProgressSink {
  (event: ProgressEvent): void;
}

export interface ProgressOptions {
  json: boolean;
  tty: boolean;
  write: (text: string) => void;
  now?: () => number;
  /** Seconds per batch, for the ETA before anything was measured. */
  estimatePerBatchSeconds?: number;
}

const MARK: Record<string, string> = {
  pending: "·",
  upgrading: "…",
  succeeded: "✓",
  failed: "✗",
  rolled_back: "↺",
  skipped: "-",
};

export function progressSink(options: ProgressOptions): ProgressSink {
  if (options.json) return (e) => options.write(`${JSON.stringify({ ...e, at: new Date((options.now ?? Date.now)()).toISOString() })}\n`);
  const view = new RolloutView(options.now ?? Date.now, options.estimatePerBatchSeconds);
  // Each line escaped on its own: a host's text can neither add a line nor move the cursor.
  if (!options.tty) return (e) => options.write(`${printable(view.line(e))}\n`);
  let drawn = 0;
  return (e) => {
    view.line(e);
    const frame = view.frame().map(printable);
    // Move up over the previous frame and redraw it in place.
    const clear = drawn > 0 ? `\u001b[${drawn}F\u001b[0J` : "";
    options.write(`${clear}${frame.join("\n")}\n`);
    drawn = frame.length;
  };
}

/** The rollout as a progress view keeps it: what each runtime is doing and how far along it is. */
export class RolloutView {
  private startedAt?: number;
  private batches: string[][] = [];
  private batch = -1;
  private readonly states = new Map<string, { state: string; detail?: string }>();
  private header = "";
  private status = "";
  private readonly batchDurations: number[] = [];
  private batchStartedAt?: number;

  constructor(
    private readonly now: () => number,
    private readonly estimatePerBatchSeconds = 120,
  ) {}

  /** Updates the view and returns the event as one plain line. */
  line(e: ProgressEvent): string {
    switch (e.type) {
      case "start":
        this.startedAt = this.now();
        this.batches = e.batches;
        for (const id of e.batches.flat()) if (!this.states.has(id)) this.states.set(id, { state: "pending" });
        this.header = `${e.resumed ? "resuming" : "rollout"} ${e.rolloutId} on ${e.stack}: ${e.strategy} to ${e.target.openclaw}${e.target.runtimeService ? ` / ${e.target.runtimeService}` : ""}`;
        return `${this.header} (${e.batches.flat().length} runtimes, ${e.batches.length} batches)`;
      case "batch":
        if (this.batchStartedAt !== undefined) this.batchDurations.push((this.now() - this.batchStartedAt) / 1000);
        this.batchStartedAt = this.now();
        this.batch = e.batch;
        return `batch ${e.batch + 1}/${e.batches}${e.kind === "canary" ? " (canary)" : ""}: ${e.accountIds.join(", ")}`;
      case "runtime":
        this.states.set(e.accountId, { state: e.state, ...(e.detail ? { detail: e.detail } : {}) });
        return `  ${e.accountId}: ${e.state}${e.detail ? ` (${e.detail})` : ""}`;
      case "bake":
        this.status = `baking ${e.accountIds.join(", ")}: ${e.healthy ? "healthy" : "UNHEALTHY"}, ${formatDuration(Math.max(0, (e.untilMs - this.now()) / 1000))} left`;
        return `  ${this.status}`;
      case "gate":
        this.status = `gate after batch ${e.batch + 1}: ${e.action} (${e.reason})`;
        return `  ${this.status}`;
      case "wait":
        this.status = `waiting ${formatDuration(e.seconds)}: ${e.why}`;
        return `  ${this.status}`;
      case "end":
        this.status = `${e.status}: ${e.reason}`;
        return `rollout ${e.rolloutId} ${e.status}: ${e.reason} (${formatDuration(this.elapsedSeconds())})`;
    }
  }

  elapsedSeconds(): number {
    return this.startedAt === undefined ? 0 : (this.now() - this.startedAt) / 1000;
  }

  etaSeconds(): number {
    const left = Math.max(0, this.batches.length - Math.max(0, this.batch));
    const measured = this.batchDurations.length > 0 ? this.batchDurations.reduce((a, b) => a + b, 0) / this.batchDurations.length : this.estimatePerBatchSeconds;
    return left * measured;
  }

  frame(): string[] {
    const lines = [this.header];
    lines.push(
      `batch ${Math.max(0, this.batch) + 1}/${this.batches.length}   elapsed ${formatDuration(this.elapsedSeconds())}   ETA ${formatDuration(this.etaSeconds())}`,
    );
    this.batches.forEach((ids, i) => {
      const cells = ids.map((id) => `${MARK[this.states.get(id)?.state ?? "pending"] ?? "?"} ${id}`);
      lines.push(`  ${i === this.batch ? ">" : " "} ${i + 1}: ${cells.join("  ")}`);
    });
    if (this.status) lines.push(this.status);
    return lines;
  }
}
