// Overview: every service, worst first, with its health, open anomalies and three sparklines.

import { api, seriesOrNull } from "./api.js";
import { sparkline } from "./chart.js";
import { HEALTH_ORDER, SIGNALS, badge, esc, lastFinite } from "./format.js";

const SPARK_SIGNALS = ["rate", "error_ratio", "p99"];

function byConcern(a, b) {
  return HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] || b.active_anomalies - a.active_anomalies
    || a.service.localeCompare(b.service);
}

function tile(count, label) {
  return `<div class="tile"><b>${count}</b><span>${label}</span></div>`;
}

function card(s) {
  const href = `/ui/services/${encodeURIComponent(s.service)}`;
  const anoms = s.active_anomalies
    ? `<span class="anoms">${s.active_anomalies} active anomal${s.active_anomalies === 1 ? "y" : "ies"}</span>` : "";
  const sparks = SPARK_SIGNALS.map((sig) => `
      <div class="spark" data-signal="${sig}">
        <div class="label">${SIGNALS[sig].short}</div>
        <div class="value">–</div>
        <div class="plot"></div>
      </div>`).join("");
  return `
    <a class="card ${esc(s.health)}" href="${href}" data-nav data-service="${esc(s.service)}">
      <div class="top"><div><div class="name">${esc(s.service)}</div><div class="ns">${esc(s.namespace)}</div></div>${badge(s.health)}</div>
      ${anoms}
      <div class="sparks">${sparks}</div>
    </a>`;
}

export async function renderOverview(root) {
  const services = (await api.services()).sort(byConcern);
  const count = (h) => services.filter((s) => s.health === h).length;
  const series = await Promise.all(
    services.flatMap((s) => SPARK_SIGNALS.map((sig) => seriesOrNull(s.service, sig))),
  );
  root.innerHTML = `
    <div class="head"><h1>Services</h1><span class="sub">${services.length} in the mesh</span></div>
    <div class="summary">
      ${tile(count("failing"), "failing")}${tile(count("degraded"), "degraded")}
      ${tile(count("no_data"), "no data")}${tile(count("healthy"), "healthy")}
      ${tile(services.reduce((n, s) => n + s.active_anomalies, 0), "active anomalies")}
    </div>
    ${services.length ? `<div class="grid">${services.map(card).join("")}</div>`
      : `<p class="empty">No service has reported yet. MeshPulse lists a service after its first successful cycle.</p>`}`;
  services.forEach((s, i) => {
    const cardEl = root.querySelector(`.card[data-service="${CSS.escape(s.service)}"]`);
    SPARK_SIGNALS.forEach((sig, j) => {
      const data = series[i * SPARK_SIGNALS.length + j];
      const spark = cardEl.querySelector(`.spark[data-signal="${sig}"]`);
      if (!data) return;
      spark.querySelector(".value").textContent = SIGNALS[sig].fmt(lastFinite(data.observed));
      sparkline(spark.querySelector(".plot"), data);
    });
  });
}
