// The service graph: callers on the left, callees to the right (longest-path layers),
// nodes outlined by health, anomalous edges dashed in the failing colour.

import { api } from "./api.js";
import { HEALTH_WORD, esc, fmtMs, fmtRate, fmtRatio } from "./format.js";

const NODE_W = 178, NODE_H = 46, COL_GAP = 90, ROW_GAP = 18, PAD = 20;

/** Longest path from any root; nodes on a cycle keep the depth reached when the walk stops. */
export function layers(nodes, edges) {
  const depth = Object.fromEntries(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) {
      if (e.source === e.destination) continue;
      if (depth[e.destination] < depth[e.source] + 1) { depth[e.destination] = depth[e.source] + 1; moved = true; }
    }
    if (!moved) break;
  }
  return depth;
}

function layout(graph) {
  const depth = layers(graph.nodes, graph.edges);
  const cols = [];
  for (const n of graph.nodes) (cols[depth[n.id]] ??= []).push(n);
  cols.forEach((c) => c.sort((a, b) => a.id.localeCompare(b.id)));
  const rows = Math.max(1, ...cols.map((c) => c?.length ?? 0));
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP;
  const pos = {};
  cols.forEach((col, ci) => {
    const colH = col.length * NODE_H + (col.length - 1) * ROW_GAP;
    col.forEach((n, ri) => {
      pos[n.id] = { x: PAD + ci * (NODE_W + COL_GAP), y: (height - colH) / 2 + ri * (NODE_H + ROW_GAP) };
    });
  });
  return { pos, width: PAD * 2 + cols.length * NODE_W + (cols.length - 1) * COL_GAP, height };
}

function edgeSvg(e, pos) {
  const a = pos[e.source], b = pos[e.destination];
  if (!a || !b) return "";
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x - 6, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
  const width = (1 + Math.log10(1 + (e.rate ?? 0))).toFixed(2);
  const tip = `${e.source} → ${e.destination}: ${fmtRate(e.rate)}, 5xx ${fmtRatio(e.error_ratio)}, p99 ${fmtMs(e.p99_ms)}`;
  return `<path class="edge${e.anomalous ? " anomalous" : ""}" stroke-width="${width}" marker-end="url(#arrow${e.anomalous ? "-hot" : ""})"
    d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}"><title>${esc(tip)}</title></path>`;
}

function nodeSvg(n, pos) {
  const p = pos[n.id];
  const sub = n.health === "external" ? "caller" : `${HEALTH_WORD[n.health]}${n.active_anomalies ? ` · ${n.active_anomalies} active` : ""}`;
  const body = `<rect x="${p.x}" y="${p.y}" width="${NODE_W}" height="${NODE_H}" rx="8"/>
    <text x="${p.x + 12}" y="${p.y + 19}">${esc(n.id)}</text>
    <text class="nsub" x="${p.x + 12}" y="${p.y + 35}">${esc(sub)}</text>`;
  if (n.health === "external") return `<g class="node h-external">${body}</g>`;
  return `<a class="node h-${esc(n.health)}" href="/ui/services/${encodeURIComponent(n.id)}" data-nav data-node="${esc(n.id)}">${body}</a>`;
}

function edgeRow(e) {
  return `<tr><td>${esc(e.source)} → ${esc(e.destination)}</td><td class="num">${fmtRate(e.rate)}</td>
    <td class="num">${fmtRatio(e.error_ratio)}</td><td class="num">${fmtMs(e.p99_ms)}</td>
    <td>${e.anomalous ? '<span class="sev-critical">anomalous</span>' : '<span class="closed">normal</span>'}</td></tr>`;
}

export async function renderGraph(root) {
  const graph = await api.graph();
  const { pos, width, height } = layout(graph);
  const worst = [...graph.edges].sort((a, b) => b.anomalous - a.anomalous || (b.rate ?? 0) - (a.rate ?? 0));
  root.innerHTML = `
    <div class="head"><h1>Service graph</h1>
      <span class="sub">${graph.nodes.length} nodes · ${graph.edges.length} edges · ${graph.edges.filter((e) => e.anomalous).length} anomalous</span></div>
    ${graph.nodes.length ? `<div class="graph"><svg viewBox="0 0 ${width} ${height}" style="max-height:${height}px" role="img" aria-label="service graph">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill="var(--faint)"/></marker>
        <marker id="arrow-hot" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill="var(--failing)"/></marker>
      </defs>
      ${graph.edges.map((e) => edgeSvg(e, pos)).join("")}
      ${graph.nodes.map((n) => nodeSvg(n, pos)).join("")}
    </svg></div>` : `<p class="empty">No traffic seen yet.</p>`}
    <section style="margin-top:22px"><h2>Edges</h2>
      <table><thead><tr><th>caller → callee</th><th>rate</th><th>5xx</th><th>p99</th><th>state</th></tr></thead>
      <tbody>${worst.map(edgeRow).join("")}</tbody></table></section>`;
}
