// Recommendations on the service page: what MeshPulse proposes, with its evidence; a person approves
// or rejects the pending ones. Other statuses (dry-run, info, approved, applied…) are shown, not
// actionable here: the decide mode decides what is pending, the page only follows it.

import { AuthError, postJSON } from "./auth.js";
import { esc, fmtClock } from "./format.js";

let message = null; // survives the periodic redraw: { kind: "ok" | "error", text }

function evidence(ev) {
  const rows = Object.entries(ev || {}).map(([k, v]) =>
    `<dt>${esc(k)}</dt><dd>${esc(typeof v === "object" ? JSON.stringify(v) : String(v))}</dd>`);
  return rows.length ? `<dl class="evidence">${rows.join("")}</dl>` : "";
}

function card(r) {
  const actions = r.status === "pending"
    ? `<div class="actions">
         <button class="approve" data-rec="${esc(r.id)}" data-act="approve">Approve</button>
         <button class="reject" data-rec="${esc(r.id)}" data-act="reject">Reject</button>
       </div>`
    : "";
  return `
    <li class="rec" data-rec="${esc(r.id)}" data-status="${esc(r.status)}">
      <div class="rec-head"><b>${esc(r.title)}</b>
        <span class="rec-status s-${esc(r.status)}">${esc(r.status)}</span>
        <span class="sub">${esc(r.kind)} · ${fmtClock(r.created_at)}</span></div>
      <p class="rationale">${esc(r.rationale)}</p>
      ${evidence(r.evidence)}${actions}
    </li>`;
}

export function recommendationsSection(recs) {
  const note = message ? `<p class="rec-msg ${message.kind}" role="status">${esc(message.text)}</p>` : "";
  const body = recs.length
    ? `<ul class="recs">${recs.map(card).join("")}</ul>`
    : `<p class="empty">No recommendations for this service.</p>`;
  return `<section class="recommendations"><h2>Recommendations</h2>${note}${body}</section>`;
}

async function decide(button) {
  const { rec, act } = button.dataset;
  button.disabled = true;
  try {
    await postJSON(`/api/v1/recommendations/${encodeURIComponent(rec)}/${act}`, { actor: "dashboard" });
    message = { kind: "ok", text: `${rec}: ${act === "approve" ? "approved" : "rejected"}` };
  } catch (e) {
    const hint = e instanceof AuthError ? " — paste an API token in the top bar" : "";
    message = { kind: "error", text: `${act} failed: ${e.message}${hint}` };
  }
  window.dispatchEvent(new Event("meshpulse:changed"));
}

document.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-act]");
  if (button && button.closest(".recommendations")) decide(button);
});
