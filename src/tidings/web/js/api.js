// Thin client of the tidings REST API (relative URLs, so the dashboard also works behind a path prefix).

export const PAGE = 1000;      // the API's largest page
export const MAX_EVENTS = 5000; // the most events the dashboard loads for one view (newest first)

export class ApiError extends Error {
  constructor(status, body) {
    const err = body && body.error ? body.error : { code: `http_${status}`, message: `HTTP ${status}` };
    super(err.hint ? `${err.message} ${err.hint}` : err.message);
    this.status = status;
    this.code = err.code;
  }
}

async function getJSON(path, signal) {
  const response = await fetch(path, { signal, headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const vocabulary = () => getJSON("api/vocabulary");
export const stats = () => getJSON("api/stats");
export const eventDetail = (id) => getJSON(`api/events/${encodeURIComponent(id)}`);

// Filters (as the API names them) → query string; lists repeat their key, empty values are dropped.
export function queryString(filters) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && String(v).trim() !== "") params.append(key, String(v).trim());
    }
  }
  return params.toString();
}

// Load matching events as flat rows, page by page, calling onPage(rows, total) after each page so the
// views fill in progressively. Stops at MAX_EVENTS; an AbortSignal cancels a load made stale by new filters.
export async function loadEvents(filters, onPage, signal) {
  const base = queryString({ ...filters, shape: "flat", limit: PAGE });
  const rows = [];
  let total = 0;
  for (let offset = 0; offset < MAX_EVENTS; offset += PAGE) {
    const page = await getJSON(`api/events?${base}&offset=${offset}`, signal);
    total = page.total;
    rows.push(...page.events);
    onPage(rows, total);
    if (page.events.length < PAGE || rows.length >= total) break;
  }
  return { rows, total };
}

export async function postDocument(doc) {
  const response = await fetch("api/documents", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(doc),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}
