// Thin client of the tidings REST API (relative URLs, so the dashboard also works behind a path prefix).
//
// The views draw server-side aggregates (/api/aggregates/*): counts over every matching event, whatever
// their number. Only the event list fetches rows, one short page at a time.

export const LIST_PAGE = 200;   // rows of the event list per request

export class ApiError extends Error {
  constructor(status, body) {
    const err = body && body.error ? body.error : { code: `http_${status}`, message: `HTTP ${status}` };
    super(err.hint ? `${err.message} ${err.hint}` : err.message);
    this.status = status;
    this.code = err.code;
    this.details = err.details || [];
  }
}

async function getJSON(path, signal) {
  const response = await fetch(path, { signal, headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const vocabulary = () => getJSON("api/vocabulary");
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

const aggregate = (name, filters, extra, signal) =>
  getJSON(`api/aggregates/${name}?${queryString({ ...filters, ...extra })}`, signal);

export const facets = (filters, signal) => aggregate("facets", filters, {}, signal);
export const mapAggregate = (filters, signal) => aggregate("map", filters, {}, signal);
export const timelineAggregate = (filters, by, signal) => aggregate("timeline", filters, { by }, signal);
export const networkAggregate = (filters, signal) => aggregate("network", filters, { limit: 150 }, signal);

// One page of matching events as flat rows, newest first: {total, events}.
export const listEvents = (filters, offset, signal) =>
  getJSON(`api/events?${queryString({ ...filters, shape: "flat", limit: LIST_PAGE, offset })}`, signal);

// "Download this view": every matching event, through the export endpoint.
export const exportUrl = (filters, format) => `api/export?${queryString({ ...filters, format })}`;

export async function postDocument(doc) {
  const response = await fetch("api/documents", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(doc),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}
