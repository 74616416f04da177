// The map: an offline world basemap (world-atlas TopoJSON) and event markers, drawn on one canvas.
//
// Markers come from /api/aggregates/map: one per place, with its event counts by type and modality.
// Point places (cities, sites) are clustered by supercluster (vendored): clusters split as the map zooms
// and a click on one zooms to where it splits. Area places (an admin1 or a country, whose point is only
// its centre) are never drawn as points: they are hollow dashed marks, so nobody reads "Syria" as a town.
// Hovering lists everything under the cursor; a click opens the place drawn on top there. The admin1
// mode replaces markers by totals per province (events or fatalities), graded by colour.

import { drawMarker, typeColor } from "./style.js";

const BASEMAPS = { coarse: "web/vendor/world-atlas/countries-110m.json",
                   fine: "web/vendor/world-atlas/countries-50m.json" };
const FINE_FROM_ZOOM = 4;   // switch to the 50m basemap beyond this zoom
const LABEL_FROM_ZOOM = 5;  // place labels beyond this zoom
const CLUSTER_RADIUS = 28;  // px at supercluster's tile extent: ~28–56 px on screen
const MAX_K = 400;

const dominant = (counts) => Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0];
const describeCounts = (counts) => Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");

export class MapView {
  constructor(section, { onPick }) {
    this.section = section;
    this.canvas = section.querySelector("canvas");
    this.tooltip = section.querySelector(".tooltip");
    this.note = section.querySelector(".map-note");
    this.legend = section.querySelector(".map-legend");
    this.ctx = this.canvas.getContext("2d");
    this.onPick = onPick;
    this.projection = d3.geoNaturalEarth1();
    this.transform = d3.zoomIdentity;
    this.layers = {};           // basemap name → {land: Path2D, borders: Path2D}
    this.data = null;           // the last /api/aggregates/map answer
    this.markers = [];          // what was drawn, with screen positions (hit tests, tests)
    this.mode = "markers";      // or "admin1-events", "admin1-fatalities"
    this.selectedKey = null;
    this.zoom = d3.zoom().scaleExtent([1, MAX_K])
      .on("start", () => { this.tooltip.hidden = true; })
      .on("zoom", (e) => { this.transform = e.transform; this.tooltip.hidden = true; this.draw(); });
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
    const [[x0], [x1]] = d3.geoPath(this.projection).bounds({ type: "Sphere" });
    this.worldWidth = x1 - x0;
    for (const name of Object.keys(this.layers)) this.project(name);
    this.zoom.extent([[0, 0], [width, height]]).translateExtent([[-width, -height], [2 * width, 2 * height]]);
    if (this.data) this.fit(false);
    this.draw();
  }

  setMode(mode) { this.mode = mode; this.tooltip.hidden = true; this.draw(); }

  // data: /api/aggregates/map. Indexes the point places for clustering and refits the view to them.
  setData(data) {
    this.data = data;
    const points = data.places.filter((p) => !p.area);
    this.areas = data.places.filter((p) => p.area).sort((a, b) => b.events - a.events);
    this.index = new Supercluster({
      radius: CLUSTER_RADIUS, maxZoom: 16,
      map: (p) => ({ events: p.events, fatalities: p.fatalities, types: { ...p.types } }),
      reduce: (acc, p) => {
        acc.events += p.events;
        acc.fatalities = acc.fatalities == null && p.fatalities == null ? null : (acc.fatalities || 0) + (p.fatalities || 0);
        for (const [t, n] of Object.entries(p.types)) acc.types[t] = (acc.types[t] || 0) + n;
      },
    }).load(points.map((p) => ({ type: "Feature", geometry: { type: "Point", coordinates: [p.lon, p.lat] },
                                  properties: p })));
    const unplaced = data.total - data.placed;
    this.note.textContent = `${data.placed} of ${data.total} events placed, at ${data.places.length} places`
      + (unplaced ? ` (${unplaced} without a place)` : "") + " · hollow dashed marks are provinces or countries";
    this.fit(true);
    this.draw();
  }

  // Zoom so every place is in view (at most to a region's scale: one city alone stays in context).
  fit(animate) {
    if (!this.width || !this.data) return;
    const places = this.data.places;
    let t = d3.zoomIdentity;
    if (places.length) {
      const xy = places.map((p) => this.projection([p.lon, p.lat]));
      const [x0, x1] = d3.extent(xy, (p) => p[0]), [y0, y1] = d3.extent(xy, (p) => p[1]);
      const k = Math.min(60, 0.8 / Math.max((x1 - x0 + 1) / this.width, (y1 - y0 + 1) / this.height));
      t = d3.zoomIdentity.translate(this.width / 2, this.height / 2).scale(Math.max(1, k))
        .translate(-(x0 + x1) / 2, -(y0 + y1) / 2);
    }
    const target = d3.select(this.canvas);
    (animate ? target.transition().duration(350) : target).call(this.zoom.transform, t);
    this.transform = t;
  }

