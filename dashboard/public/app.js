/* global FormData, confirm */
// The dashboard's pages: Runtime Management (/), a runtime (/runtimes/:id), a rollout
// (/rollouts/:id) and the upgrade history (/history). Plain ES module, no build step.
import { ago, api, ApiError, badge, bars, duration, h, setCsrf, table, timeline, when } from "./ui.js";
import { analysisSection } from "./analysis.js";

const main = document.getElementById("main");
const TERMINAL = ["completed", "halted", "aborted", "failed"];
let pollTimer = null;

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 6000);
}

function errorBox(err, retry) {
  const msg = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  const title = err instanceof ApiError && err.status === 503 ? "The fleet store is unavailable" : err instanceof ApiError && err.status === 401 ? "Signed out" : "Something went wrong";
  return h("div", { class: "alert error", role: "alert" }, h("strong", {}, title, ": "), msg, retry ? [" ", h("button", { type: "button", onclick: retry }, "Retry")] : null);
}

function render(...nodes) {
  main.replaceChildren(...nodes.flat());
  main.setAttribute("aria-busy", "false");
}

function markNav(which) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === which) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function boot() {
  try {
    const session = await api("/api/session");
    setCsrf(session.csrf);
    document.getElementById("who").textContent = `${session.user} · stack ${session.stack}`;
  } catch (err) {
    render(h("h1", {}, "Fleet dashboard"), errorBox(err, () => location.reload()));
    return;
  }
  const path = location.pathname;
  let m;
  if (path === "/") return homePage();
  if (path === "/history") return historyPage();
  if ((m = /^\/runtimes\/([^/]+)$/.exec(path))) return runtimePage(decodeURIComponent(m[1]));
  if ((m = /^\/rollouts\/([^/]+)$/.exec(path))) return rolloutPage(decodeURIComponent(m[1]));
  render(h("h1", {}, "Not found"));
}

// Runtime Management ------------------------------------------------------------------------

async function homePage(lastRolloutId = null) {
  markNav("home");
  document.title = "Runtime Management · Fleet dashboard";
  let data;
  try {
    data = await api("/api/overview");
  } catch (err) {
    render(h("p", { class: "crumb" }, "System ›"), h("h1", {}, "Runtime Management"), errorBox(err, () => homePage(lastRolloutId)));
    return;
  }
  const livePanel = h("div", { id: "rollout-live" });
  // The read-only tables, replaced in place while a rollout runs (the form keeps what was typed,
  // the version card its Check for Updates message).
  const sections = (d) => ({ overview: overviewSection(d, d.overview), runtimes: runtimesSection(d), recent: recentSection(d.overview.recentRollouts) });
  let shownSections = sections(data);
  render(
    h("p", { class: "crumb" }, "System ›"),
    h("h1", {}, "Runtime Management"),
    versionStatus(data),
    shownSections.overview,
    livePanel,
    upgradeForm(data, livePanel, (rolloutId) => watch(rolloutId)),
    shownSections.runtimes,
    shownSections.recent,
  );
  let reading = false;
  const refreshOverview = async () => {
    if (reading) return; // one read at a time; the next tick catches up
    reading = true;
    try {
      const next = sections(await api("/api/overview"));
      for (const key of Object.keys(next)) {
        if (shownSections[key].isConnected) shownSections[key].replaceWith(next[key]);
      }
      shownSections = next;
    } catch {
      // the rollout panel shows the error; the last overview stays
    } finally {
      reading = false;
    }
  };
  // While a rollout runs the overview follows it (every 2 s); when it ends the whole page is read again.
  const shown = data.activeRollout?.rolloutId ?? lastRolloutId;
  let lastRead = Date.now();
  const onTick = () => {
    if (Date.now() - lastRead < 2000) return;
    lastRead = Date.now();
    refreshOverview();
  };
  const watch = (rolloutId) => watchRollout(rolloutId, livePanel, { onEnd: () => homePage(rolloutId), onTick });
  if (shown) watch(shown);
}

