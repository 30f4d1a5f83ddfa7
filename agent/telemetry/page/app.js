/* global document, window, fetch, uPlot, URLSearchParams */
// The edgespool status page: polls /api/status every 2 s and keeps an hour of points per sensor.
// Plain browser JavaScript, no build step; uPlot is served by the agent from its own node_modules.
"use strict";

const POLL_MS = 2000;
const HOUR_MS = 3_600_000;
const token = new URLSearchParams(window.location.search).get("token");
const headers = token ? { authorization: `Bearer ${token}` } : {};

/** sensor name → { card, chart, points: Map<t, [t, temp]> } */
const sensors = new Map();
const rate = new Map();
let rateChart;
let since = 0;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const fmtBytes = (n) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
const fmtAge = (ms) =>
  ms <= 0
    ? "-"
    : ms < 60_000
      ? `${(ms / 1000).toFixed(0)} s`
      : ms < HOUR_MS
        ? `${(ms / 60_000).toFixed(1)} min`
        : `${(ms / HOUR_MS).toFixed(1)} h`;
const fmtNum = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const counts = (o) =>
  Object.entries(o)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}: ${n}`)
    .join(", ") || "0";

function chartOpts(width, label) {
  return {
    width,
    height: 110,
    legend: { show: false },
    scales: { x: { time: true } },
    axes: [{ size: 24 }, { size: 40 }],
    series: [{}, { label, stroke: "#2f6fdf", width: 1.5, fill: "rgba(47,111,223,0.08)" }],
  };
}

function merge(map, points, nowMs) {
  for (const p of points) map.set(p[0], p);
  for (const t of map.keys()) if (t < nowMs - HOUR_MS) map.delete(t);
  const sorted = [...map.values()].sort((a, b) => a[0] - b[0]);
  return [sorted.map((p) => p[0] / 1000), sorted.map((p) => p[1])];
}

function renderSensor(s, nowMs) {
  let entry = sensors.get(s.sensor);
  if (!entry) {
    const card = el("div", { class: "sensor", "data-sensor": s.sensor });
    card.append(
      el("div", { class: "name" }, s.sensor),
      el("div", { class: "value" }),
      el("div", { class: "muted meta" }),
    );
    const chartBox = el("div", { class: "chart" });
    card.append(chartBox);
    insertSorted(card, s.sensor);
    const chart = new uPlot(chartOpts(Math.max(260, card.clientWidth - 24), "°C"), [[], []], chartBox);
    entry = { card, chart, points: new Map() };
    sensors.set(s.sensor, entry);
  }
  const hum = s.humidity === null ? "" : `  ${fmtNum.format(s.humidity)} %RH`;
  entry.card.querySelector(".value").textContent = `${fmtNum.format(s.temperature)} °C${hum}`;
  entry.card.querySelector(".meta").textContent = `${s.source} · seen ${fmtAge(nowMs - s.lastSeenMs)} ago`;
  entry.chart.setData(merge(entry.points, s.points, nowMs));
}

function insertSorted(card, name) {
  const box = $("sensors");
  const after = [...box.children].find((c) => c.dataset.sensor > name);
  box.insertBefore(card, after ?? null);
}

function renderSinks(sinks) {
  const body = $("sinks").querySelector("tbody");
  body.replaceChildren(
    ...sinks.map((s) => {
      const tr = el("tr", { "data-sink": s.id });
      const state = el("td", {});
      state.append(el("span", { class: `badge state ${s.state}`, title: s.reason ?? "" }, s.state));
      if (s.reason) state.append(el("div", { class: "muted reason" }, s.reason));
      tr.append(
        el("td", {}, s.id),
        el("td", {}, s.type),
        state,
        el("td", {}, String(s.depth)),
        el("td", {}, fmtAge(s.oldestUnshippedMs)),
        el("td", {}, String(s.shipped)),
        el("td", {}, counts(s.errors)),
        el("td", {}, counts({ ...s.dropped, "dead-letter": s.deadLetters })),
      );
      return tr;
    }),
  );
}

function render(doc) {
  $("agent").textContent = doc.agentId;
  const health = $("health");
  health.textContent = doc.health.status;
  health.className = `badge ${doc.health.status}`;
  $("updated").textContent = `updated ${new Date(doc.now).toLocaleTimeString()}`;
  $("rate").textContent = fmtNum.format(doc.ingest.perSecond);
  $("totals").textContent =
    `${doc.ingest.readings} readings, ${doc.ingest.spooled} spooled, ${doc.ingest.duplicates} duplicates since start`;
  $("spool-records").textContent = String(doc.spool.records);
  $("spool-bytes").textContent = `${fmtBytes(doc.spool.bytes)} of ${fmtBytes(doc.spool.maxBytes)}`;
  $("spool-file").textContent = `file ${fmtBytes(doc.spool.fileBytes)}, last seq ${doc.spool.lastSeq}`;
  $("rejects")
    .querySelector("tbody")
    .replaceChildren(
      ...doc.ingest.rejects.map((r) => {
        const tr = el("tr");
        tr.append(el("td", {}, r.source), el("td", {}, r.reason), el("td", {}, String(r.count)));
        return tr;
      }),
    );
  renderSinks(doc.sinks);
  $("components").replaceChildren(
    ...doc.health.components.map((c) =>
      el(
        "li",
        { class: c.ok ? "" : "failing" },
        `${c.kind} ${c.name}: ${c.ok ? "ok" : `failing — ${c.reason ?? ""}`}`,
      ),
    ),
  );
  rateChart ??= new uPlot(
    chartOpts(Math.max(300, $("rate-chart").clientWidth), "readings/s"),
    [[], []],
    $("rate-chart"),
  );
  rateChart.setData(merge(rate, doc.ingest.rate, doc.now));
  for (const s of doc.sensors) renderSensor(s, doc.now);
  const shown = new Set(doc.sensors.map((s) => s.sensor));
  for (const [name, entry] of sensors)
    if (!shown.has(name)) {
      entry.chart.destroy();
      entry.card.remove();
      sensors.delete(name);
    }
  const evicted = doc.sensorsEvicted > 0 ? `, ${doc.sensorsEvicted} evicted (max ${doc.maxSensors})` : "";
  $("sensor-count").textContent = `(${doc.sensors.length}${evicted})`;
}

async function poll() {
  try {
    const res = await fetch(`api/status?since=${since}`, { headers, cache: "no-store" });
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    const doc = await res.json();
    render(doc);
    // Ask again for the bucket still filling, so its mean keeps up.
    since = doc.now - 10_000;
    $("error").hidden = true;
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = `cannot reach the agent: ${err.message}`;
  } finally {
    window.setTimeout(poll, POLL_MS);
  }
}

poll();
