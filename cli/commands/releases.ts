// `fleet releases` (what the release source offers, the latest marked) and `fleet promote`
// (a stack's release into another stack's config, once every runtime of the first runs it healthy).
import type { Command } from "commander";
import { parseFleetConfig, type FleetConfig, type Release } from "../../fleet/config";
import { isStackName } from "../../fleet/ids";
import { isDowngrade } from "../../fleet/versions";
import type { CommandContext, Run } from "../cli";
import { loadFleetFile, openFleetStore, probe, stackContext } from "../../control/context";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../../control/errors";
import { observationOf } from "../../control/orchestrator";
import {
  lsRemoteTags,
  openclawReleases,
  promotionProblems,
  releaseList,
  runtimeServiceReleases,
  RUNTIME_SERVICE_TAG_PREFIX,
  setStackRelease,
  stackConfigText,
  type RuntimeEvidence,
} from "../../control/releases";
import { atomicWrite, readStackConfig, stackConfigPath } from "../../control/stackConfig";
import { printable } from "../text";
import { isOnTarget } from "../../fleet/health";


export function registerReleases(program: Command, run: Run): void {
  program
    .command("releases")
    .description(
      `list openclaw and runtime service releases from fleet:releaseSource (git tags; runtime service: ` +
        `fleet:releaseSource.runtimeService, else ${RUNTIME_SERVICE_TAG_PREFIX}vX.Y.Z tags), the latest marked`,
    )
    .action(async (_opts: unknown, cmd: Command) => run((ctx) => releasesCommand(ctx), cmd));
  program
    .command("promote")
    .description("set --to's fleet:release to --from's, once every --from runtime runs it and is healthy")
    .requiredOption("--from <stack>", "the stack whose release is proven (e.g. staging)")
    .requiredOption("--to <stack>", "the stack to promote it to (e.g. prod)")
    .option("--allow-downgrade", "consent to a release older than --to's current one")
    .action(async (opts: PromoteOptions, cmd: Command) => run((ctx) => promoteCommand(ctx, opts), cmd));
}

async function releasesCommand(ctx: CommandContext): Promise<number> {
  const sc = await stackContext(ctx);
  const fleet = sc.loadFleet();
  const source = fleet.releaseSource;
  if (!source) {
    throw new UsageError(`${sc.configFile}: fleet:releaseSource.openclaw: missing (the git remote holding the release tags)`);
  }
  const openclawTags = await lsRemoteTags(source.openclaw, "fleet:releaseSource.openclaw");
  const rsRemote = source.runtimeService;
  const rsTags = rsRemote !== undefined ? await lsRemoteTags(rsRemote, "fleet:releaseSource.runtimeService") : openclawTags;
  const openclaw = releaseList(source.openclaw, openclawReleases(openclawTags));
  const runtimeService = {
    ...releaseList(rsRemote ?? source.openclaw, runtimeServiceReleases(rsTags, rsRemote !== undefined)),
    convention: rsRemote !== undefined ? "vX.Y.Z tags of fleet:releaseSource.runtimeService" : `${RUNTIME_SERVICE_TAG_PREFIX}vX.Y.Z tags of fleet:releaseSource.openclaw`,
  };
  if (ctx.out.json) {
    ctx.out.emit({ stack: sc.stack, current: fleet.release, openclaw, runtimeService });
    return EXIT_OK;
  }
  const lines: string[] = [];
  const section = (title: string, list: { source: string; releases: string[]; latest?: string }, current: string) => {
    lines.push(`${title} (${printable(list.source)}): ${list.releases.length} release${list.releases.length === 1 ? "" : "s"}`);
    if (list.releases.length === 0) lines.push("  none");
    for (const r of [...list.releases].reverse()) {
      const marks = [r === list.latest ? "latest" : "", r === current ? `current release of ${sc.stack}` : ""].filter(Boolean);
      lines.push(`  ${r}${marks.length > 0 ? `  (${marks.join(", ")})` : ""}`);
    }
  };
  section("openclaw", openclaw, fleet.release.openclaw);
  section(`runtime service, ${runtimeService.convention}`, runtimeService, fleet.release.runtimeService);
  ctx.out.say(lines.join("\n"));
  return EXIT_OK;
}

interface PromoteOptions {
  from: string;
  to: string;
  allowDowngrade?: boolean;
}

function loadStack(ctx: CommandContext, stack: string, option: string): { file: string; fleet: FleetConfig } {
  if (!isStackName(stack)) throw new UsageError(`${option}: ${JSON.stringify(stack)} is not a stack name (letters, digits, '.', '_' or '-')`);
  const file = stackConfigPath(ctx.projectDir, stack);
  return { file, fleet: loadFleetFile(file, `${option}: `) };
}