function versionStatus(data) {
  const msg = h("div", { "aria-live": "polite", id: "check-message" });
  const button = h("button", { type: "button", id: "check-updates" }, "Check for Updates");
  button.addEventListener("click", async () => {
    button.disabled = true;
    msg.replaceChildren(h("p", { class: "note" }, "Reading release tags…"));
    try {
      const r = await api("/api/releases/check", { method: "POST", body: {} });
      toast(`Latest release: ${r.latest ?? "none found"}`);
      await homePage();
    } catch (err) {
      msg.replaceChildren(errorBox(err));
      button.disabled = false;
    }
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "h-version" },
    h("h2", { id: "h-version" }, "Version Status"),
    table(
      "Version status per component",
      [{ label: "Component" }, { label: "Current" }, { label: "Latest" }, { label: "Status" }],
      data.versionStatus.map((c) => [
        c.name,
        c.current ?? "–",
        c.latest ?? "unknown",
        c.latest === null ? h("span", { class: "note" }, "not checked yet") : c.updateAvailable ? badge("⚠ Update available", "warn") : badge("✓ Up to date", "ok"),
      ]),
      { rowHeader: true },
    ),
    h("div", { class: "actions" }, data.latestCheckedAt ? h("span", { class: "note" }, "checked ", when(data.latestCheckedAt)) : null, button),
    msg,
  );
}

// A coloured dot beside the status word (the word carries the meaning; the dot is decoration).
const dot = (status) => h("span", { class: `dot ${status}`, "aria-hidden": "true" });

function overviewSection(data, o) {
  const content =
    o.total === 0
      ? [h("div", { class: "empty" }, `No runtimes observed yet on stack ${data.stack} (${data.configured} configured). They appear after a deploy, a rollout or \`fleet health\`.`)]
      : [
          h("h3", {}, "By Status"),
          bars(
            "Runtimes by status",
            o.byStatus
              .filter((r) => r.count > 0 || ["online", "degraded", "offline", "upgrading"].includes(r.status))
              .map((r) => ({ key: r.status, label: [dot(r.status), `${r.status[0].toUpperCase()}${r.status.slice(1)}`], count: r.count, percent: r.percent, cls: r.status })),
          ),
          h("h3", {}, "By OpenClaw Version"),
          bars(
            "Runtimes by OpenClaw version",
            o.byOpenclawVersion.map((r) => ({ key: r.label, label: r.label, count: r.count, percent: r.percent, cls: r.belowMinimum ? "below" : "", flag: r.belowMinimum ? `below minimum supported (${o.minSupportedOpenclaw ?? data.policy.minSupportedOpenclaw})` : null })),
          ),
        ];
  return h(
    "section",
    { class: "card", "aria-labelledby": "h-overview" },
    h("h2", { id: "h-overview" }, "Fleet Overview"),
    h("p", {}, "Total Runtimes: ", h("span", { class: "total", id: "total" }, String(o.total))),
    content,
  );
}

