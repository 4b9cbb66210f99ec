import { cronJobs } from "convex/server";
import { internal } from "./_generated/api";

const crons = cronJobs();

// Alert rules (fleet/alerts.ts) over every runtime: the first page runs here, later pages chain.
crons.interval("evaluate runtime alerts", { minutes: 1 }, internal.alerts.evaluateRuntimes, { cursor: null });
crons.interval("evaluate rollout alerts", { minutes: 5 }, internal.alerts.evaluateRolloutAlerts, {});
// Replay nonces older than the accepted skew can never match again; processed event ids are kept a week.
crons.interval("purge replay nonces and old event ids", { minutes: 10 }, internal.http.purge, {});

export default crons;
