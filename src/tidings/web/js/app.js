// The dashboard: filters → API → map, timeline, actor network, event list and event panel.
//
// Server-side filters (the API's, same names as the CLI) decide which events are loaded; the timeline
// brush and a clicked marker narrow the loaded events client-side, so they respond instantly.
// The filters live in the page URL, so a view can be bookmarked or shared.

import * as api from "./api.js";
import { MapView } from "./map.js";
import { NetworkView } from "./network.js";
import { renderDetail, renderError, renderList } from "./panel.js";
import { MODALITY_STYLES, swatch, typeColor } from "./style.js";
import { TimelineView } from "./timeline.js";

const LIST_STEP = 200;
const TEXT_FIELDS = ["actor", "country", "place", "source", "text", "since", "until"];
const $ = (sel) => document.querySelector(sel);

const state = { rows: [], total: 0, brush: null, focus: null, selected: null, shown: LIST_STEP, load: null };
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
  container.replaceChildren(...items.map(({ value, color, modality, title, count }) => {
    const input = Object.assign(document.createElement("input"), { type: "checkbox", name, value });
    const label = document.createElement("label");
    label.title = title || "";
    label.append(input, swatch(color, modality, 14), value);
    if (count !== undefined) label.append(Object.assign(document.createElement("span"), { className: "count", textContent: count }));
    input.addEventListener("change", () => reload());
    return label;
  }));
}

// ---------------------------------------------------------------------------------------------- loading

async function reload() {
  const filters = readFilters();
  history.replaceState(null, "", `?${api.queryString(filters)}`);
  state.load?.abort();
  const load = (state.load = new AbortController());
  Object.assign(state, { rows: [], total: 0, brush: null, focus: null, shown: LIST_STEP });
  document.body.dataset.status = "loading";
  $("#form-error").hidden = true;
  timeline.clear();
  try {
    await api.loadEvents(filters, (rows, total) => {
      if (load.signal.aborted) return;
      state.rows = rows; state.total = total;
      refresh();
    }, load.signal);
    refresh();
    document.body.dataset.status = "ready";
  } catch (err) {
    if (err.name === "AbortError") return;
    $("#form-error").textContent = err.message;
    $("#form-error").hidden = false;
    state.rows = []; state.total = 0;
    refresh();
    document.body.dataset.status = "error";
  }
}

function inBrush(row) {
  if (!state.brush) return true;
  if (!row.date_start) return false;
  const [a, b] = state.brush.map((d) => d.toISOString().slice(0, 10));
  return row.date_start <= b && (row.date_end || row.date_start) >= a;
}

function refresh() {
  const dated = state.rows.filter(inBrush);
  map.setEvents(dated);
  timeline.setEvents(state.rows);
  network.setEvents(dated);
  refreshList(dated);
  const loaded = state.rows.length < state.total ? ` (newest ${state.rows.length} loaded)` : "";
  const brushed = state.brush ? ` · ${dated.length} in selected dates` : "";
  $("#summary").textContent = `${state.total} event${state.total === 1 ? "" : "s"}${loaded}${brushed}`;
}

function refreshList(rows = state.rows.filter(inBrush)) {
  const ids = state.focus ? new Set(state.focus.ids) : null;
  const shown = ids ? rows.filter((r) => ids.has(r.id)) : rows;
  $("#list-title").textContent = state.focus
    ? `${shown.length} ${state.focus.type} (${state.focus.modality}) at ${state.focus.place}`
    : `Events (${shown.length})`;
  $("#list-clear").hidden = !state.focus;
  renderList($("#event-list"), shown, state.shown, state.selected, select);
  $("#list-more").hidden = shown.length <= state.shown;
}

async function select(id) {
  state.selected = id;
  map.select(id);
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
  map = new MapView($("#map"), { onPick: (marker) => {
    state.focus = marker; state.shown = LIST_STEP;
    refreshList();
    select(marker.ids[0]);
  } });
  timeline = new TimelineView($("#timeline"), { onBrush: (range) => {
    state.brush = range; state.focus = null;
    const form = $("#filter-form");
    form.elements.since.value = range ? range[0].toISOString().slice(0, 10) : "";
    form.elements.until.value = range ? range[1].toISOString().slice(0, 10) : "";
    refresh();
  } });
  network = new NetworkView($("#network"), { onActor: (code) => {
    $("#filter-form").elements.actor.value = code;
    reload();
  } });
  const [vocab, stats] = await Promise.all([api.vocabulary(), api.stats()]);
  checklist($("#type-list"), "type", vocab.types.map((t) => ({ value: t.name, color: typeColor(t.name),
    modality: "asserted", title: t.description, count: stats.events_by_type[t.name] || 0 })));
  checklist($("#modality-list"), "modality", vocab.modalities.map((m) => ({ value: m, color: "#4a5d70",
    modality: m, title: MODALITY_STYLES[m], count: stats.events_by_modality[m] || 0 })));
  writeFilters(new URLSearchParams(location.search));

  $("#filter-form").addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  $("#reset").addEventListener("click", () => { writeFilters(new URLSearchParams()); reload(); });
  for (const button of document.querySelectorAll("[data-clear]")) {
    button.addEventListener("click", () => {
      for (const i of document.querySelectorAll(`input[name=${button.dataset.clear}]`)) i.checked = false;
      reload();
    });
  }
  $("#list-clear").addEventListener("click", () => { state.focus = null; refreshList(); });
  $("#list-more").addEventListener("click", () => { state.shown += LIST_STEP; refreshList(); });
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
