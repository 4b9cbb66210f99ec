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

export function errorBody(status: number, error: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { ok: false, error, kind: errorKind(status), ...extra };
}
