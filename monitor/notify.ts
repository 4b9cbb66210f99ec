// Alert notifications: one notice per alert transition (opened, closed) per sink, delivered at
// least once and never twice. Undelivered notices wait in a small ledger file (next to the
// store) and are retried next cycle; delivered ones are remembered there, so a restarted
// monitor does not notify again. Sinks: the log, and a Slack-compatible webhook.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AlertSeverity } from "../fleet/alerts";

export type Transition = "opened" | "closed";

export interface AlertNotice {
  /** The alert's stable key (rule + subject). */
  key: string;
  /** The store's id of this alert episode: a later re-open of the same key is a new episode. */
  alertId: string;
  transition: Transition;
  severity: AlertSeverity;
  rule: string;
  message: string;
  stack?: string;
  accountId?: string;
  at: number;
}

/** Dedupe identity: alert key + episode + transition. */
export function noticeId(n: Pick<AlertNotice, "key" | "alertId" | "transition">): string {
  return `${n.key}#${n.alertId}:${n.transition}`;
}

export interface Sink {
  /** Stable name: delivery is remembered per sink. */
  readonly name: string;
  /** Resolves when delivered; rejects when it could not be (after its own retries). */
  send(notice: AlertNotice): Promise<void>;
}

export function noticeText(n: AlertNotice): string {
  const icon = n.transition === "opened" ? (n.severity === "critical" ? ":rotating_light:" : ":warning:") : ":white_check_mark:";
  const what = n.transition === "opened" ? `${n.severity.toUpperCase()} alert opened` : "alert closed";
  return `${icon} [${n.stack ?? "fleet"}] ${what}: ${n.rule} - ${n.message} (${n.key})`;
}

export function logSink(write: (line: string) => void): Sink {
  return {
    name: "log",
    send: async (n) => write(`alert ${n.transition}: ${n.severity} ${n.key} - ${n.message}`),
  };
}

/** Shows a webhook URL without its secret part (the path and query carry the token). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/***`;
  } catch {
    return "***";
  }
}

/** Whether `text` is a usable webhook URL (http or https with a host). */
export function isWebhookUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === "https:" || u.protocol === "http:") && u.host !== "";
  } catch {
    return false;
  }
}

export interface WebhookOptions {
  /** Attempts after the first (default 3). */
  retries?: number;
  /** First backoff; doubles each retry (default 500 ms). */
  backoffMs?: number;
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}

export class WebhookError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
    this.name = "WebhookError";
  }
}

/**
 * POSTs `{"text": ...}`. Retries network errors, timeouts, 429 and 5xx with exponential backoff;
 * any other answer is final. Errors name the host only, never the URL's secret path.
 */
export function webhookSink(url: string, opts: WebhookOptions = {}): Sink {
  const retries = opts.retries ?? 3;
  const backoff = opts.backoffMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const doFetch = opts.fetch ?? fetch;
  const shown = redactUrl(url);
  return {
    name: `webhook:${shown}`,
    async send(n) {
      const body = JSON.stringify({ text: noticeText(n) });
      let last = "";
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await sleep(backoff * 2 ** (attempt - 1));
        try {
          const res = await doFetch(url, { method: "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(timeoutMs) });
          await res.arrayBuffer().catch(() => undefined);
          if (res.ok) return;
          last = `HTTP ${res.status}`;
          if (res.status !== 429 && res.status < 500) throw new WebhookError(`webhook ${shown}: ${last}`, attempt + 1);
        } catch (e) {
          if (e instanceof WebhookError) throw e;
          last = (e as Error).name === "TimeoutError" ? "timed out" : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message);
        }
      }
      throw new WebhookError(`webhook ${shown}: ${last} after ${retries + 1} attempts`, retries + 1);
    },
  };
}

interface LedgerFile {
  version: 1;
  /** noticeId -> sink name -> delivered at. */
  delivered: Record<string, Record<string, number>>;
  /** Notices some sink has not taken yet. */
  pending: AlertNotice[];
}

/** Delivered notices are forgotten after this long (an episode's notices are long done by then). */
const LEDGER_TTL_MS = 30 * 86_400_000;

export interface DeliveryReport {
  delivered: { id: string; sink: string }[];
  failed: { id: string; sink: string; error: string }[];
  pending: number;
}

/**
 * The ledger of notices, persisted with write-to-temp + rename (a crash never leaves half a
 * file). `add` queues a notice unless it was delivered or queued before; `deliver` offers every
 * queued notice to every sink that has not taken it.
 */
export class Notifier {
  private ledger: LedgerFile;

  constructor(
    private readonly file: string | null,
    private readonly sinks: readonly Sink[],
    private readonly now: () => number = Date.now,
  ) {
    this.ledger = file ? readLedger(file) : { version: 1, delivered: {}, pending: [] };
  }

  /** True when this transition was queued or delivered before. */
  known(n: Pick<AlertNotice, "key" | "alertId" | "transition">): boolean {
    const id = noticeId(n);
    return id in this.ledger.delivered || this.ledger.pending.some((p) => noticeId(p) === id);
  }

  add(notices: readonly AlertNotice[]): number {
    let added = 0;
    for (const n of notices) {
      if (this.known(n)) continue;
      this.ledger.pending.push(n);
      added++;
    }
    if (added > 0) this.save();
    return added;
  }

  pendingCount(): number {
    return this.ledger.pending.length;
  }

  async deliver(): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: [], failed: [], pending: 0 };
    const still: AlertNotice[] = [];
    for (const n of this.ledger.pending) {
      const id = noticeId(n);
      const got = (this.ledger.delivered[id] ??= {});
      for (const sink of this.sinks) {
        if (sink.name in got) continue;
        try {
          await sink.send(n);
          got[sink.name] = this.now();
          report.delivered.push({ id, sink: sink.name });
        } catch (e) {
          report.failed.push({ id, sink: sink.name, error: (e as Error).message });
        }
        this.save(); // each delivery is remembered at once: a crash right after never re-sends it
      }
      if (this.sinks.some((s) => !(s.name in got))) still.push(n);
    }
    this.ledger.pending = still;
    this.prune();
    this.save();
    report.pending = still.length;
    return report;
  }

  private prune() {
    const cutoff = this.now() - LEDGER_TTL_MS;
    for (const [id, bySink] of Object.entries(this.ledger.delivered)) {
      const times = Object.values(bySink);
      if (times.length > 0 && Math.max(...times) < cutoff) delete this.ledger.delivered[id];
    }
  }

  private save() {
    if (!this.file) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.ledger), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

function readLedger(file: string): LedgerFile {
  try {
    const raw = JSON.parse(readFileSync(file, "utf8")) as Partial<LedgerFile>;
    if (raw.version === 1 && typeof raw.delivered === "object" && Array.isArray(raw.pending)) return raw as LedgerFile;
  } catch {
    // missing or unreadable: start empty
  }
  return { version: 1, delivered: {}, pending: [] };
}
