// The one error shape every HTTP server of the fleet answers with (the dashboard, the embedded
// events endpoint, the Convex deployment's HTTP action): `{ ok: false, error, kind }`. A client
// branches on `kind`, reads `error` (one line). Defined here because it crosses a boundary.

/** What went wrong, for a client that branches on it (the CLI's `--json` errors use the same words). */
export type ErrorKind = "bad-input" | "unauthorized" | "forbidden" | "not-found" | "not-allowed" | "conflict" | "too-large" | "misdirected" | "unavailable" | "failed";

export interface ErrorBody extends Record<string, unknown> {
  ok: false;
  error: string;
  kind: ErrorKind;
}

const KIND_BY_STATUS: Partial<Record<number, ErrorKind>> = {
  400: "bad-input",
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  405: "not-allowed",
  409: "conflict",
  413: "too-large",
  415: "bad-input",
  421: "misdirected",
  503: "unavailable",
};

export function errorKind(status: number): ErrorKind {
  return KIND_BY_STATUS[status] ?? (status >= 500 ? "failed" : "bad-input");
}

/** The store's error kinds (store/local.ts StoreError, the domain's DomainError, Convex's ConvexError code). */
export type StoreErrorKind = "invalid" | "not_found" | "transition" | "io";

/**
 * What a store error answers over HTTP, on every server: a refused input 400, a missing record
 * 404, an illegal transition 409, a store that cannot be read or written 503 (its message names the file).
 */
export const STATUS_FOR_STORE_ERROR = { invalid: 400, not_found: 404, transition: 409, io: 503 } as const satisfies Record<StoreErrorKind, number>;

export function isStoreErrorKind(value: unknown): value is StoreErrorKind {
  return typeof value === "string" && Object.hasOwn(STATUS_FOR_STORE_ERROR, value);
}

/** What an unexpected error answers: its detail goes to the server's log only, never to the caller. */
export const INTERNAL_ERROR = "internal error";

export function errorBody(status: number, error: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { ok: false, error, kind: errorKind(status), ...extra };
}