function upgradeForm(data, livePanel, watch) {
  const p = data.policy;
  const select = h("select", { id: "target", name: "to", required: true }, h("option", { value: "" }, "Loading releases…"));
  const message = h("div", { id: "form-message", "aria-live": "polite" });
  const planBox = h("div", { id: "plan", class: "plan", "aria-live": "polite" });
  let previewed = null;
  const radio = (value, label, note) =>
    h("label", {}, h("input", { type: "radio", name: "strategy", value, checked: value === p.strategy }), ` ${label}`, note ? h("span", { class: "note" }, ` — ${note}`) : null);
  const check = (name, label, checked) => h("label", {}, h("input", { type: "checkbox", name, checked }), ` ${label}`);
  const form = h(
    "form",
    { id: "upgrade-form", novalidate: true },
    h("label", { for: "target" }, h("strong", {}, "Target Version")),
    select,
    h(
      "fieldset",
      {},
      h("legend", {}, "Strategy"),
      radio("rolling", `Rolling (${p.batchPercent}% batches, ${p.waitSeconds}s between)`),
      radio("canary", "Canary (the canary runtimes first, then roll out)"),
      radio("immediate", "Immediate (all at once)", "not recommended"),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Options"),
      check("autoRollback", "Auto-rollback on failure", p.autoRollback),
      check("pauseOnFailure", `Pause on >${p.pauseOnFailurePercent}% failure rate`, true),
      check("skipUpgraded", "Skip already-upgraded runtimes", false),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", id: "preview-plan" }, "Preview Upgrade Plan"),
      h("button", { type: "submit", id: "start-upgrade", class: "primary" }, "Start Upgrade"),
    ),
    message,
    planBox,
  );
  const values = () => {
    const fd = new FormData(form);
    return {
      to: select.value,
      strategy: String(fd.get("strategy") ?? ""),
      autoRollback: fd.get("autoRollback") !== null,
      pauseOnFailure: fd.get("pauseOnFailure") !== null,
      skipUpgraded: fd.get("skipUpgraded") !== null,
    };
  };
  form.addEventListener("change", () => {
    previewed = null;
  });
  form.querySelector("#preview-plan").addEventListener("click", async () => {
    message.replaceChildren(h("p", { class: "note" }, "Planning…"));
    try {
      const plan = await api("/api/plan", { method: "POST", body: values() });
      previewed = plan;
      message.replaceChildren();
      planBox.replaceChildren(planView(plan));
    } catch (err) {
      planBox.replaceChildren();
      message.replaceChildren(errorBox(err));
    }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const startBtn = form.querySelector("#start-upgrade");
    startBtn.disabled = true;
    message.replaceChildren(h("p", { class: "note" }, "Starting…"));
    try {
      const body = { ...values(), ...(previewed ? { configHash: previewed.configHash } : {}) };
      const r = await api("/api/rollouts", { method: "POST", body });
      message.replaceChildren(h("div", { class: "alert ok", role: "status" }, `Rollout ${r.rolloutId} started: ${r.plan.text.split("\n")[0]}`));
      watch(r.rolloutId);
      livePanel.scrollIntoView({ block: "start" });
    } catch (err) {
      message.replaceChildren(errorBox(err));
    } finally {
      startBtn.disabled = false;
    }
  });
  api("/api/releases").then(
    (r) => {
      const tags = [...r.tags].reverse();
      if (tags.length === 0) {
        select.replaceChildren(h("option", { value: "" }, r.source ? "No release tags found" : "No release source configured"));
        return;
      }
      const latest = data.versionStatus[0].latest;
      select.replaceChildren(...tags.map((t) => h("option", { value: t, selected: t === latest }, t === latest ? `${t} (latest)` : t)));
    },
    (err) => {
      select.replaceChildren(h("option", { value: "" }, "Releases unavailable"));
      message.replaceChildren(errorBox(err));
    },
  );
  return h("section", { class: "card", "aria-labelledby": "h-upgrade" }, h("h2", { id: "h-upgrade" }, "Start Fleet Upgrade"), form);
}

function planView(plan) {
  return h(
    "div",
    { class: "alert info" },
    h("h3", {}, `Upgrade plan: ${plan.strategy} to ${plan.target.openclaw}${plan.target.runtimeService ? ` / ${plan.target.runtimeService}` : ""}`),
    h("p", {}, `${plan.runtimes} runtimes in ${plan.batches.length} batches, estimated ${plan.estimated}.`),
    h(
      "ol",
      { "aria-label": "Batches" },
      plan.batches.map((b) =>
        h(
          "li",
          { "data-batch": b.index },
          h("strong", {}, b.kind === "canary" ? "Canary" : `Batch ${b.index + 1}`),
          `: `,
          h("span", { class: "chips" }, b.runtimes.map((r) => h("span", { class: "chip", "data-account": r.accountId, title: r.from ? `${r.from.openclaw} → ${r.to.openclaw}` : "" }, r.accountId))),
        ),
      ),
    ),
    plan.skipped.length ? h("p", { class: "note" }, `Skipped: ${plan.skipped.map((s) => `${s.accountId} (${s.detail})`).join(", ")}`) : null,
  );
}

function runtimesSection(data) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "h-runtimes" },
    h("h2", { id: "h-runtimes" }, "Runtimes"),
    table(
      "Runtimes of the stack",
      [{ label: "Runtime" }, { label: "Status" }, { label: "OpenClaw" }, { label: "Runtime Service" }, { label: "Health", num: true }],
      data.runtimes.map((r) => [
        h("a", { href: `/runtimes/${encodeURIComponent(r.accountId)}` }, r.name && r.name !== r.accountId ? `${r.name} (${r.accountId})` : r.accountId, r.canary ? " · canary" : "", r.pin ? ` · pinned ${r.pin}` : ""),
        badge(r.status),
        r.openclaw,
        r.runtimeService,
        r.healthScore ?? "–",
      ]),
      { rowHeader: true, empty: "This stack has no runtimes configured." },
    ),
  );
}

