// Post-deploy hooks on each runtime's deploy command: every `pulumi up`, whoever runs it (the
// orchestrator, a person, CI), records each runtime's result in the store. A store outage never
// fails a deployment and never loses a record: it goes to the durable outbox instead.
import os from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { isReleaseTag } from "../fleet/versions";
import type { FleetStore, UpgradeEvent } from "../store/types";
import { appendToOutbox, flushOutbox } from "../store/outbox";
// Static: a dynamic import() of TypeScript is not resolved where the program runs inline in the
// CLI (tsx's CommonJS loader), only under a language host's ts-node.
import { openStore } from "../store";
import { parseUpgradeResult, type TargetVersions, type UpgradeResult } from "./onhost";

export interface DeployContext {
  stack: string;
  /** Who ran it: FLEET_ACTOR, the CI actor, or user@host. */
  actor: string;
  rolloutId?: string;
  reason?: string;
  /** `rollback` when the orchestrator is restoring previous versions. */
  operation: "upgrade" | "rollback";
  now: () => number;
  /** FLEET_DEBUG: a log line per hook call. */
  debug?: boolean;
}

export interface DeployHookArgs {
  name: string;
  newInputs?: Record<string, unknown>;
  oldInputs?: Record<string, unknown>;
  newOutputs?: Record<string, unknown>;
  /** Error texts, for a failed deploy (newest first). */
  errors?: string[];
}

