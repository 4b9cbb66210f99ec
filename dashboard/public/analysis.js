// The canary analysis on the rollout page: for each analysis, its decision, verdict and score,
// and per metric the canary's and the control's samples side by side (box plot over the dots,
// on one shared axis), with the test's numbers. Plain SVG, no library, no build step.
import { badge, h, s } from "./ui.js";

/**
 * The analyses of a rollout, oldest first. The one place that knows where the record keeps them:
 * the analysis steps of the rollout's step machine (`steps[].analysis`), or a plain `analyses`.
 */
export function analysesOf(rollout) {
  const fromSteps = (rollout.steps ?? []).map((step) => step?.analysis).filter(Boolean);
  return [...fromSteps, ...(rollout.analyses ?? [])].sort((a, b) => a.at - b.at);
}

const DECISION_CLASS = { go: "ok", pause: "warn", halt: "bad" };
const VERDICT_CLASS = { pass: "ok", marginal: "warn", fail: "bad", inconclusive: "warn" };
const COLORS = { canary: "#1a73e8", control: "#6b7480" };
const UNITS = { error_rate: "% of requests", latency_ms: "ms", notification_failure_rate: "% of notifications", restarts: "restarts per interval", health: "(1 = healthy)" };

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const fmt = (x) => (Number.isFinite(x) ? String(Number(x.toFixed(Math.abs(x) >= 100 ? 0 : 2))) : "–");

/** One metric's two distributions on a shared axis: a row each, dots for samples, a box for q1..q3 and the median. */
export function metricChart(m) {
  const W = 420, left = 64, right = 12, rowH = 30, top = 8, axis = 18;
  const H = top + 2 * rowH + axis;
  const all = [...m.canary, ...m.control];
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const x = (v) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const kids = [s("title", {}, `${m.metric}: canary against control`)];
  [["canary", m.canary], ["control", m.control]].forEach(([name, values], row) => {
    const y = top + row * rowH;
    const mid = y + rowH / 2;
    kids.push(s("text", { x: 4, y: mid + 4 }, `${name} (${values.length})`));
    // dots spread over the row by their index, so equal values stay visible
    values.forEach((v, i) => kids.push(s("circle", { cx: x(v), cy: y + 6 + ((i * 7) % (rowH - 12)), r: 1.6, fill: COLORS[name], "fill-opacity": 0.45 })));
    if (values.length > 0) {
      const sorted = [...values].sort((a, b) => a - b);
      const [q1, med, q3] = [0.25, 0.5, 0.75].map((q) => quantile(sorted, q));
      kids.push(s("rect", { x: x(q1), y: y + 4, width: Math.max(1, x(q3) - x(q1)), height: rowH - 8, fill: "none", stroke: COLORS[name], "stroke-width": 1.5 }));
      kids.push(
        s("line", { x1: x(med), x2: x(med), y1: y + 2, y2: y + rowH - 2, stroke: COLORS[name], "stroke-width": 3, "data-median": fmt(med) }, s("title", {}, `${name} median ${fmt(med)} ${UNITS[m.metric] ?? ""}`)),
      );
    }
  });
  const yAxis = top + 2 * rowH + 2;
  kids.push(s("line", { x1: left, x2: W - right, y1: yAxis, y2: yAxis, stroke: "#9aa0a6" }));
  kids.push(s("text", { x: left, y: yAxis + 13 }, fmt(lo)));
  kids.push(s("text", { x: W - right, y: yAxis + 13, "text-anchor": "end" }, `${fmt(hi)} ${UNITS[m.metric] ?? ""}`));
  return s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${m.metric}: canary ${m.canary.length} samples, control ${m.control.length} samples` }, kids);
}

function metricFigure(m) {
  const stats = m.p !== undefined ? ` p=${m.p.toPrecision(3)}${m.effect !== undefined ? `, effect ${fmt(m.effect)}` : ""}${m.direction ? `, ${m.direction}` : ""}` : "";
  return h(
    "figure",
    { class: "metric", "data-metric": m.metric, "data-verdict": m.verdict },
    h("figcaption", {}, h("strong", {}, m.metric), " ", badge(m.verdict, VERDICT_CLASS[m.verdict]), " ", h("span", { class: "note" }, m.critical ? "critical" : `weight ${m.weight}`, stats)),
    metricChart(m),
    h("p", { class: "note" }, m.reason),
  );
}

/** Every analysis of the rollout, newest first; nothing when it had none. */
export function analysisSection(rollout) {
  const analyses = analysesOf(rollout);
  if (analyses.length === 0) return null;
  return h(
    "section",
    { class: "analyses", id: "rollout-analysis" },
    h("h3", {}, "Canary analysis"),
    [...analyses].reverse().map((a) =>
      h(
        "div",
        { class: "analysis", "data-decision": a.decision, "data-batch": a.batch },
        h(
          "p",
          { class: "progress-head" },
          h("strong", {}, `Batch ${a.batch + 1}`),
          badge(a.decision, DECISION_CLASS[a.decision]),
          h("span", { "data-score": a.score }, `score ${a.score}`),
          badge(a.verdict, VERDICT_CLASS[a.verdict]),
          a.mode === "observe" ? h("span", { class: "note" }, "observe only: recorded, not acted on") : null,
        ),
        h("p", { class: "note" }, a.reason, ` — canary ${a.canary.join(", ") || "none"}; control ${a.control.join(", ") || "none"}`),
        h("div", { class: "metrics" }, a.metrics.map(metricFigure)),
      ),
    ),
  );
}