function recentSection(rows) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "h-recent" },
    h("h2", { id: "h-recent" }, "Recent Upgrades"),
    rolloutsTable(rows),
    h("div", { class: "actions" }, h("a", { class: "button", href: "/history" }, "View All Upgrade History")),
  );
}

function rolloutsTable(rows) {
  return table(
    "Rollouts",
    [{ label: "Time" }, { label: "Version" }, { label: "Strategy" }, { label: "Status" }, { label: "Success", num: true }, { label: "Failed", num: true }, { label: "Duration", num: true }],
    rows.map((r) => [
      h("a", { href: `/rollouts/${encodeURIComponent(r.rolloutId)}` }, ago(r.createdAt)),
      r.target.openclaw,
      r.strategy[0].toUpperCase() + r.strategy.slice(1),
      badge(r.status),
      // As the server computed them (fleet/overview's rolloutSummary): never recomputed here.
      `${Math.round(r.successRate)}%`,
      `${Math.round(r.failureRate)}%`,
      duration(r.durationMs),
    ]),
    { empty: "No upgrades yet." },
  );
}

// Live rollout --------------------------------------------------------------------------------

function watchRollout(rolloutId, panel, { onEnd, onTick } = {}) {
  clearTimeout(pollTimer);
  // onEnd fires only for a rollout seen running here, not for one that had already ended.
  let sawLive = false;
  let ended = false;
  const tick = async () => {
    try {
      const d = await api(`/api/rollouts/${encodeURIComponent(rolloutId)}`);
      panel.replaceChildren(rolloutPanel(d, () => tick()));
      const done = TERMINAL.includes(d.rollout.status) && !d.runningHere;
      const idle = d.rollout.status === "paused" && !d.runningHere;
      if (!done) sawLive = true;
      if (done && sawLive && !ended) {
        ended = true;
        onEnd?.(d);
      }
      if (!done) {
        onTick?.(d);
        pollTimer = setTimeout(tick, idle ? 3000 : 1000);
      }
    } catch (err) {
      panel.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Rollout"), errorBox(err, () => tick())));
      pollTimer = setTimeout(tick, 3000);
    }
  };
  tick();
}

