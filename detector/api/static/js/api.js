// The JSON API, and only the JSON API: the dashboard has no data path of its own.

export class ApiError extends Error {}

export async function getJSON(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v != null) url.searchParams.set(k, v);
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok && r.status !== 503) throw new ApiError(`${path}: HTTP ${r.status}`);
  return r.json();
}

export const api = {
  services: () => getJSON("/api/v1/services"),
  service: (name) => getJSON(`/api/v1/services/${encodeURIComponent(name)}`),
  series: (name, signal, since) => getJSON(`/api/v1/services/${encodeURIComponent(name)}/series`, { signal, since }),
  anomalies: (params) => getJSON("/api/v1/anomalies", params),
  graph: () => getJSON("/api/v1/graph"),
  recommendations: (params) => getJSON("/api/v1/recommendations", params),
  ready: () => getJSON("/readyz"),
};

/** A series, or null when the service has none for this signal (404) instead of failing the page. */
export async function seriesOrNull(name, signal, since) {
  try {
    return await api.series(name, signal, since);
  } catch (e) {
    if (e instanceof ApiError) return null;
    throw e;
  }
}
