// Types of workload.mjs for the TypeScript that imports it (the benchmark and the tests).
export interface HostProfile {
  seed: number;
  requestsPerSecond: number;
  errorRate: number;
  latencyMedianMs: number;
  latencySigma: number;
  notificationsPerSecond: number;
  notificationFailureRate: number;
}
export interface Shift {
  errors?: number;
  latencyMs?: number;
  noisy?: boolean;
}
export interface Second {
  requests: number;
  errors: number;
  buckets: number[];
  latencySum: number;
  delivered: number;
  failed: number;
}
export type Totals = Second;
export const LATENCY_BUCKETS: number[];
export function hashString(text: string): number;
export function rng(seed: number): () => number;
export function hostProfile(name: string): HostProfile;
export function fleetLoad(second: number): { traffic: number; errorFactor: number; latencyFactor: number };
export function simulateSecond(profile: HostProfile, second: number, shift?: Shift): Second;
export function createCounters(profile: HostProfile, startSecond: number): { totals: Totals; advance(nowSecond: number, shift?: Shift): Totals };
export function metricsText(totals: Totals, info: { restarts: number; healthy: boolean; startSeconds: number }): string;
export function shiftFor(faults: Record<string, unknown>, versionKey: string): Required<Shift>;
