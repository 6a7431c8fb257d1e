// The bearer token a person pastes once: kept in sessionStorage (gone when the tab closes) and sent
// only as an Authorization header. No cookie is ever set or sent (credentials: "omit"), so another
// site cannot make this browser approve anything: there is no ambient credential to ride on.

const KEY = "meshpulse.token";

export const token = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY)),
};

export class AuthError extends Error {}

/** POST JSON with the token; throws with the server's reason on failure. */
export async function postJSON(path, body = {}) {
  const headers = { Accept: "application/json", "Content-Type": "application/json" };
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  const r = await fetch(new URL(path, location.origin), {
    method: "POST", headers, body: JSON.stringify(body), credentials: "omit",
  });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 || r.status === 403) throw new AuthError(data.detail || `HTTP ${r.status}`);
  if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : `HTTP ${r.status}`);
  return data;
}

/** The token form in the top bar: save, or forget. */
export function bindTokenForm(form) {
  const input = form.querySelector("input");
  const state = form.querySelector(".token-state");
  const show = () => {
    state.textContent = token.get() ? "token set" : "no token";
    form.classList.toggle("has-token", Boolean(token.get()));
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    input.value = "";
    show();
  });
  form.querySelector(".forget").addEventListener("click", () => { token.set(""); show(); });
  show();
}