function versionsFromStdin(stdin: unknown): Partial<TargetVersions> {
  if (typeof stdin !== "string") return {};
  try {
    const v = JSON.parse(stdin) as Partial<TargetVersions>;
    return {
      ...(isReleaseTag(v.openclaw) ? { openclaw: v.openclaw } : {}),
      ...(isReleaseTag(v.runtimeService) ? { runtimeService: v.runtimeService } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * The upgrade record for one hook call, or undefined when there is nothing to record (a noop:
 * the runtime already ran those versions).
 */
export function upgradeEventFor(args: DeployHookArgs, ctx: DeployContext): UpgradeEvent | undefined {
  const accountId = args.name.replace(/-deploy$/, "");
  const failed = args.errors !== undefined;
  const text = failed ? args.errors!.join("\n") : String(args.newOutputs?.stdout ?? "");
  let result: UpgradeResult | undefined = parseUpgradeResult(text);
  // A noop that follows an interrupted run carries that run's result: record it (once, by id).
  if (result?.status === "noop") result = result.last && result.last.status !== "noop" ? result.last : undefined;
  if (!result && !failed) return undefined;
  const before = versionsFromStdin(args.oldInputs?.stdin);
  const after = versionsFromStdin(args.newInputs?.stdin);
  const from = { ...before, ...(result?.from ?? {}) };
  const to = { ...after, ...(result?.to ?? {}) };
  const status = result?.status ?? "failed";
  const recorded = ctx.operation === "rollback" && status === "success" ? "rolled_back" : status;
  const durationMs = result?.durationMs ?? 0;
  const completedAt = result?.completedAt ?? ctx.now();
  const error = result?.error ?? (failed ? describeDeployFailure(args.errors!).error : undefined);
  return {
    eventId: result?.id ?? `${ctx.stack}:${accountId}:${to.openclaw ?? "?"}:${completedAt}`,
    stack: ctx.stack,
    accountId,
    ...(ctx.rolloutId ? { rolloutId: ctx.rolloutId } : {}),
    fromOpenclaw: from.openclaw ?? "unknown",
    toOpenclaw: to.openclaw ?? "unknown",
    fromRuntimeService: from.runtimeService ?? "unknown",
    toRuntimeService: to.runtimeService ?? "unknown",
    status: recorded,
    startedAt: completedAt - durationMs,
    completedAt,
    durationMs,
    ...(error ? { error: error.slice(0, 2000) } : {}),
    initiatedBy: ctx.actor,
    ...(ctx.reason ? { reason: ctx.reason } : {}),
    executor: "pulumi",
  };
}

/** The command provider's dial failure (upstream wording): "failed to dial ADDR: ...". */
const DIAL_FAILURE = /failed to dial (\S+?): (?:after (\d+) failed attempts: )?(.*)$/m;

export interface DeployFailure {
  /** One line naming the cause: the on-host script's own error, or "unreachable" with the address. */
  error: string;
  /** The on-host script reported that it restored the previous versions itself. */
  rolledBackOnHost: boolean;
  /** The host was never reached, so nothing on it changed. */
  unreachable: boolean;
  /**
   * The on-host script's result line was among the errors. A reached host without one lost the
   * connection mid-run: what the host did is unknown here, and it finishes or restores by itself.
   */
  answered: boolean;
}

/** Why a deploy failed, from the engine's error texts for one runtime (newest first or last). */
export function describeDeployFailure(errors: readonly string[]): DeployFailure {
  const text = errors.join("\n");
  const result = parseUpgradeResult(text);
  if (result?.error) return { error: result.error, rolledBackOnHost: result.status === "rolled_back", unreachable: false, answered: true };
  const dial = DIAL_FAILURE.exec(text);
  if (dial) {
    const [, address, attempts, rest] = dial;
    const cause = (rest ?? "").replace(/^dial tcp \S+: /, "").trim();
    return {
      error: `unreachable: no SSH connection to ${address}${attempts ? ` after ${attempts} attempts` : ""}${cause ? ` (${cause})` : ""}`,
      rolledBackOnHost: false,
      unreachable: true,
      answered: false,
    };
  }
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .slice(-1)[0];
  return { error: line?.slice(0, 300) ?? "deploy failed", rolledBackOnHost: result?.status === "rolled_back", unreachable: false, answered: result !== undefined };
}

export interface Recorder {
  record(event: UpgradeEvent): Promise<void>;
  /** Closes the store it opened, if any (a program run in a long-lived process ends its run with it). */
  close?(): Promise<void>;
}

/** Records through the store; on any store failure the record goes to the outbox. */
export function storeRecorder(openStore: () => Promise<FleetStore>, outboxDir: string): Recorder {
  let store: Promise<FleetStore> | undefined;
  return {
    async record(event) {
      try {
        store ??= openStore();
        const s = await store;
        await flushOutbox(outboxDir, s);
        await s.recordUpgrade(event);
      } catch (err) {
        store = undefined;
        appendToOutbox(outboxDir, event);
        pulumi.log.warn(`fleet: store unavailable (${err instanceof Error ? err.message : String(err)}); ${event.accountId}'s record kept in ${outboxDir}`);
      }
    },
    async close() {
      const opened = store;
      store = undefined;
      if (opened) await (await opened.catch(() => undefined))?.close();
    },
  };
}

export function deployHooks(ctx: DeployContext, recorder: Recorder): pulumi.ResourceHookBinding {
  const record = async (args: DeployHookArgs) => {
    if (ctx.debug) pulumi.log.info(`fleet: hook for ${args.name}`);
    try {
      const event = upgradeEventFor(args, ctx);
      if (event) await recorder.record(event);
    } catch (err) {
      // Recording must never fail a deployment.
      pulumi.log.warn(`fleet: could not record ${args.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const after = new pulumi.ResourceHook("fleet-record-deploy", (args) => record(args));
  const onError = new pulumi.ErrorHook("fleet-record-deploy-failure", async (args) => {
    await record({ ...args, errors: args.errors });
    return false; // the on-host script already restored the host: never retry a deploy blindly
  });
  return { afterCreate: [after], afterUpdate: [after], onError: [onError] };
}

export function actorFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FLEET_ACTOR) return env.FLEET_ACTOR;
  if (env.GITHUB_ACTIONS === "true" && env.GITHUB_ACTOR) return `github:${env.GITHUB_ACTOR}`;
  return `${env.USER ?? os.userInfo().username}@${os.hostname()}`;
}

/**
 * The hooks for this program run, recording into the store the environment points at. `onEnd`
 * gets what closes that store once the run is over (a program run inside a long-lived process).
 */
export function deployHooksFromEnv(stack: string, env: NodeJS.ProcessEnv = process.env, onEnd?: (close: () => Promise<void>) => void): pulumi.ResourceHookBinding {
  const storePath = env.FLEET_STORE_PATH ?? path.join(process.cwd(), ".fleet", "store.db");
  const outboxDir = path.join(path.dirname(storePath), "outbox");
  const ctx: DeployContext = {
    stack,
    actor: actorFromEnv(env),
    operation: env.FLEET_OPERATION === "rollback" ? "rollback" : "upgrade",
    now: () => Date.now(),
    ...(env.FLEET_ROLLOUT_ID ? { rolloutId: env.FLEET_ROLLOUT_ID } : {}),
    ...(env.FLEET_REASON ? { reason: env.FLEET_REASON } : {}),
    ...(env.FLEET_DEBUG ? { debug: true } : {}),
  };
  const open = async () => openStore({ localPath: storePath, env });
  const recorder = storeRecorder(open, outboxDir);
  onEnd?.(() => recorder.close?.() ?? Promise.resolve());
  return deployHooks(ctx, recorder);
}
