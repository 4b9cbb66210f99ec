// Post-deploy hooks: bound to each runtime's deploy command. The recorder lands with rollouts;
// until a store is configured for the run, no hooks are bound.
import type * as pulumi from "@pulumi/pulumi";

export function deployHooksFromEnv(_stack: string): pulumi.ResourceHookBinding | undefined {
  return undefined;
}