  select(key) { this.selectedKey = key; this.draw(); }

  draw() {
    if (!this.width || this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = null; this.render(); });
  }

  // supercluster's zoom whose world (512 px tiles × 2^z) is as wide as ours on screen.
  clusterZoom() { return Math.max(0, Math.log2((this.worldWidth * this.transform.k) / 512)); }

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
    this.markers = [];
    if (!this.data) return;
    if (this.mode === "markers") this.renderMarkers(); else this.renderAdmin1(this.mode.split("-")[1]);
  }

  screen(lon, lat) { return this.transform.apply(this.projection([lon, lat])); }

  onScreen(x, y, pad = 40) { return x > -pad && y > -pad && x < this.width + pad && y < this.height + pad; }

  renderMarkers() {
    const { ctx } = this;
    const radius = (events) => Math.min(30, 4 + 2.6 * Math.sqrt(events));
    // Areas first (under the points), biggest first.
    for (const p of this.areas) {
      const [x, y] = this.screen(p.lon, p.lat);
      if (!this.onScreen(x, y)) continue;
      const r = radius(p.events) + 6;
      drawArea(ctx, x, y, r, typeColor(dominant(p.types)), p.level, p.key === this.selectedKey);
      this.markers.push({ kind: "area", place: p, x, y, r });
    }
    const labels = [];
    for (const c of this.index.getClusters([-180, -85, 180, 85], Math.floor(this.clusterZoom()))) {
      const [x, y] = this.screen(...c.geometry.coordinates);
      if (!this.onScreen(x, y)) continue;
      if (c.properties.cluster) {
        const r = radius(c.properties.events) + 3;
        drawCluster(ctx, x, y, r, c.properties);
        this.markers.push({ kind: "cluster", cluster: c, x, y, r });
      } else {
        const p = c.properties;
        const r = radius(p.events);
        drawMarker(ctx, x, y, r, typeColor(dominant(p.types)), dominant(p.modalities), p.key === this.selectedKey);
        if (Object.keys(p.types).length > 1) drawTypeRing(ctx, x, y, r + 2, p.types);
        this.markers.push({ kind: "place", place: p, x, y, r: r + 2 });
        labels.push({ x, y: y + r + 11, text: p.name, weight: p.events });
      }
    }
    if (this.transform.k >= LABEL_FROM_ZOOM) this.renderLabels(labels);
    this.legend.hidden = true;
  }

  // Totals per admin1 as graded discs (no admin1 boundaries ship offline: see docs/dashboard.md).
  renderAdmin1(measure) {
    const { ctx } = this;
    const totals = this.data.admin1.filter((a) => (measure === "fatalities" ? a.fatalities : a.events) > 0);
    const value = (a) => (measure === "fatalities" ? a.fatalities : a.events);
    const max = d3.max(totals, value) || 1;
    const color = d3.scaleSequentialSqrt(d3.interpolateYlOrRd).domain([0, max]);
    const labels = [];
    for (const a of [...totals].sort((x, y) => value(y) - value(x))) {
      const [x, y] = this.screen(a.lon, a.lat);
      if (!this.onScreen(x, y)) continue;
      const r = 8 + 10 * Math.sqrt(value(a) / max);
      ctx.save();
      ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.globalAlpha = 0.85; ctx.fillStyle = color(value(a)); ctx.fill();
      ctx.globalAlpha = 1; ctx.strokeStyle = "#7a3b00"; ctx.lineWidth = 1; ctx.stroke();
      ctx.restore();
      this.markers.push({ kind: "admin1", admin1: a, x, y, r });
      labels.push({ x, y: y + r + 11, text: `${a.admin1}: ${value(a)}`, weight: value(a) });
    }
    this.renderLabels(labels);
    this.legend.hidden = false;
    this.legend.replaceChildren(`${measure} per province: 0 `,
      Object.assign(document.createElement("span"), { className: "ramp" }), ` ${max}`);
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

  // Everything under the cursor, the one drawn on top first.
  markersAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    const hits = [];
    for (let i = this.markers.length - 1; i >= 0; i--) {
      const m = this.markers[i];
      const d2 = (m.x - x) ** 2 + (m.y - y) ** 2;
      if (d2 <= (m.r + 2) ** 2) hits.push(m);
    }
    return hits;
  }

  click(event) {
    const [top] = this.markersAt(event);
    if (!top) return;
    if (top.kind === "cluster") {
      const z = this.index.getClusterExpansionZoom(top.cluster.properties.cluster_id);
      const k = Math.min(MAX_K, (512 * 2 ** z) / this.worldWidth * 1.05);
      const [px, py] = this.projection(top.cluster.geometry.coordinates);
      d3.select(this.canvas).transition().duration(300).call(this.zoom.transform,
        d3.zoomIdentity.translate(this.width / 2, this.height / 2).scale(Math.max(k, this.transform.k * 1.5))
          .translate(-px, -py));
    } else if (top.kind !== "admin1") {   // a province total is read from its tooltip
      this.select(top.place.key);
      this.onPick(top.place);
    }
  }

  describe(m) {
    if (m.kind === "cluster") {
      const p = m.cluster.properties;
      return `${p.point_count} places, ${p.events} events (${describeCounts(p.types)}) — click to zoom in`;
    }
    if (m.kind === "admin1") {
      const a = m.admin1;
      return `${a.admin1}: ${a.events} events${a.fatalities != null ? `, ${a.fatalities} killed` : ""} at ${a.places} place(s)`;
    }
    const p = m.place;
    const where = m.kind === "area" ? `${p.name} (${p.level}: somewhere in this area)` : p.name;
    return `${where}: ${p.events} event${p.events > 1 ? "s" : ""} — ${describeCounts(p.types)}`
      + (p.fatalities ? `, ${p.fatalities} killed` : "");
  }

  hover(event) {
    const hits = this.markersAt(event);
    this.canvas.classList.toggle("pointer", hits.length > 0);
    if (!hits.length) { this.tooltip.hidden = true; return; }
    const rect = this.canvas.getBoundingClientRect();
    this.tooltip.replaceChildren(...hits.slice(0, 8).map((m, i) => Object.assign(document.createElement("div"), {
      className: i === 0 ? "top" : "", textContent: this.describe(m) })));
    if (hits.length > 8) this.tooltip.append(`… and ${hits.length - 8} more`);
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${Math.min(event.clientX - rect.left + 12, this.width - 290)}px`;
    this.tooltip.style.top = `${event.clientY - rect.top + 12}px`;
  }

  // Markers in page coordinates (for tests and accessibility tooling).
  markerPositions() {
    const rect = this.canvas.getBoundingClientRect();
    return this.markers.map((m) => {
      const p = m.place || {};
      const c = m.cluster?.properties;
      return { kind: m.kind, key: p.key ?? null, place: p.name ?? m.admin1?.admin1 ?? null,
        geonameid: p.geonameid ?? null, country: p.country ?? m.admin1?.country ?? null, level: p.level ?? null,
        events: c ? c.events : (p.events ?? m.admin1?.events), places: c ? c.point_count : 1,
        types: c ? c.types : p.types, x: rect.left + m.x, y: rect.top + m.y, r: m.r,
        visible: m.x >= 0 && m.y >= 0 && m.x <= rect.width && m.y <= rect.height };
    });
  }
}

// A cluster: a white disc with a ring of its types' shares and its event count.
function drawCluster(ctx, x, y, r, props) {
  ctx.save();
  ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = "rgba(255,255,255,.92)"; ctx.fill();
  ctx.restore();
  drawTypeRing(ctx, x, y, r, props.types, 4);
  ctx.save();
  ctx.font = "bold 11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  ctx.fillStyle = "#222"; ctx.fillText(String(props.events), x, y);
  ctx.restore();
}

function drawTypeRing(ctx, x, y, r, types, width = 2.5) {
  const total = Object.values(types).reduce((a, b) => a + b, 0) || 1;
  let angle = -Math.PI / 2;
  ctx.save();
  ctx.lineWidth = width;
  for (const [type, n] of Object.entries(types).sort((a, b) => b[1] - a[1])) {
    const next = angle + (2 * Math.PI * n) / total;
    ctx.beginPath(); ctx.arc(x, y, r - width / 2, angle, next);
    ctx.strokeStyle = typeColor(type); ctx.stroke();
    angle = next;
  }
  ctx.restore();
}

// An area place (country, admin1): a hollow, dashed mark — a square for a country, a circle for a province.
function drawArea(ctx, x, y, r, color, level, selected) {
  ctx.save();
  ctx.setLineDash([4, 3]); ctx.lineWidth = selected ? 3 : 2; ctx.strokeStyle = color;
  ctx.fillStyle = color; ctx.globalAlpha = 0.12;
  ctx.beginPath();
  if (level === "country" || level === "region" || level === "continent") ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fill();
  ctx.globalAlpha = 1; ctx.stroke();
  ctx.restore();
}
