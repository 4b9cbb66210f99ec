// The store domain: every state transition of the FleetStore written once, as pure functions
// (no I/O, no Convex server imports; bundled into Convex and run by Node). A transition takes the
// rows it needs (or null) and its input, and returns the rows to write (with counter moves and
// activities), or throws DomainError / RolloutTransitionError. convex/*.ts and store/local.ts only
// read rows, call these, and write what they return.
export * from "./errors";
export * from "./validation";
export * from "./activities";
export * from "./config";
export * from "./lease";
export * from "./alerts";
export * from "./runtimes";
export * from "./rollouts";
export * from "./overview";
export * from "./lifecycle";