function rolloutPanel(d, refresh) {
  const r = d.rollout;
  const n = r.batches.length;
  const c = r.counts;
  const message = h("div", { "aria-live": "polite" });
  const act = (action, label, cls, enabled) => {
    const b = h("button", { type: "button", class: cls, id: `rollout-${action}`, disabled: !enabled }, label);
    b.addEventListener("click", async () => {
      if (action === "abort" && !confirm(`Abort rollout ${r.rolloutId}? No further batch runs.`)) return;
      b.disabled = true;
      try {
        await api(`/api/rollouts/${encodeURIComponent(r.rolloutId)}/${action}`, { method: "POST", body: {} });
        toast(`Rollout ${r.rolloutId}: ${action} requested`);
        refresh();
      } catch (err) {
        message.replaceChildren(errorBox(err));
        b.disabled = false;
      }
    });
    return b;
  };
  const live = ["running", "planned"].includes(r.status);
  const failures = r.runtimes.filter((x) => x.state === "failed" || x.state === "rolled_back");
  const batchOf = new Map(r.batches.flatMap((ids, i) => ids.map((id) => [id, i])));
  const summary = `${r.status === "completed" ? "Completed" : r.status[0].toUpperCase() + r.status.slice(1)}: batch ${Math.min(r.currentBatch + 1, n)} of ${n}; ${c.succeeded} succeeded, ${c.failed + c.rolledBack} failed, ${c.pending + c.upgrading} to go`;
  return h(
    "section",
    { class: "card", "aria-labelledby": "h-live", "data-status": r.status },
    h("h2", { id: "h-live" }, live ? "Rollout in progress" : "Rollout"),
    h(
      "div",
      { class: "progress-head" },
      h("a", { href: `/rollouts/${encodeURIComponent(r.rolloutId)}` }, r.rolloutId),
      badge(r.status),
      h("span", {}, `${r.strategy} to ${r.target.openclaw} / ${r.target.runtimeService}`),
      h("span", { class: "note" }, `by ${r.initiatedBy}, `, when(r.createdAt)),
    ),
    h("p", { id: "rollout-summary", role: "status", "aria-live": "polite" }, summary),
    r.reason ? h("p", { class: "note", id: "rollout-why" }, `Why: ${r.reason}`) : null,
    r.statusReason ? h("p", { class: "note", id: "rollout-reason" }, `${r.status[0].toUpperCase()}${r.status.slice(1)}: ${r.statusReason}`) : null,
    // A pause says why, since when, and what is left of its timed step (the server's fleet/steps view).
    r.pause
      ? h(
          "p",
          { class: "alert info", id: "rollout-pause", "data-remaining": r.pause.remainingSeconds ?? "" },
          `Paused since ${new Date(r.pause.since).toISOString()} (`,
          when(r.pause.since),
          `): ${r.pause.reason}`,
          r.pause.remainingSeconds !== undefined ? `; ${duration(r.pause.remainingSeconds * 1000)} left of its ${r.step?.kind ?? "step"} when resumed` : "",
        )
      : null,
    r.step ? h("p", { class: "note", id: "rollout-step" }, `Step: ${r.step.text}`) : null,
    h("div", { class: "actions left" }, act("pause", "Pause", "", r.status === "running"), act("resume", "Resume", "", r.status === "paused" && !d.runningHere), act("abort", "Abort", "danger", ["running", "paused", "planned"].includes(r.status))),
    message,
    d.runnerError ? h("div", { class: "alert error", role: "alert" }, d.runnerError) : null,
    failures.length ? h("div", { class: "alert error" }, h("strong", {}, "Failures: "), failures.map((f) => `${f.accountId} (${f.state}${f.error ? `: ${f.error}` : ""})`).join("; ")) : null,
    timeline(r, d.upgrades, d.now),
    analysisSection(r),
    h("h3", {}, "Runtimes"),
    table(
      "Runtime states in this rollout",
      [{ label: "Runtime" }, { label: "Batch" }, { label: "State" }, { label: "From" }, { label: "Detail" }],
      r.runtimes
        .slice()
        .sort((a, b) => (batchOf.get(a.accountId) ?? 0) - (batchOf.get(b.accountId) ?? 0))
        .map((x) => [
          h("a", { href: `/runtimes/${encodeURIComponent(x.accountId)}` }, x.accountId),
          `${(batchOf.get(x.accountId) ?? 0) + 1}/${n}${r.strategy === "canary" && batchOf.get(x.accountId) === 0 ? " (canary)" : ""}`,
          h("span", { "data-state": x.state, "data-account": x.accountId }, badge(x.state)),
          x.from ? x.from.openclaw : "–",
          x.error ?? "",
        ]),
      { rowHeader: true },
    ),
    h("h3", {}, "Gate decisions"),
    table(
      "Gate decisions",
      [{ label: "Time" }, { label: "Batch" }, { label: "Decision" }, { label: "Reason" }],
      r.gates.slice(-12).reverse().map((g) => [when(g.at), String(g.batch + 1), badge(g.decision, g.decision === "go" ? "ok" : g.decision === "halt" ? "bad" : "warn"), g.reason]),
      { empty: "No gate decisions yet." },
    ),
  );
}

async function rolloutPage(id) {
  markNav("history");
  document.title = `Rollout ${id} · Fleet dashboard`;
  const panel = h("div", { id: "rollout-live" });
  render(h("p", { class: "crumb" }, h("a", { href: "/" }, "Runtime Management"), " › Rollout"), h("h1", {}, `Rollout ${id}`), panel);
  watchRollout(id, panel);
}

// A runtime -----------------------------------------------------------------------------------

