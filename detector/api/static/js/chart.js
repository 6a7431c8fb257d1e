// Small SVG charts: an observed line over its expected band, anomaly spans shaded.
// Written here rather than vendored: two chart shapes do not justify a library.

import { fmtClock } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const HOT = 0.5; // the detector's alert threshold on the score

function finite(v) {
  return v != null && isFinite(v);
}

/** Rounded tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 4) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** The y domain: data and band, padded; anchored at 0 when the data sit close to it. */
function yDomain(s) {
  const obs = s.observed.filter(finite);
  // Every signal MeshPulse watches is >= 0, so a band reaching below 0 is clipped, not scaled to.
  const floor = obs.every((v) => v >= 0) ? 0 : -Infinity;
  const vals = [...obs, ...s.lower, ...s.upper].filter(finite).map((v) => Math.max(v, floor));
  if (!vals.length) return [0, 1];
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (lo >= 0 && lo < 0.35 * hi) lo = 0;
  if (hi === lo) hi = lo + (Math.abs(lo) || 1);
  const pad = (hi - lo) * 0.08;
  return [lo === 0 ? 0 : lo - pad, hi + pad];
}

/** Path through the points, broken wherever a value is missing (no data is never drawn as 0). */
function linePath(xs, ys, x, y) {
  let d = "", pen = false;
  for (let i = 0; i < xs.length; i++) {
    if (!finite(ys[i])) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${x(xs[i]).toFixed(1)},${y(ys[i]).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** One closed area per run of points that have both a lower and an upper bound. */
function bandPath(xs, lower, upper, x, y) {
  let d = "", run = [];
  const flush = () => {
    if (run.length > 1) {
      d += "M" + run.map((i) => `${x(xs[i]).toFixed(1)},${y(upper[i]).toFixed(1)}`).join("L");
      d += "L" + run.reverse().map((i) => `${x(xs[i]).toFixed(1)},${y(lower[i]).toFixed(1)}`).join("L") + "Z";
    }
    run = [];
  };
  for (let i = 0; i < xs.length; i++) (finite(lower[i]) && finite(upper[i]) ? run.push(i) : flush());
  flush();
  return d;
}

function el(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

/** A sparkline of ``series`` into ``host`` (replacing what was there). */
export function sparkline(host, s) {
  const w = host.clientWidth || 100, h = 32;
  const svg = el("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "trend" });
  const ts = s.timestamps;
  if (ts.length > 1) {
    const [lo, hi] = yDomain(s);
    const x = (t) => ((t - ts[0]) / (ts[ts.length - 1] - ts[0])) * (w - 4) + 2;
    const y = (v) => h - 3 - ((v - lo) / (hi - lo)) * (h - 6);
    const clip = `clip-${Math.random().toString(36).slice(2)}`;
    el("rect", { x: 0, y: 0, width: w, height: h }, el("clipPath", { id: clip }, svg));
    el("path", { class: "band", d: bandPath(ts, s.lower, s.upper, x, y), "clip-path": `url(#${clip})` }, svg);
    el("path", { class: "observed", d: linePath(ts, s.observed, x, y) }, svg);
    const i = ts.length - 1;
    if (finite(s.score[i]) && s.score[i] >= HOT && finite(s.observed[i])) {
      el("circle", { class: "hot", cx: x(ts[i]), cy: y(s.observed[i]), r: 2.5 }, svg);
    }
  }
  host.replaceChildren(svg);
}

/**
 * A time chart of ``s`` (a /series payload) into ``host``: axes, band, expected, observed,
 * ``spans`` ([start, end|null] in Unix seconds) shaded, and points over the threshold marked.
 */
export function timeChart(host, s, spans, fmt) {
  const w = host.clientWidth || 600, h = 190, m = { l: 64, r: 10, t: 8, b: 22 };
  const svg = el("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": `${s.signal} over time` });
  const ts = s.timestamps;
  if (ts.length < 2) {
    el("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "axis", fill: "currentColor" }, svg).textContent = "waiting for data…";
    host.replaceChildren(svg);
    return;
  }
  const t0 = ts[0], t1 = ts[ts.length - 1];
  const [lo, hi] = yDomain(s);
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (w - m.l - m.r);
  const y = (v) => h - m.b - ((v - lo) / (hi - lo)) * (h - m.t - m.b);
  const axis = el("g", { class: "axis" }, svg);
  for (const v of niceTicks(lo, hi)) {
    el("line", { x1: m.l, x2: w - m.r, y1: y(v), y2: y(v) }, axis);
    el("text", { x: m.l - 6, y: y(v) + 3, "text-anchor": "end" }, axis).textContent = fmt(v);
  }
  const seconds = t1 - t0 < 900;
  for (const t of niceTicks(t0, t1, Math.max(2, Math.floor(w / 130)))) {
    el("text", { x: x(t), y: h - 6, "text-anchor": "middle" }, axis).textContent = fmtClock(t, seconds);
  }
  for (const [a, b] of spans) {
    const xa = x(Math.max(a, t0)), xb = x(Math.min(b ?? t1, t1));
    if (xb < m.l || xa > w - m.r) continue;
    el("rect", { class: "span", x: xa, y: m.t, width: Math.max(2, xb - xa), height: h - m.t - m.b }, svg);
    el("line", { class: "spanedge", x1: xa, x2: xa, y1: m.t, y2: h - m.b }, svg);
  }
  const clip = `clip-${Math.random().toString(36).slice(2)}`;
  el("rect", { x: m.l, y: m.t, width: w - m.l - m.r, height: h - m.t - m.b }, el("clipPath", { id: clip }, svg));
  el("path", { class: "band", d: bandPath(ts, s.lower, s.upper, x, y), "clip-path": `url(#${clip})` }, svg);
  el("path", { class: "expected", d: linePath(ts, s.expected, x, y) }, svg);
  el("path", { class: "observed", d: linePath(ts, s.observed, x, y) }, svg);
  ts.forEach((t, i) => {
    if (finite(s.score[i]) && s.score[i] >= HOT && finite(s.observed[i])) {
      el("circle", { class: "hot", cx: x(t), cy: y(s.observed[i]), r: 2.2 }, svg);
    }
  });
  host.replaceChildren(svg);
}
