// One service: rate, 5xx ratio, p50, p99 and the latency shape with their expected band, anomaly spans shaded,
// then every event on the service (any scope) with the detector's own explanation, then its
// recommendations (approve/reject when pending).

import { api, seriesOrNull } from "./api.js";
import { timeChart } from "./chart.js";
import { recommendationsSection } from "./recommendations.js";
import { SIGNALS, badge, esc, fmtAgo, fmtClock, fmtDuration, lastFinite, subject } from "./format.js";

const CHART_SIGNALS = ["rate", "error_ratio", "p50", "p99", "latency_shape"];

function panel(sig) {
  return `
    <div class="panel" data-signal="${sig}">
      <div class="ptitle"><h2>${SIGNALS[sig].label}</h2><span class="now"></span></div>
      <div class="chart"></div>
    </div>`;
}

function eventRow(e, now) {
  const open = e.ended_at == null;
  // every watched signal is >= 0: a band edge below 0 is the detector's arithmetic, not a value
  const fmt = (v) => (SIGNALS[e.signal]?.fmt ?? String)(v == null ? v : Math.max(0, v));
  return `
    <tr class="${open ? "open" : "closed"}">
      <td class="num">${fmtClock(e.started_at)}</td>
      <td class="state">${open ? "open" : "closed"} · ${fmtDuration((e.ended_at ?? now) - e.started_at)}</td>
      <td class="sev-${esc(e.severity)}">${esc(e.severity)}</td>
      <td>${esc(SIGNALS[e.signal]?.label ?? e.signal)}</td>
      <td>${esc(subject(e))}</td>
      <td class="num">${fmt(e.observed)} <span class="closed">vs ${fmt(e.lower)}–${fmt(e.upper)}</span></td>
      <td class="expl">${esc(e.explanation)}</td>
    </tr>`;
}

function nowText(sig, data) {
  if (!data) return "no series";
  const fmt = SIGNALS[sig].fmt;
  return `<b>${fmt(lastFinite(data.observed))}</b> · expected ${fmt(lastFinite(data.expected))}`;
}

export async function renderService(root, name) {
  const [svc, events, recs, ...series] = await Promise.all([
    api.service(name),
    api.anomalies({ service: name, limit: 200 }),
    api.recommendations({ service: name, limit: 50 }),
    ...CHART_SIGNALS.map((sig) => seriesOrNull(name, sig)),
  ]);
  const now = Date.now() / 1000;
  root.innerHTML = `
    <div class="head">
      <h1>${esc(svc.service)}</h1>${badge(svc.health)}
      <span class="sub">${esc(svc.namespace)} · ${svc.active_anomalies} active · last data ${fmtAgo(svc.last_data_at, now)}</span>
    </div>
    <div class="legend">
      <span><i class="l-obs"></i>observed</span><span><i class="l-exp"></i>expected</span>
      <span><i class="l-band"></i>expected band</span><span><i class="l-span"></i>anomaly</span>
    </div>
    <div class="charts">${CHART_SIGNALS.map(panel).join("")}</div>
    <section>
      <h2>Anomaly events</h2>
      ${events.length ? `<table><thead><tr><th>started</th><th>state</th><th>severity</th><th>signal</th><th>where</th>
        <th>observed vs band</th><th>explanation</th></tr></thead><tbody>${events.map((e) => eventRow(e, now)).join("")}</tbody></table>`
        : `<p class="empty">No anomaly events for this service.</p>`}
    </section>
    ${recommendationsSection(Array.isArray(recs) ? recs : [])}`;
  CHART_SIGNALS.forEach((sig, i) => {
    const host = root.querySelector(`.panel[data-signal="${sig}"]`);
    host.querySelector(".now").innerHTML = nowText(sig, series[i]);
    if (!series[i]) return;
    const spans = events.filter((e) => e.scope === "service" && e.signal === sig).map((e) => [e.started_at, e.ended_at]);
    timeChart(host.querySelector(".chart"), series[i], spans, SIGNALS[sig].fmt);
  });
}
