// Numbers with units, times, and HTML escaping: everything the views print goes through here.

export const SIGNALS = {
  rate: { label: "Request rate", short: "rate", fmt: (v) => fmtRate(v) },
  error_ratio: { label: "5xx ratio", short: "5xx", fmt: (v) => fmtRatio(v) },
  p50: { label: "p50 latency", short: "p50", fmt: (v) => fmtMs(v) },
  p90: { label: "p90 latency", short: "p90", fmt: (v) => fmtMs(v) },
  p99: { label: "p99 latency", short: "p99", fmt: (v) => fmtMs(v) },
  // the whole histogram against its baseline, shown as the share of requests slower than the
  // baseline's p90 bucket boundary (expected: the baseline's own share there)
  latency_shape: {
    label: "Latency shape · share slower than the usual p90", short: "shape", fmt: (v) => fmtRatio(v),
  },
};

export const HEALTH_ORDER = { failing: 0, degraded: 1, no_data: 2, healthy: 3, external: 4 };
export const HEALTH_WORD = {
  healthy: "healthy", degraded: "degraded", failing: "failing", no_data: "no data", external: "caller",
};

const NONE = "–";

function sig(v, digits = 3) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 100) return v.toFixed(0);
  return Number(v.toPrecision(digits)).toString();
}

export function fmtRate(v) {
  if (v == null || !isFinite(v)) return NONE;
  return v >= 1000 ? `${sig(v / 1000)}k req/s` : `${sig(v)} req/s`;
}

export function fmtRatio(v) {
  if (v == null || !isFinite(v)) return NONE;
  return `${sig(v * 100, 2)} %`;
}

export function fmtMs(v) {
  if (v == null || !isFinite(v)) return NONE;
  return v >= 1000 ? `${sig(v / 1000)} s` : `${sig(v)} ms`;
}

export function fmtClock(ts, withSeconds = true) {
  const d = new Date(ts * 1000);
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (withSeconds) opts.second = "2-digit";
  return d.toLocaleTimeString([], opts);
}

export function fmtDuration(s) {
  if (s == null || !isFinite(s)) return NONE;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function fmtAgo(ts, now = Date.now() / 1000) {
  return ts == null ? "never" : `${fmtDuration(Math.max(0, now - ts))} ago`;
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function badge(health) {
  return `<span class="badge h-${esc(health)}">${esc(HEALTH_WORD[health] ?? health)}</span>`;
}

export function lastFinite(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null && isFinite(values[i])) return values[i];
  return null;
}

export function subject(e) {
  return { service: "service", version: `version ${e.version}`, pod: `pod ${e.pod}`, edge: `${e.source} → ${e.service}` }[e.scope] ?? e.scope;
}
