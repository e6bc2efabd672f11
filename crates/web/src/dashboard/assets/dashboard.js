// cachescope's dashboard: keeps the server-rendered page current from the instance's own API. Charts are SVG
// drawn here; nothing is loaded from anywhere else.
"use strict";

const CAUSES = ["never_written", "expired", "evicted", "deleted", "flushed", "failed_write", "unknown"];
const SVG = "http://www.w3.org/2000/svg";
const state = { overview: null, report: null, sort: "rate", descending: true, filter: "" };

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "-" : (ratio * 100).toFixed(1) + "%";
}

// A source that sees misses only (watch) knows no hit ratio: shown as "-", never 0%.
let missesOnly = false;

function hitRatio(counts) {
  if (missesOnly) return null;
  const answered = counts.hits + counts.misses;
  return answered > 0 ? counts.hits / answered : null;
}

function clock(micros) {
  const date = new Date(micros / 1000);
  return date.toISOString().substring(11, 19);
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

// An SVG chart in `container`: `layers` are [{points: [[x, y]], className, fill}], x in µs, y in [0, top].
function drawChart(container, layers, top, unit, verticals) {
  const width = Math.max(container.clientWidth, 300);
  const height = 180;
  const pad = { left: 48, right: 8, top: 8, bottom: 22 };
  const xs = layers.flatMap((l) => l.points.map((p) => p[0]));
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height });
  container.replaceChildren(svg);
  if (xs.length < 2) {
    const text = svgElement("text", { x: pad.left, y: height / 2, class: "empty" });
    text.textContent = "Waiting for the first windows…";
    svg.appendChild(text);
    return;
  }
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const x = (t) => pad.left + ((t - x0) / Math.max(x1 - x0, 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  for (const fraction of [0, 0.5, 1]) {
    const v = top * fraction;
    svg.appendChild(svgElement("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    const label = svgElement("text", { x: pad.left - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = unit === "%" ? Math.round(v) + "%" : v.toFixed(v < 10 ? 1 : 0);
    svg.appendChild(label);
  }
  for (const [t, anchor] of [[x0, "start"], [x1, "end"]]) {
    const label = svgElement("text", { x: x(t), y: height - 4, class: "axis", "text-anchor": anchor });
    label.textContent = clock(t);
    svg.appendChild(label);
  }
  for (const layer of layers) {
    if (layer.points.length === 0) continue;
    const line = layer.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    if (layer.fill) {
      const base = layer.base || layer.points.map((p) => [p[0], 0]);
      const back = base.slice().reverse().map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      svg.appendChild(svgElement("polygon", { points: line + " " + back, class: layer.className, "data-points": layer.points.length }));
    } else {
      svg.appendChild(svgElement("polyline", { points: line, class: layer.className, "data-points": layer.points.length }));
    }
  }
  for (const mark of verticals) {
    if (mark.time < x0 || mark.time > x1) continue;
    const line = svgElement("line", { x1: x(mark.time), x2: x(mark.time), y1: pad.top, y2: height - pad.bottom, class: mark.className });
    const title = svgElement("title", {});
    title.textContent = mark.label;
    line.appendChild(title);
    svg.appendChild(line);
  }
}

function verticals(overview) {
  const marks = overview.markers.map(([time, label]) => ({ time, label, className: "marker" }));
  for (const anomaly of overview.anomalies) {
    marks.push({ time: anomaly.started_at, label: anomaly.text, className: "anomaly-start" });
  }
  return marks;
}

function drawCharts() {
  const overview = state.overview;
  const ticks = overview.global;
  const hits = ticks.filter((t) => hitRatio(t) !== null).map((t) => [t.start + t.span / 2, hitRatio(t) * 100]);
  drawChart(document.getElementById("hit-chart"), [{ points: hits, className: "hit-line" }], 100, "%", verticals(overview));
  // Stacked misses per second by cause.
  let base = ticks.map((t) => [t.start + t.span / 2, 0]);
  const layers = [];
  let top = 0;
  CAUSES.forEach((cause, index) => {
    const points = ticks.map((t, i) => [t.start + t.span / 2, base[i][1] + t.causes[index] / (t.span / 1e6)]);
    layers.push({ points, base, fill: true, className: "cause " + cause });
    base = points;
    top = Math.max(top, ...points.map((p) => p[1]));
  });
  drawChart(document.getElementById("cause-chart"), layers, Math.max(top * 1.1, 1), "/s", verticals(overview));
  const legend = document.getElementById("cause-legend") || element("p", { id: "cause-legend", class: "legend" });
  legend.replaceChildren(...CAUSES.map((c) => element("span", { class: "cause " + c }, c)));
  document.getElementById("cause-chart").after(legend);
}

function drawSummary() {
  const overview = state.overview;
  const last = overview.global[overview.global.length - 1];
  document.getElementById("hit-now").textContent = last ? percent(hitRatio(last.counts || last)) : "-";
  document.getElementById("open-count").textContent = overview.anomalies.filter((a) => a.closed_at === null || a.closed_at === undefined).length;
}

function drawAnomalies() {
  const list = document.getElementById("anomalies");
  const items = state.overview.anomalies.map((a) => {
    const open = a.closed_at === null || a.closed_at === undefined;
    const item = element("li", { class: open ? "open" : "closed" });
    item.append(element("strong", {}, open ? "Open: " : "Closed: "), document.createTextNode(a.text));
    return item;
  });
  list.replaceChildren(...(items.length ? items : [element("li", {}, "None so far.")]));
}

function drawFindings() {
  const report = state.report;
  if (!report) return;
  const list = document.getElementById("findings");
  if (report.findings.length === 0) {
    list.replaceChildren(element("li", {}, "No finding: nothing to fix."));
    return;
  }
  list.replaceChildren(...report.findings.map((f) => {
    const item = element("li", { class: f.severity });
    const heading = element("h3");
    heading.append(element("span", { class: "severity" }, f.severity.toUpperCase()), ` ${f.cause} on `, element("code", {}, f.pattern),
      ` · ${percent(f.misses_explained.share)} of misses`);
    item.append(heading, element("p", {}, f.evidence.summary));
    if (f.evidence.details && f.evidence.details.length) {
      const details = element("ul");
      details.append(...f.evidence.details.map((d) => element("li", {}, d)));
      item.append(details);
    }
    const fix = element("p", { class: "fix" });
    fix.append(element("strong", {}, "Fix: "), document.createTextNode(f.suggestion.summary));
    item.append(fix);
    if (f.simulated) {
      item.append(element("p", { class: "gain" },
        `Simulated: ${f.simulated.change}: whole cache ${percent(f.simulated.hit_ratio_before)} → ${percent(f.simulated.hit_ratio_after)}`));
    }
    return item;
  }));
}

function rows() {
  const overview = state.overview;
  const window = overview.window_seconds || 1;
  const filter = state.filter.toLowerCase();
  const value = {
    name: (r) => r.name,
    hit: (r) => { const h = hitRatio(r.last); return h === null ? -1 : h; },
    rate: (r) => r.last.misses / window,
    misses: (r) => r.total.misses,
    reads: (r) => r.total.reads,
  }[state.sort];
  const list = overview.patterns.filter((r) => !filter || r.name.toLowerCase().includes(filter));
  list.sort((a, b) => {
    const [va, vb] = [value(a), value(b)];
    const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return (state.descending ? -order : order) || a.name.localeCompare(b.name);
  });
  return list;
}

function mainCause(row) {
  const total = row.total.causes.reduce((a, b) => a + b, 0);
  if (total <= 0) return "-";
  let best = 0;
  row.total.causes.forEach((n, i) => { if (n > row.total.causes[best]) best = i; });
  return `${CAUSES[best]} ${Math.round((100 * row.total.causes[best]) / total)}%`;
}

function drawPatterns() {
  const window = state.overview.window_seconds || 1;
  const body = document.querySelector("#patterns tbody");
  body.replaceChildren(...rows().map((r) => {
    const tr = element("tr");
    const name = element("th", { scope: "row" });
    name.append(element("a", { href: "#pattern=" + encodeURIComponent(r.name) }, r.name));
    tr.append(name, element("td", {}, percent(hitRatio(r.last))), element("td", {}, (r.last.misses / window).toFixed(1)),
      element("td", {}, String(r.total.misses)), element("td", {}, String(r.total.reads)), element("td", {}, mainCause(r)));
    return tr;
  }));
  for (const th of document.querySelectorAll("#patterns th[data-sort]")) {
    const sorted = th.dataset.sort === state.sort;
    th.setAttribute("aria-sort", sorted ? (state.descending ? "descending" : "ascending") : "none");
  }
}

function drawDetail() {
  const detail = document.getElementById("detail");
  const match = location.hash.match(/^#pattern=(.*)$/);
  const row = match && state.overview && state.overview.patterns.find((r) => r.name === decodeURIComponent(match[1]));
  detail.hidden = !row;
  if (!row) return;
  document.getElementById("detail-title").textContent = row.name;
  const window = state.overview.window_seconds * 1e6;
  const end = state.overview.time;
  const points = row.miss_ratios
    .map((m, i, all) => [end - (all.length - 1 - i) * window, m === null ? null : (1 - m) * 100])
    .filter((p) => p[1] !== null);
  drawChart(document.getElementById("detail-chart"), [{ points, className: "hit-line" }], 100, "%",
    verticals(state.overview).filter((m) => m.className === "marker"));
  const body = document.getElementById("detail-body");
  const causes = CAUSES.map((c, i) => [c, row.total.causes[i]]).filter((p) => p[1] > 0);
  const total = causes.reduce((a, p) => a + p[1], 0);
  const facts = element("p", {}, `${row.total.reads} reads · ${row.total.misses} misses · hit ratio ${percent(hitRatio(row.total))} since the start · `
    + causes.map(([c, n]) => `${c} ${Math.round((100 * n) / total)}%`).join(" · "));
  const findings = (state.report ? state.report.findings : []).filter((f) => f.pattern === row.name)
    .map((f) => element("p", { class: "fix" }, `${f.severity.toUpperCase()} ${f.cause}: ${f.evidence.summary} Fix: ${f.suggestion.summary}`));
  body.replaceChildren(facts, ...findings);
  detail.scrollIntoView({ block: "nearest" });
}

function drawAll() {
  if (!state.overview) return;
  drawSummary();
  drawCharts();
  drawAnomalies();
  drawPatterns();
  drawDetail();
}

let pending = null;
// Changes come in bursts (a window, then the anomalies it opened): one fetch for a burst, soon after it.
function refresh(delay) {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    try {
      state.overview = await api("/api/overview");
      missesOnly = Boolean(state.overview.misses_only);
      document.body.classList.remove("stale");
      drawAll();
    } catch (error) {
      document.body.classList.add("stale");
    }
  }, delay === undefined ? 300 : delay);
}

async function refreshReport() {
  try {
    state.report = await api("/api/report");
    drawFindings();
    drawDetail();
  } catch (error) {
    // The next change tries again.
  }
}

function setUp() {
  for (const th of document.querySelectorAll("#patterns th[data-sort]")) {
    const button = element("button", { type: "button" }, th.textContent);
    th.replaceChildren(button);
    button.addEventListener("click", () => {
      if (state.sort === th.dataset.sort) state.descending = !state.descending;
      else { state.sort = th.dataset.sort; state.descending = th.dataset.sort !== "name"; }
      drawPatterns();
    });
  }
  const filter = document.getElementById("filter");
  document.getElementById("filter-box").hidden = false;
  filter.addEventListener("input", () => { state.filter = filter.value; drawPatterns(); });
  const form = document.getElementById("mark-form");
  if (form) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const note = document.getElementById("mark-note").value.trim();
      const result = document.getElementById("mark-result");
      try {
        const added = await api("/api/markers", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ kind: "deploy", note }),
        });
        result.textContent = `Marker “${added.label}” added.`;
        refresh();
      } catch (error) {
        result.textContent = "The marker was not added: " + error.message;
      }
    });
  }
  window.addEventListener("hashchange", drawDetail);
  window.addEventListener("resize", () => state.overview && drawCharts());
  const events = new EventSource("/api/events");
  events.addEventListener("window", () => refresh());
  events.addEventListener("anomaly_opened", () => refresh());
  events.addEventListener("anomaly_closed", () => refresh());
  events.addEventListener("findings_changed", refreshReport);
  events.onerror = () => document.body.classList.add("stale");
  events.onopen = () => refresh();
  setInterval(refreshReport, 10000);
  refresh(0); // the first load waits for nothing
  refreshReport();
}

document.addEventListener("DOMContentLoaded", setUp);
