// The map: an offline world basemap (world-atlas TopoJSON) and event markers, drawn on one canvas.
//
// Events are aggregated into one marker per (place, type, modality) — thousands of events become a few
// hundred markers — sized by the sum of independent sources (1 per event until the across-article layer
// says more). Markers keep their screen size while the map zooms; markers sharing a place fan out in a ring.

import { drawMarker, typeColor } from "./style.js";

const BASEMAPS = { coarse: "web/vendor/world-atlas/countries-110m.json",
                   fine: "web/vendor/world-atlas/countries-50m.json" };
const FINE_FROM_ZOOM = 4;   // switch to the 50m basemap beyond this zoom
const LABEL_FROM_ZOOM = 6;  // place labels beyond this zoom

export class MapView {
  constructor(section, { onPick }) {
    this.section = section;
    this.canvas = section.querySelector("canvas");
    this.tooltip = section.querySelector(".tooltip");
    this.note = section.querySelector(".map-note");
    this.ctx = this.canvas.getContext("2d");
    this.onPick = onPick;
    this.projection = d3.geoNaturalEarth1();
    this.transform = d3.zoomIdentity;
    this.layers = {};           // basemap name → {land: Path2D, borders: Path2D}
    this.markers = [];          // aggregated markers with their screen positions
    this.selectedId = null;
    this.fitted = false;
    this.zoom = d3.zoom().scaleExtent([1, 400]).on("zoom", (e) => { this.transform = e.transform; this.draw(); });
    d3.select(this.canvas).call(this.zoom).on("dblclick.zoom", null);
    this.canvas.addEventListener("click", (e) => this.click(e));
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
    new ResizeObserver(() => this.resize()).observe(section);
  }

  async loadBasemap(name = "coarse") {
    if (this.layers[name]) return;
    this.layers[name] = "loading";
    const topo = await (await fetch(BASEMAPS[name])).json();
    const countries = topojson.feature(topo, topo.objects.countries);
    this.layers[name] = { topo, countries };
    this.project(name);
    this.draw();
  }

  // Paths are projected once per size into Path2D objects; zoom and pan only change the transform.
  project(name) {
    const layer = this.layers[name];
    if (!layer || layer === "loading") return;
    const path = d3.geoPath(this.projection);
    layer.land = new Path2D(path(layer.countries));
    layer.borders = new Path2D(path(topojson.mesh(layer.topo, layer.topo.objects.countries, (a, b) => a !== b)));
  }

  resize() {
    const { width, height } = this.section.getBoundingClientRect();
    if (!width || !height) return;
    const dpr = window.devicePixelRatio || 1;
    this.width = width; this.height = height;
    this.canvas.width = Math.round(width * dpr); this.canvas.height = Math.round(height * dpr);
    this.projection.fitExtent([[4, 4], [width - 4, height - 4]], { type: "Sphere" });
    for (const name of Object.keys(this.layers)) this.project(name);
    this.zoom.extent([[0, 0], [width, height]]).translateExtent([[-width, -height], [2 * width, 2 * height]]);
    if (!this.fitted && this.groups?.length) this.fit();
    this.draw();
  }

  // rows: flat events. Groups them into markers and, the first time data arrives, zooms to fit them.
  setEvents(rows) {
    const groups = new Map();
    for (const row of rows) {
      if (row.place_lat == null || row.place_lon == null) continue;
      const key = `${row.place_lat},${row.place_lon}|${row.type}|${row.modality}`;
      let g = groups.get(key);
      if (!g) {
        g = { key, lat: row.place_lat, lon: row.place_lon, place: row.place_name, country: row.place_country,
              level: row.place_feature || "city", type: row.type, modality: row.modality, ids: [], weight: 0 };
        groups.set(key, g);
      }
      g.ids.push(row.id);
      g.weight += row.independent_sources || 1;
    }
    this.groups = [...groups.values()].sort((a, b) => b.weight - a.weight);  // big ones first, small on top
    const placed = rows.length - rows.filter((r) => r.place_lat == null).length;
    this.note.textContent = `${placed} of ${rows.length} events have coordinates`;
    if (!this.fitted && this.groups.length && this.width) this.fit();
    this.draw();
  }

  // Zoom so every marker is in view (at most to a region's scale: one city alone stays in context).
  fit() {
    const xy = this.groups.map((g) => this.projection([g.lon, g.lat]));
    const [x0, x1] = d3.extent(xy, (p) => p[0]), [y0, y1] = d3.extent(xy, (p) => p[1]);
    const k = Math.min(60, 0.7 / Math.max((x1 - x0 + 1) / this.width, (y1 - y0 + 1) / this.height));
    const t = d3.zoomIdentity.translate(this.width / 2, this.height / 2).scale(Math.max(1, k))
      .translate(-(x0 + x1) / 2, -(y0 + y1) / 2);
    d3.select(this.canvas).call(this.zoom.transform, t);
    this.fitted = true;
  }

  select(id) { this.selectedId = id; this.draw(); }

