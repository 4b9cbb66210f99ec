// The store domain's one error: a transition refused, with a message naming the field, the value
// and what was expected. Each adapter maps it to its own (StoreError locally, ConvexError in
// Convex) without changing the message, so both stores refuse alike.
export type DomainErrorKind = "invalid" | "not_found" | "transition";

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export function invalid(message: string): never {
  throw new DomainError("invalid", message);
}

export function notFound(message: string): never {
  throw new DomainError("not_found", message);
}

/** A refused transition other than the lifecycle's (a stale orchestrator's write): 409 on every server. */
export function conflict(message: string): never {
  throw new DomainError("transition", message);
}

/** Drops undefined fields: both stores write rows without them (Convex refuses explicit undefined). */
export function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
