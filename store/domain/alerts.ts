// Alerts: one live (open or acknowledged) alert per key, updated while its condition holds, and
// the live-by-severity counts the overview reads.
import type { AlertInput, AlertRecord, AlertSeverity } from "../types";
import { clean } from "./errors";
import { checkAccountId, checkStackName } from "./validation";

/** An alert row before the store gives it an id. */
export type AlertRow = Omit<AlertRecord, "alertId">;
export interface SeverityDelta {
  severity: AlertSeverity;
  delta: number;
}

/** Opens the alert, or updates the live one with the same key (an acknowledged alert stays acknowledged). */
export function openOrUpdateAlert(live: AlertRow | null, a: AlertInput, now: number): { row: AlertRow; isNew: boolean; severities: SeverityDelta[] } {
  if (a.stack !== undefined) checkStackName("stack", a.stack);
  if (a.accountId !== undefined) checkAccountId("accountId", a.accountId);
  if (live !== null) {
    const row = clean({ ...live, severity: a.severity, message: a.message, details: a.details, updatedAt: now });
    const severities = live.severity === a.severity ? [] : [{ severity: live.severity, delta: -1 }, { severity: a.severity, delta: 1 }];
    return { row, isNew: false, severities };
  }
  return { row: clean({ ...a, status: "open" as const, openedAt: now, updatedAt: now }), isNew: true, severities: [{ severity: a.severity, delta: 1 }] };
}

/** Closes the live alert; null when there is none. */
export function closeAlert(live: AlertRow | null, now: number): { row: AlertRow; severities: SeverityDelta[] } | null {
  if (live === null) return null;
  return { row: { ...live, status: "closed", closedAt: now, updatedAt: now }, severities: [{ severity: live.severity, delta: -1 }] };
}

/** Acknowledges an open alert; null when it is not open (an acknowledged alert stays live: no count moves). */
export function acknowledgeAlert(row: AlertRow | null, by: string, now: number): AlertRow | null {
  if (row === null || row.status !== "open") return null;
  return { ...row, status: "acknowledged", acknowledgedAt: now, acknowledgedBy: by, updatedAt: now };
}