  draw() {
    if (!this.width || this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.render(); });
  }

  render() {
    const { ctx, transform: t } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const wantFine = t.k >= FINE_FROM_ZOOM;
    if (wantFine && !this.layers.fine) this.loadBasemap("fine");
    const layer = (wantFine && this.layers.fine?.land) ? this.layers.fine : this.layers.coarse;
    if (layer?.land) {
      ctx.save();
      ctx.translate(t.x, t.y); ctx.scale(t.k, t.k);
      ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--land");
      ctx.fill(layer.land);
      ctx.strokeStyle = "#b9b4a8"; ctx.lineWidth = 0.6 / t.k; ctx.stroke(layer.borders);
      ctx.restore();
    }
    this.renderMarkers();
  }

  renderMarkers() {
    const { ctx, transform: t } = this;
    const byPlace = d3.group(this.groups || [], (g) => `${g.lat},${g.lon}`);
    this.markers = [];
    const labels = [];
    for (const [, groups] of byPlace) {
      const [px, py] = t.apply(this.projection([groups[0].lon, groups[0].lat]));
      if (px < -40 || py < -40 || px > this.width + 40 || py > this.height + 40) continue;
      const radii = groups.map((g) => Math.min(28, 3.5 + 2.5 * Math.sqrt(g.weight)));
      const ring = groups.length > 1 ? Math.max(...radii) + 2 : 0;
      groups.forEach((g, i) => {
        const angle = (2 * Math.PI * i) / groups.length - Math.PI / 2;
        this.markers.push({ ...g, x: px + ring * Math.cos(angle), y: py + ring * Math.sin(angle), r: radii[i] });
      });
      labels.push({ x: px, y: py + ring + Math.max(...radii) + 10, text: groups[0].place,
                    weight: d3.sum(groups, (g) => g.weight) });
    }
    for (const m of this.markers) {
      drawMarker(ctx, m.x, m.y, m.r, typeColor(m.type), m.modality, m.ids.includes(this.selectedId));
      if (AREA_LEVELS.has(m.level)) drawAreaHalo(ctx, m.x, m.y, m.r);
    }
    if (t.k >= LABEL_FROM_ZOOM) this.renderLabels(labels);
  }

  // Place names, busiest places first, each only where it overlaps no name already drawn.
  renderLabels(labels) {
    const { ctx } = this;
    ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center";
    ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,.85)"; ctx.fillStyle = "#333";
    const drawn = [];
    for (const l of labels.sort((a, b) => b.weight - a.weight)) {
      const w = ctx.measureText(l.text).width + 4;
      const box = [l.x - w / 2, l.y - 10, l.x + w / 2, l.y + 3];
      if (drawn.some((d) => box[0] < d[2] && d[0] < box[2] && box[1] < d[3] && d[1] < box[3])) continue;
      drawn.push(box);
      ctx.strokeText(l.text, l.x, l.y); ctx.fillText(l.text, l.x, l.y);
      if (drawn.length >= 200) break;
    }
  }

  markerAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    for (let i = this.markers.length - 1; i >= 0; i--) {   // topmost first
      const m = this.markers[i];
      if ((m.x - x) ** 2 + (m.y - y) ** 2 <= (m.r + 2) ** 2) return m;
    }
    return null;
  }

  click(event) {
    const m = this.markerAt(event);
    if (m) this.onPick(m);
  }

  hover(event) {
    const m = this.markerAt(event);
    this.canvas.classList.toggle("pointer", Boolean(m));
    if (!m) { this.tooltip.hidden = true; return; }
    const rect = this.canvas.getBoundingClientRect();
    this.tooltip.hidden = false;
    const where = AREA_LEVELS.has(m.level) ? `${m.place} (somewhere in this ${m.level})` : m.place;
    this.tooltip.textContent = `${where}: ${m.ids.length} ${m.type} event${m.ids.length > 1 ? "s" : ""} (${m.modality})`;
    this.tooltip.style.left = `${event.clientX - rect.left + 12}px`;
    this.tooltip.style.top = `${event.clientY - rect.top + 12}px`;
  }

  // Markers in page coordinates (for tests and accessibility tooling).
  markerPositions() {
    const rect = this.canvas.getBoundingClientRect();
    return this.markers.map((m) => ({ place: m.place, country: m.country, level: m.level, type: m.type, modality: m.modality,
      ids: m.ids, x: rect.left + m.x, y: rect.top + m.y, r: m.r,
      visible: m.x >= 0 && m.y >= 0 && m.x <= rect.width && m.y <= rect.height }));
  }
}

// A country- or province-level place is an area, not a point: its marker gets a dashed halo.
const AREA_LEVELS = new Set(["country", "admin1", "region", "continent"]);

function drawAreaHalo(ctx, x, y, r) {
  ctx.save();
  ctx.setLineDash([3, 3]); ctx.lineWidth = 1.2; ctx.strokeStyle = "rgba(60,60,60,.7)";
  ctx.beginPath(); ctx.arc(x, y, r + 5, 0, 2 * Math.PI); ctx.stroke();
  ctx.restore();
}
