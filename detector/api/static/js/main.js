// Routing by path, polling, and the connection pill. Views redraw from the API every PERIOD_S.

import { api } from "./api.js";
import { bindTokenForm } from "./auth.js";
import { fmtAgo, esc } from "./format.js";
import { renderGraph } from "./graph.js";
import { renderOverview } from "./overview.js";
import { renderService } from "./service.js";

const PERIOD_S = 5;

function route(path) {
  const m = path.match(/^\/ui\/services\/([^/]+)\/?$/);
  if (m) return { view: "service", draw: (root) => renderService(root, decodeURIComponent(m[1])) };
  if (path.startsWith("/ui/graph")) return { view: "graph", draw: renderGraph };
  return { view: "overview", draw: renderOverview };
}

async function status() {
  const pill = document.getElementById("status");
  try {
    const r = await api.ready();
    const src = r.metrics_source;
    pill.className = `status ${r.ready ? "ok" : "bad"}`;
    pill.querySelector(".text").textContent = r.ready
      ? `metrics OK · cycle ${fmtAgo(src.last_success_at)}`
      : `no metrics: ${src.error ?? "unknown"}`;
  } catch {
    pill.className = "status bad";
    pill.querySelector(".text").textContent = "MeshPulse unreachable";
  }
}

let busy = false, again = false;

async function draw() {
  if (busy) { again = true; return; }
  busy = true;
  const { view, draw: render } = route(location.pathname);
  document.body.dataset.view = view;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  const root = document.getElementById("view");
  try {
    await Promise.all([render(root), status()]);
    document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.rendered = String(Date.now());
  } catch (e) {
    root.innerHTML = `<p class="empty error">Could not load this view: ${esc(e.message)}</p>`;
    document.body.dataset.rendered = String(Date.now());
  } finally {
    busy = false;
    if (again) { again = false; draw(); }
  }
}

// Same-page navigation: no reload, the next draw shows the new view at once.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-nav]");
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  history.pushState({}, "", a.getAttribute("href"));
  draw();
});
window.addEventListener("popstate", draw);
window.addEventListener("meshpulse:changed", draw); // after an approve/reject: show the new status now
bindTokenForm(document.getElementById("token-form"));

document.getElementById("period").textContent = PERIOD_S;
draw();
setInterval(draw, PERIOD_S * 1000);
