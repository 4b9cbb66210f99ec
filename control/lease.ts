// The stack's lease as an orchestrator (or a manual rollback) holds it: taken with a length
// (FLEET_LEASE_SECONDS, default 60), renewed by a heartbeat every third of it, released at the
// end. The store gives each new holder the next generation; a heartbeat refused, or a rollout
// write refused for an older generation, means a successor took over: this holder stops.
import os from "node:os";
import { leaseExpired } from "../store/domain/lease";
import type { FleetStore, LockHolder } from "../store/types";
import { OperationError, UsageError } from "./errors";

export const DEFAULT_LEASE_SECONDS = 60;

/** FLEET_LEASE_SECONDS (1..86400), else the default; a bad value is bad input, named. */
export function leaseSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FLEET_LEASE_SECONDS;
  if (raw === undefined || raw === "") return DEFAULT_LEASE_SECONDS;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(n >= 1 && n <= 86_400)) {
    throw new UsageError(`FLEET_LEASE_SECONDS: ${JSON.stringify(raw)} is not a lease length (expected seconds from 1 to 86400)`);
  }
  return n;
}

export type HolderId = Pick<LockHolder, "pid" | "host" | "user">;

export function currentHolder(): HolderId {
  return { pid: process.pid, host: os.hostname(), user: os.userInfo().username };
}

/** Who holds the stack's lease and since when, as every refusal says it. */
export function heldBy(stack: string, h: LockHolder): string {
  const until = h.expiresAt !== undefined ? `, lease until ${new Date(h.expiresAt).toISOString()}` : "";
  return `stack ${stack} is held by ${h.user}@${h.host} (pid ${h.pid}${h.rolloutId ? `, rollout ${h.rolloutId}` : ""}${h.generation !== undefined ? `, generation ${h.generation}` : ""}) since ${new Date(h.startedAt).toISOString()}${until}`;
}

/**
 * Whether `fleet rollout resume` may take the stack's lease from `h`: without flags when its
 * holder is provably gone (this host, its pid not alive) or its lease expired; a holder on another
 * host whose lease still runs only with --break-lock (a person who knows it is gone); a live holder
 * on this host never. `take: false` carries the refusal's one line.
 */
export function takeover(
  stack: string,
  h: LockHolder,
  at: { host: string; alive: (pid: number) => boolean; now: number; breakLock: boolean; rolloutId: string },
): { take: true; why: string } | { take: false; refusal: string } {
  const here = h.host === at.host;
  if (here && !at.alive(h.pid)) return { take: true, why: "its process is gone" };
  if (leaseExpired(h, at.now)) return { take: true, why: `its lease expired at ${new Date(h.expiresAt!).toISOString()}` };
  if (here) return { take: false, refusal: `${heldBy(stack, h)}: it is still running` };
  if (at.breakLock) return { take: true, why: "--break-lock" };
  return { take: false, refusal: `${heldBy(stack, h)}: it runs on another host and its lease has not expired; if it is gone, take over with \`fleet rollout resume ${at.rolloutId} --break-lock\`` };
}

/** A successor holds the lease: this orchestrator stops, touching nothing more (exit 1, one line). */
export class LeaseLostError extends OperationError {
  constructor(stack: string, mine: LockHolder, successor: LockHolder | null | undefined) {
    const by = successor ? ` to generation ${successor.generation ?? 0} (${successor.user}@${successor.host}, pid ${successor.pid})` : " by a newer generation";
    super(`the lease of stack ${stack} (generation ${mine.generation ?? 0}, pid ${mine.pid}${mine.rolloutId ? `, rollout ${mine.rolloutId}` : ""}) was taken over${by}: this orchestrator stopped and touched no host after that`);
    this.name = "LeaseLostError";
  }
}

export class Lease {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lostTo: LockHolder | null | undefined;
  private lost = false;
  private released = false;

  private constructor(
    private readonly store: FleetStore,
    readonly stack: string,
    readonly holder: LockHolder,
  ) {}

  /** Takes the stack's lease (refused: OperationError naming the holder) and starts its heartbeat. */
  static async take(store: FleetStore, stack: string, who: HolderId, opts: { rolloutId?: string; seconds: number; now: number }): Promise<Lease> {
    const want: LockHolder = { ...who, startedAt: opts.now, leaseSeconds: opts.seconds, ...(opts.rolloutId ? { rolloutId: opts.rolloutId } : {}) };
    const got = await store.acquireLock(stack, want);
    if (!got.ok) throw new OperationError(got.holder ? heldBy(stack, got.holder) : `stack ${stack}: the lease could not be taken`);
    const lease = new Lease(store, stack, got.holder);
    lease.beat(opts.seconds);
    return lease;
  }

  get generation(): number {
    return this.holder.generation ?? 0;
  }

  /** Renews every third of the lease; a refusal marks it lost (a store outage does not: the fence decides then). */
  private beat(seconds: number) {
    this.timer = setInterval(() => {
      void this.renew().catch(() => undefined);
    }, (seconds * 1000) / 3);
    this.timer.unref();
  }

  async renew(): Promise<boolean> {
    if (this.lost || this.released) return !this.lost;
    const r = await this.store.acquireLock(this.stack, { ...this.holder });
    if (!r.ok) this.markLost(r.holder);
    return r.ok;
  }

  markLost(successor: LockHolder | null | undefined) {
    this.lost = true;
    this.lostTo = successor;
    this.stopBeating();
  }

  /** Throws LeaseLostError once a successor holds the lease. */
  check(): void {
    if (this.lost) throw new LeaseLostError(this.stack, this.holder, this.lostTo);
  }

  get isLost(): boolean {
    return this.lost;
  }

  /**
   * After a refused write: whether it was refused because a newer generation holds the stack
   * (then this lease is lost and LeaseLostError says so), else the write's own error stands.
   */
  async explain(err: unknown): Promise<never> {
    const now = await this.store.getLock(this.stack).catch(() => undefined);
    const superseded = /stale write/.test(err instanceof Error ? err.message : String(err)) || (now !== undefined && (now?.generation ?? 0) > this.generation);
    if (superseded) {
      this.markLost(now);
      throw new LeaseLostError(this.stack, this.holder, now);
    }
    throw err;
  }

  private stopBeating() {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Releases once; a lost lease is not ours to release. */
  async release(): Promise<void> {
    this.stopBeating();
    if (this.released || this.lost) return;
    this.released = true;
    await this.store.releaseLock(this.stack, this.holder);
  }
}