async function runtimePage(id) {
  markNav("");
  document.title = `Runtime ${id} · Fleet dashboard`;
  let d;
  try {
    d = await api(`/api/runtimes/${encodeURIComponent(id)}`);
  } catch (err) {
    render(h("p", { class: "crumb" }, h("a", { href: "/" }, "Runtime Management"), " › Runtime"), h("h1", {}, `Runtime ${id}`), errorBox(err, () => runtimePage(id)));
    return;
  }
  const v = d.versions;
  const inf = d.infrastructure;
  const message = h("div", { id: "runtime-message", "aria-live": "polite" });
  const logs = h("div", { id: "logs" });
  const live = h("div", { id: "rollout-live" });
  const action = (key, label, cls, fn) => {
    const b = h("button", { type: "button", id: key, class: cls }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      message.replaceChildren(h("p", { class: "note" }, `${label}…`));
      try {
        await fn();
      } catch (err) {
        message.replaceChildren(errorBox(err));
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const upgrade = async () => {
    const r = await api(`/api/runtimes/${encodeURIComponent(id)}/upgrade`, { method: "POST", body: {} });
    message.replaceChildren(h("div", { class: "alert ok", role: "status" }, `Rollout ${r.rolloutId} started for ${id}.`));
    watchRollout(r.rolloutId, live, { onEnd: () => runtimePage(id) });
  };
  const copyBtn = d.sshCommand
    ? h("button", { type: "button", id: "copy-ssh", onclick: async () => {
        try {
          await navigator.clipboard.writeText(d.sshCommand);
          toast("SSH command copied");
        } catch {
          toast("Copy is not allowed here: select the command and copy it");
        }
      } }, "Copy")
    : null;
  render(
    h("p", { class: "crumb" }, h("a", { href: "/" }, "Runtime Management"), " › Runtime"),
    h("h1", {}, `Runtime: ${d.name && d.name !== d.accountId ? `${d.name} (${d.accountId})` : d.accountId}`),
    h(
      "section",
      { class: "card", "aria-label": "Status" },
      h("p", {}, "Status: ", [dot(d.status), badge(d.status)], "  ·  Health Score: ", h("strong", { id: "health-score" }, d.healthScore === null ? "–" : `${d.healthScore}/100`), d.lastHealthCheck ? h("span", { class: "note" }, "  (checked ", when(d.lastHealthCheck), ")") : null),
      d.canary ? h("p", { class: "note" }, "Canary runtime: upgraded first in canary rollouts.") : null,
      d.pin ? h("p", { class: "note" }, `Pinned at ${d.pin}: rollouts leave it out.`) : null,
    ),
    h(
      "div",
      { class: "grid2" },
      h(
        "section",
        { class: "card", "aria-labelledby": "h-infra" },
        h("h2", { id: "h-infra" }, "Infrastructure"),
        h("dl", { class: "kv" }, h("dt", {}, "Provider"), h("dd", {}, inf.provider), h("dt", {}, "Host ID"), h("dd", {}, inf.hostId || "–"), h("dt", {}, "Address"), h("dd", {}, inf.address || "–"), h("dt", {}, "Region"), h("dd", {}, inf.region || "–"), h("dt", {}, "Created"), h("dd", {}, inf.createdAt ? new Date(inf.createdAt).toISOString().slice(0, 10) : "–")),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "h-versions" },
        h("h2", { id: "h-versions" }, "Versions"),
        h(
          "dl",
          { class: "kv" },
          h("dt", {}, "OpenClaw"),
          h("dd", { id: "openclaw-version" }, v.openclaw, h("span", { class: "note" }, ` (latest: ${v.latestOpenclaw ?? "not checked"})`), " ", v.updateAvailable ? action("upgrade-version", "Upgrade", "", upgrade) : null),
          h("dt", {}, "Runtime Service"),
          h("dd", {}, v.runtimeService, h("span", { class: "note" }, ` (latest: ${v.latestRuntimeService ?? "not checked"})`)),
          h("dt", {}, "Last Upgrade"),
          h("dd", {}, d.lastUpgrade ? [when(d.lastUpgrade.completedAt ?? d.lastUpgrade.startedAt), " (", d.lastUpgrade.status.replace("_", " "), ")"] : "never"),
        ),
      ),
    ),
    live,
    h(
      "section",
      { class: "card", "aria-labelledby": "h-history" },
      h("h2", { id: "h-history" }, "Upgrade History"),
      table(
        `Upgrade history of ${d.accountId}`,
        [{ label: "Time" }, { label: "From" }, { label: "To" }, { label: "Status" }, { label: "Duration", num: true }, { label: "Who" }, { label: "Why" }],
        d.history.map((e) => [when(e.completedAt ?? e.startedAt), e.fromOpenclaw, e.toOpenclaw, badge(e.status), duration(e.durationMs), e.initiatedBy, [e.reason ?? (e.rolloutId ? `rollout ${e.rolloutId}` : ""), e.error ? ` — ${e.error}` : ""]]),
        { empty: "No upgrades recorded for this runtime yet." },
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "h-actions" },
      h("h2", { id: "h-actions" }, "Actions"),
      h(
        "div",
        { class: "actions left" },
        action("upgrade-latest", "Upgrade to Latest", "primary", upgrade),
        action("force-restart", "Force Restart", "danger", async () => {
          if (!confirm(`Restart ${id} now? It is briefly unavailable.`)) {
            message.replaceChildren();
            return;
          }
          const r = await api(`/api/runtimes/${encodeURIComponent(id)}/restart`, { method: "POST", body: {} });
          message.replaceChildren(h("div", { class: "alert ok", role: "status" }, `${id} restarted and healthy again (${duration(r.durationMs)}).`));
        }),
        action("view-logs", "View Logs", "", async () => {
          const r = await api(`/api/runtimes/${encodeURIComponent(id)}/logs`, { method: "POST", body: {} });
          message.replaceChildren();
          logs.replaceChildren(h("h3", {}, "Last 200 log lines"), h("pre", { class: "logs", tabindex: "0", "aria-label": `Logs of ${id}` }, r.logs || "(no output)"));
        }),
      ),
      h("h3", {}, "SSH Console"),
      d.sshCommand ? h("p", {}, h("code", { class: "copy", id: "ssh-command" }, d.sshCommand), " ", copyBtn) : h("p", { class: "note" }, "No host address yet."),
      message,
      logs,
    ),
  );
  if (d.activeRollout && ["running", "planned"].includes(d.activeRollout.status)) watchRollout(d.activeRollout.rolloutId, live, { onEnd: () => runtimePage(id) });
}

// History -------------------------------------------------------------------------------------

async function historyPage(cursor = null, stackOfCursors = []) {
  markNav("history");
  document.title = "Upgrade History · Fleet dashboard";
  let d;
  try {
    d = await api(`/api/history?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  } catch (err) {
    render(h("h1", {}, "Upgrade History"), errorBox(err, () => historyPage(cursor, stackOfCursors)));
    return;
  }
  const nav = h(
    "div",
    { class: "actions" },
    stackOfCursors.length ? h("button", { type: "button", id: "prev-page", onclick: () => historyPage(stackOfCursors.at(-1) ?? null, stackOfCursors.slice(0, -1)) }, "Previous page") : null,
    !d.isDone && d.cursor ? h("button", { type: "button", id: "next-page", onclick: () => historyPage(d.cursor, [...stackOfCursors, cursor]) }, "Next page") : null,
  );
  render(
    h("p", { class: "crumb" }, h("a", { href: "/" }, "Runtime Management"), " ›"),
    h("h1", {}, "Upgrade History"),
    stackOfCursors.length === 0 && cursor === null ? h("section", { class: "card", "aria-labelledby": "h-rollouts" }, h("h2", { id: "h-rollouts" }, "Rollouts"), rolloutsTable(d.rollouts)) : null,
    h(
      "section",
      { class: "card", "aria-labelledby": "h-records" },
      h("h2", { id: "h-records" }, "Upgrade records"),
      table(
        "Upgrade records, newest first",
        [{ label: "Time" }, { label: "Runtime" }, { label: "From" }, { label: "To" }, { label: "Status" }, { label: "Duration", num: true }, { label: "Who" }],
        d.items.map((e) => [when(e.completedAt ?? e.startedAt), h("a", { href: `/runtimes/${encodeURIComponent(e.accountId)}` }, e.accountId), e.fromOpenclaw, e.toOpenclaw, badge(e.status), duration(e.durationMs), e.initiatedBy]),
        { empty: "No upgrade records yet." },
      ),
      nav,
    ),
  );
}

boot();
