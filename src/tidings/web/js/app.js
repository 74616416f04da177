// The dashboard: filters → API → map, timeline, actor network, event list and event panel.
//
// The views draw the server's aggregates over every matching event (/api/aggregates/*); only the event
// list fetches rows, a page at a time. The timeline brush writes the since/until filters and a clicked
// place narrows the list to that place. The filters live in the page URL, so a view can be bookmarked or
// shared, and "download this view" exports exactly what the filters match.

import * as api from "./api.js";
import { MapView } from "./map.js";
import { NetworkView } from "./network.js";
import { renderDetail, renderError, renderList } from "./panel.js";
import { MODALITY_STYLES, swatch, typeColor } from "./style.js";
import { TimelineView } from "./timeline.js";

const TEXT_FIELDS = ["actor", "country", "place", "source", "text", "since", "until"];
// Store error codes → the field they are about (others are shown at the top of the form).
const CODE_FIELDS = { E304: "modality", E305: "text", E307: "until" };
const $ = (sel) => document.querySelector(sel);

const state = { rows: [], total: 0, focus: null, selected: null, shown: api.LIST_PAGE, load: null, filters: {} };
let map, timeline, network;

// ---------------------------------------------------------------------------------------------- filters

function readFilters() {
  const form = $("#filter-form");
  const checked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
  const filters = { type: checked("type"), modality: checked("modality") };
  for (const name of TEXT_FIELDS) filters[name] = form.elements[name].value.trim();
  return filters;
}

function writeFilters(params) {
  const form = $("#filter-form");
  for (const name of ["type", "modality"]) {
    const wanted = new Set(params.getAll(name));
    for (const input of form.querySelectorAll(`input[name=${name}]`)) input.checked = wanted.has(input.value);
  }
  for (const name of TEXT_FIELDS) form.elements[name].value = params.get(name) || "";
}

function checklist(container, name, items) {
  container.replaceChildren(...items.map(({ value, color, modality, title }) => {
    const input = Object.assign(document.createElement("input"), { type: "checkbox", name, value });
    const label = document.createElement("label");
    label.title = title || "";
    label.dataset.value = value;
    label.append(input, swatch(color, modality, 14), value,
                 Object.assign(document.createElement("span"), { className: "count", textContent: "" }));
    input.addEventListener("change", () => reload());
    return label;
  }));
}

// Counts next to each checkbox: what the other filters match, per type and per modality.
function updateCounts(facets) {
  for (const [name, counts] of [["type", facets.type], ["modality", facets.modality]]) {
    for (const label of document.querySelectorAll(`#${name}-list label`)) {
      const n = counts[label.dataset.value] || 0;
      label.querySelector(".count").textContent = n;
      label.classList.toggle("empty", n === 0);
    }
  }
}

// An error goes next to the field it is about (and into view); others at the top of the form.
function showError(field, message) {
  const form = $("#filter-form");
  const input = field && (form.elements[field] instanceof Element ? form.elements[field] : null);
  const anchor = input ? input.closest("label") : field ? $(`#${field}-list`) : null;
  if (!anchor) {
    $("#form-error").textContent = message;
    $("#form-error").hidden = false;
    $("#form-error").scrollIntoView({ block: "nearest" });
    return;
  }
  const note = Object.assign(document.createElement("p"), { className: "error field-error", textContent: message });
  note.setAttribute("role", "alert");
  note.dataset.field = field;
  anchor.after(note);
  input?.setAttribute("aria-invalid", "true");
  (input || anchor).scrollIntoView({ block: "nearest" });
}