async function promoteCommand(ctx: CommandContext, opts: PromoteOptions): Promise<number> {
  if (opts.from === opts.to) throw new UsageError(`--to: ${JSON.stringify(opts.to)} is the same stack as --from (expected another stack)`);
  const from = loadStack(ctx, opts.from, "--from");
  const to = loadStack(ctx, opts.to, "--to");
  const release: Release = from.fleet.release;
  const previous = to.fleet.release;
  const summary = { from: opts.from, to: opts.to, release, previous };

  if (isOnTarget(previous, release)) {
    if (ctx.out.json) ctx.out.emit({ ok: true, changed: false, ...summary, problems: [] });
    else ctx.out.say(`${opts.to} is already on ${release.openclaw} / ${release.runtimeService}: nothing to promote`);
    return EXIT_OK;
  }
  const downgrade = isDowngrade(previous.openclaw, release.openclaw) || isDowngrade(previous.runtimeService, release.runtimeService);
  if (downgrade && !opts.allowDowngrade) {
    throw new UsageError(
      `--from: ${opts.from}'s release ${release.openclaw}/${release.runtimeService} is older than ${opts.to}'s ${previous.openclaw}/${previous.runtimeService}; pass --allow-downgrade to consent`,
    );
  }

  const store = await openFleetStore(ctx.projectDir);
  let problems: string[];
  try {
    const active = await store.activeRollout(opts.from);
    const records = new Map((await store.listRuntimes({ stack: opts.from })).map((r) => [r.accountId, r]));
    const targets = from.fleet.runtimes.filter((r) => r.host !== undefined || records.get(r.accountId)?.ipAddress);
    const probes = new Map(
      (await probe(targets.map((r) => ({ accountId: r.accountId, address: r.host ?? records.get(r.accountId)!.ipAddress, port: r.healthPort })))).map((p) => [p.accountId, p]),
    );
    const evidence: RuntimeEvidence[] = from.fleet.runtimes.map((r) => {
      const record = records.get(r.accountId);
      const p = probes.get(r.accountId);
      return {
        accountId: r.accountId,
        configured: { openclaw: r.openclaw, runtimeService: r.runtimeService },
        ...(r.pin !== undefined ? { pin: r.pin } : {}),
        ...(record ? { observed: { openclaw: record.openclawVersion, runtimeService: record.runtimeServiceVersion, status: record.status } } : {}),
        ...(p ? { probe: p } : {}),
      };
    });
    problems = [
      ...(active ? [`${opts.from} has a rollout in progress (${active.rolloutId}, ${active.status}): wait for it to finish`] : []),
      ...promotionProblems(opts.from, release, evidence),
    ];
    // What the probe saw is an observation like `fleet health`'s, recorded after the check; the store
    // only takes a runtime it has never seen with its versions, and recording never decides the outcome.
    const observations = [...probes.values()]
      .filter((p) => records.has(p.accountId) || (p.version?.openclaw && p.version.runtimeService))
      .map((p) => observationOf(opts.from, p));
    await store.upsertRuntimes(observations).catch((err: unknown) => ctx.out.warn(`fleet: could not record the probes: ${(err as Error).message}`));
  } finally {
    await store.close();
  }

  if (problems.length === 0) {
    // The new config must still be valid for the target (its own minimum supported release etc.).
    const loaded = readStackConfig(to.file);
    setStackRelease(loaded.document, release, to.file);
    const text = stackConfigText(loaded.document);
    const check = parseFleetConfig(((loaded.document.toJS() as { config?: Record<string, unknown> }).config ?? {}));
    if (!check.ok) problems.push(...check.errors.map((e) => `${opts.to}: ${e.path}: ${e.message}`));
    else atomicWrite(to.file, text);
  }

  if (problems.length > 0) {
    if (ctx.out.json) ctx.out.emit({ ok: false, changed: false, ...summary, problems });
    else ctx.out.warn(`fleet: refusing to promote ${release.openclaw}/${release.runtimeService} from ${opts.from} to ${opts.to}:\n${problems.map((p) => `  - ${printable(p)}`).join("\n")}`);
    return EXIT_FAILED;
  }
  if (ctx.out.json) ctx.out.emit({ ok: true, changed: true, ...summary, problems: [], file: to.file });
  else
    ctx.out.say(
      `promoted ${release.openclaw}/${release.runtimeService} from ${opts.from} to ${opts.to} (was ${previous.openclaw}/${previous.runtimeService}) in ${to.file}\n` +
        `next: fleet rollout --stack ${opts.to} --to ${release.openclaw}`,
    );
  return EXIT_OK;
}
