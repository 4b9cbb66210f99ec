// Where a runtime answers: its configured `host`, else the address its droplet was given (the
// stack's `fleetRuntimes` output, written by components/program.ts). The one rule the rollout's
// probes, its canary analysis and `fleet monitor` read addresses by.

/** The stack's outputs as the engine reads them (`pulumi stack output`); null or undefined when unavailable. */
export type StackOutputs = Readonly<Record<string, unknown>> | null | undefined;

/** A droplet's address as the stack's outputs hold it: a non-empty string, else undefined. */
export function addressFromOutputs(outputs: StackOutputs, accountId: string): string | undefined {
  const runtimes = outputs?.fleetRuntimes;
  if (typeof runtimes !== "object" || runtimes === null || !Object.hasOwn(runtimes, accountId)) return undefined;
  const entry = (runtimes as Record<string, unknown>)[accountId];
  const address = typeof entry === "object" && entry !== null ? (entry as { address?: unknown }).address : undefined;
  return typeof address === "string" && address !== "" ? address : undefined;
}

/** Whether any of these runtimes needs the stack's outputs for its address (one without `host`). */
export function needsStackOutputs(runtimes: ReadonlyArray<{ host?: string | undefined }>): boolean {
  return runtimes.some((r) => !r.host);
}

/** A runtime's address: its `host`, else its droplet's from the stack's outputs, else undefined. */
export function runtimeAddress(runtime: { accountId: string; host?: string | undefined }, outputs: StackOutputs): string | undefined {
  return runtime.host || addressFromOutputs(outputs, runtime.accountId);
}

/** Where to probe each runtime with a known address: its address and health port (runtimes without one are left out). */
export function probeTargets(
  runtimes: ReadonlyArray<{ accountId: string; host?: string | undefined; healthPort: number }>,
  outputs: StackOutputs,
): Array<{ accountId: string; address: string; port: number }> {
  return runtimes.flatMap((r) => {
    const address = runtimeAddress(r, outputs);
    return address === undefined ? [] : [{ accountId: r.accountId, address, port: r.healthPort }];
  });
}