function clearErrors() {
  $("#form-error").hidden = true;
  for (const note of document.querySelectorAll(".field-error")) note.remove();
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function errorField(err) {
  for (const d of err.details || []) {
    const field = d.loc?.[1];
    if (field && (TEXT_FIELDS.includes(field) || field === "type" || field === "modality")) return field;
  }
  if (CODE_FIELDS[err.code]) return CODE_FIELDS[err.code];
  if (/PLOVER type/.test(err.message)) return "type";
  return null;
}

function checkFilters(filters) {
  if (filters.since && filters.until && filters.since > filters.until) {
    return { field: "until", message: `Until (${filters.until}) is before since (${filters.since}).` };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------- loading

async function reload() {
  const filters = readFilters();
  history.replaceState(null, "", `?${api.queryString(filters)}`);
  state.load?.abort();
  const load = (state.load = new AbortController());
  clearErrors();
  Object.assign(state, { filters, focus: null, shown: api.LIST_PAGE });
  document.body.dataset.status = "loading";
  updateDownloads(filters);
  const local = checkFilters(filters);
  try {
    if (local) throw Object.assign(new Error(local.message), { field: local.field });
    const signal = load.signal;
    const [facets, places, times, actors, page] = await Promise.all([
      api.facets(filters, signal), api.mapAggregate(filters, signal),
      api.timelineAggregate(filters, stackBy(), signal), api.networkAggregate(filters, signal),
      api.listEvents(filters, 0, signal)]);
    if (signal.aborted) return;
    updateCounts(facets);
    map.setData(places);
    $("select[name=map-mode] option[value=admin1-fatalities]").disabled = !places.fatalities_available;
    timeline.setData(times);
    network.setData(actors);
    Object.assign(state, { rows: page.events, total: page.total });
    refreshList();
    $("#summary").textContent = `${facets.total} event${facets.total === 1 ? "" : "s"}`
      + ` · ${places.places.length} places · ${actors.total_nodes} actors`;
    document.body.dataset.status = "ready";
  } catch (err) {
    if (err.name === "AbortError") return;
    showError(err.field || errorField(err), err.message);
    Object.assign(state, { rows: [], total: 0 });
    refreshList();
    $("#summary").textContent = "no events: fix the filter shown in red";
    document.body.dataset.status = "error";
  }
}

const stackBy = () => $("select[name=stack-by]").value;

function updateDownloads(filters) {
  for (const format of ["csv", "geojson", "parquet"]) $(`#download-${format}`).href = api.exportUrl(filters, format);
}

async function focusPlace(place) {
  state.focus = place;
  const filters = { ...state.filters, place: place.geonameid ?? place.name };
  const page = await api.listEvents(filters, 0);
  Object.assign(state, { rows: page.events, total: page.total, shown: api.LIST_PAGE });
  refreshList();
  if (page.events.length) await select(page.events[0].id);
}

async function more() {
  const filters = state.focus ? { ...state.filters, place: state.focus.geonameid ?? state.focus.name } : state.filters;
  const page = await api.listEvents(filters, state.rows.length);
  state.rows = [...state.rows, ...page.events];
  state.shown = state.rows.length;
  refreshList();
}

function refreshList() {
  const where = state.focus ? ` at ${state.focus.name}${state.focus.area ? ` (${state.focus.level})` : ""}` : "";
  $("#list-title").textContent = `${state.total} event${state.total === 1 ? "" : "s"}${where}`;
  $("#list-clear").hidden = !state.focus;
  renderList($("#event-list"), state.rows, state.shown, state.selected, select);
  $("#list-more").hidden = state.rows.length >= state.total;
}

async function select(id) {
  state.selected = id;
  for (const li of document.querySelectorAll("#event-list li")) li.setAttribute("aria-selected", String(li.dataset.id === id));
  const detail = $("#detail");
  try {
    renderDetail(detail, await api.eventDetail(id));
    detail.dataset.eventId = id;
    detail.scrollTop = 0;
  } catch (err) {
    renderError(detail, err.message);
  }
}

// ---------------------------------------------------------------------------------------------- start

async function start() {
  map = new MapView($("#map"), { onPick: (place) => focusPlace(place) });
  timeline = new TimelineView($("#timeline"), {
    onBrush: (range) => {
      const form = $("#filter-form");
      form.elements.since.value = range ? range[0].toISOString().slice(0, 10) : "";
      form.elements.until.value = range ? range[1].toISOString().slice(0, 10) : "";
      reload();
    },
    onStackBy: async (by) => timeline.setData(await api.timelineAggregate(state.filters, by)),
  });
  network = new NetworkView($("#network"), { onActor: (name) => {
    $("#filter-form").elements.actor.value = name;
    reload();
  } });
  const vocab = await api.vocabulary();
  checklist($("#type-list"), "type", vocab.types.map((t) => ({ value: t.name, color: typeColor(t.name),
    modality: "asserted", title: t.description })));
  checklist($("#modality-list"), "modality", vocab.modalities.map((m) => ({ value: m, color: "#4a5d70",
    modality: m, title: MODALITY_STYLES[m] })));
  writeFilters(new URLSearchParams(location.search));

  $("#filter-form").addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  $("#reset").addEventListener("click", () => { writeFilters(new URLSearchParams()); reload(); });
  for (const button of document.querySelectorAll("[data-clear]")) {
    button.addEventListener("click", () => {
      for (const i of document.querySelectorAll(`input[name=${button.dataset.clear}]`)) i.checked = false;
      reload();
    });
  }
  $("#list-clear").addEventListener("click", () => { map.select(null); reload(); });
  $("#list-more").addEventListener("click", () => more());
  $("select[name=map-mode]").addEventListener("change", (e) => map.setMode(e.target.value));
  $("#add-form").addEventListener("submit", addArticle);
  await map.loadBasemap();
  await reload();
}

async function addArticle(event) {
  event.preventDefault();
  const form = event.target, status = $("#add-status");
  const doc = { text: form.elements.text.value };
  if (form.elements.published.value) doc.published = form.elements.published.value;
  if (form.elements.outlet.value.trim()) doc.outlet = form.elements.outlet.value.trim();
  status.textContent = "analysing… (the first article loads the language model)";
  try {
    const analysis = await api.postDocument(doc);
    status.textContent = `${analysis.events.length} event(s) stored.`;
    form.elements.text.value = "";
    await reload();
  } catch (err) {
    status.textContent = err.message;
  }
}

// A small handle for tests and the browser console.
window.tidings = {
  state, select, reload,
  markers: () => map.markerPositions(),
  redraw: () => { const t = performance.now(); map.render(); return performance.now() - t; },  // ms
};

start().catch((err) => {
  document.body.dataset.status = "error";
  $("#summary").textContent = `Could not start: ${err.message}`;
});
