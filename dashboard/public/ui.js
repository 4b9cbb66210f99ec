/* global Node */
// Small DOM and API helpers. Text always goes in as text nodes (never innerHTML), so fleet data
// cannot inject markup.
const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let csrf = null;
export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: "same-origin", ...(body !== undefined ? { body: JSON.stringify(body) } : method !== "GET" ? { body: "{}" } : {}) });
  } catch (err) {
    throw new ApiError(0, { error: `the dashboard server did not answer (${err.message})` });
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export function ago(ms) {
  if (!ms) return "–";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)}d ago`;
  return new Date(ms).toISOString().slice(0, 10);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export const when = (ms) => (ms ? h("time", { datetime: new Date(ms).toISOString(), title: new Date(ms).toISOString() }, ago(ms)) : "–");

export const badge = (text, cls = text) => h("span", { class: `badge ${cls}` }, String(text).replace(/_/g, " "));

/** A table with a caption, column headers (scope=col) and optional row headers. */
export function table(caption, columns, rows, { rowHeader = false, empty = "Nothing yet." } = {}) {
  if (rows.length === 0) return h("div", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "sr-only" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : undefined }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((r) => h("tr", {}, r.map((cell, i) => h(rowHeader && i === 0 ? "th" : "td", { scope: rowHeader && i === 0 ? "row" : undefined, class: columns[i]?.num ? "num" : undefined }, cell)))),
      ),
    ),
  );
}

/** Labelled bars: count and percentage as text, the bar as a picture of the same number. */
export function bars(label, rows) {
  return h(
    "div",
    { class: "bars", role: "list", "aria-label": label },
    rows.map((r) => [
      h("span", { role: "listitem", "data-row": r.key }, r.label, r.flag ? h("span", { class: "flag" }, " ⚠ ", r.flag) : null),
      h("span", { class: "num", "data-count": r.count }, `${r.count} (${r.percent}%)`),
      h("span", { class: `bar ${r.cls ?? ""}`, "aria-hidden": "true" }, h("span", { style: { width: `${Math.max(r.count > 0 ? 1 : 0, r.percent)}%` } })),
    ]),
  );
}

const STATE_COLOR = { succeeded: "#1e8e3e", success: "#1e8e3e", failed: "#c5221f", rolled_back: "#e37400", upgrading: "#1a73e8", pending: "#bdc1c6", skipped: "#9aa0a6", noop: "#9aa0a6" };

/**
 * The rollout timeline: one row per runtime, grouped by batch, a bar from its upgrade's start to
 * end coloured by outcome, gate decisions as ticks on the time axis.
 */
export function timeline(detail, upgrades, now) {
  const r = detail;
  const t0 = r.startedAt ?? r.createdAt;
  const t1 = Math.max(r.completedAt ?? now, t0 + 1000, ...upgrades.map((u) => u.completedAt ?? u.startedAt));
  const rows = r.batches.flatMap((ids, b) => ids.map((id) => ({ id, b })));
  const W = 760, left = 130, right = 16, rowH = 18, top = 24, axis = 26;
  const H = top + rows.length * rowH + (r.batches.length - 1) * 6 + axis;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const state = new Map(r.runtimes.map((x) => [x.accountId, x.state]));
  const byId = new Map();
  for (const u of [...upgrades].reverse()) byId.set(u.accountId, u);
  const kids = [];
  let y = top;
  let lastBatch = 0;
  kids.push(s("title", {}, `Timeline of rollout ${r.rolloutId}`));
  for (const row of rows) {
    if (row.b !== lastBatch) {
      y += 6;
      lastBatch = row.b;
    }
    const u = byId.get(row.id);
    const st = state.get(row.id) ?? "pending";
    kids.push(s("text", { x: 4, y: y + 13 }, `${row.b + 1}·${row.id}`));
    if (u) {
      const start = u.startedAt, end = u.completedAt ?? now;
      kids.push(s("rect", { x: x(start), y: y + 3, width: Math.max(6, x(end) - x(start)), height: rowH - 6, rx: 2, fill: STATE_COLOR[u.status] ?? "#999" }, s("title", {}, `${row.id}: ${u.status} ${u.fromOpenclaw} → ${u.toOpenclaw} in ${duration(u.durationMs)}`)));
    } else if (st === "upgrading") {
      kids.push(s("rect", { x: x(now) - 4, y: y + 3, width: 4, height: rowH - 6, fill: STATE_COLOR.upgrading }, s("title", {}, `${row.id}: upgrading`)));
    } else {
      kids.push(s("text", { x: left + 4, y: y + 13, fill: "#6b7480" }, st));
    }
    y += rowH;
  }
  for (const g of r.gates) {
    const gx = x(g.at);
    const color = g.decision === "go" ? "#1e8e3e" : g.decision === "halt" ? "#c5221f" : "#e37400";
    kids.push(s("line", { x1: gx, x2: gx, y1: top - 6, y2: y + 2, stroke: color, "stroke-dasharray": "3 3" }, s("title", {}, `batch ${g.batch + 1}: ${g.decision} (${g.reason})`)));
  }
  kids.push(s("line", { x1: left, x2: W - right, y1: y + 4, y2: y + 4, stroke: "#9aa0a6" }));
  kids.push(s("text", { x: left, y: y + 18 }, "0s"));
  kids.push(s("text", { x: W - right, y: y + 18, "text-anchor": "end" }, duration(t1 - t0)));
  kids.push(s("text", { x: left, y: 14 }, "runtime bars: start→end of its upgrade; dashed lines: gate decisions"));
  return h("figure", { class: "timeline" }, s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Rollout timeline: ${rows.length} runtimes in ${r.batches.length} batches` }, kids));
}
