// The actor network: who acts on whom. Nodes are actors — by CAMEO code where there is one, so "Syrian army"
// and "Syrian forces" (both SYRMIL) are one node, labelled with the name used most — edges go source → target,
// coloured by their most frequent event type and as wide as their count. Only the busiest actors are
// drawn, and the force layout runs to rest before drawing (no animation loop): cheap at any data size.

import { typeColor } from "./style.js";

const MAX_NODES = 40;

function actorKey(code, name) { return code || name; }

export function buildGraph(rows, maxNodes = MAX_NODES) {
  const nodes = new Map(), edges = new Map();
  const node = (code, name) => {
    const key = actorKey(code, name);
    if (!nodes.has(key)) nodes.set(key, { id: key, code, names: new Map(), degree: 0 });
    const n = nodes.get(key);
    n.names.set(name, (n.names.get(name) || 0) + 1);
    return n;
  };
  for (const r of rows) {
    if (!r.source_name || !r.target_name) continue;
    const s = node(r.source_code, r.source_name), t = node(r.target_code, r.target_name);
    if (s === t) continue;
    s.degree += 1; t.degree += 1;
    const key = `${s.id}\u0000${t.id}`;
    if (!edges.has(key)) edges.set(key, { source: s.id, target: t.id, count: 0, types: new Map() });
    const e = edges.get(key);
    e.count += 1;
    e.types.set(r.type, (e.types.get(r.type) || 0) + 1);
  }
  for (const n of nodes.values()) {
    n.name = [...n.names].sort((a, b) => b[1] - a[1])[0][0];
    n.label = n.code && n.code !== n.name ? `${n.name} [${n.code}]` : n.name;
  }
  const kept = new Set([...nodes.values()].sort((a, b) => b.degree - a.degree).slice(0, maxNodes).map((n) => n.id));
  const links = [...edges.values()].filter((e) => kept.has(e.source) && kept.has(e.target)).map((e) => ({
    ...e, type: [...e.types].sort((a, b) => b[1] - a[1])[0][0] }));
  return { nodes: [...nodes.values()].filter((n) => kept.has(n.id)), links, hidden: nodes.size - kept.size };
}

// Busiest actors first, each label only where it covers no other label and no other node (the rest
// show their name on hover).
function visibleLabels(nodes, radius) {
  const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const circle = (m) => { const r = radius(m.degree); return [m.x - r, m.y - r, m.x + r, m.y + r]; };
  const drawn = [], shown = new Map();   // node id → "start" (label on the right) or "end" (on the left)
  for (const n of [...nodes].sort((a, b) => b.degree - a.degree)) {
    const r = radius(n.degree) + 3, w = 5.5 * n.label.length;
    for (const [side, box] of [["start", [n.x + r, n.y - 6, n.x + r + w, n.y + 6]],
                               ["end", [n.x - r - w, n.y - 6, n.x - r, n.y + 6]]]) {
      if (drawn.some((d) => overlaps(box, d)) || nodes.some((m) => m !== n && overlaps(box, circle(m)))) continue;
      drawn.push(box);
      shown.set(n.id, side);
      break;
    }
  }
  return shown;
}

export class NetworkView {
  constructor(section, { onActor }) {
    this.section = section;
    this.svg = d3.select(section).select("svg");
    this.onActor = onActor;
    this.rows = [];
    new ResizeObserver(() => this.render()).observe(section);
  }

  setEvents(rows) { this.rows = rows; this.render(); }

  render() {
    const { width, height } = this.section.getBoundingClientRect();
    if (!width || !height) return;
    const svg = this.svg.attr("viewBox", `0 0 ${width} ${height}`);
    svg.selectAll("*").remove();
    const { nodes, links, hidden } = buildGraph(this.rows);
    svg.append("text").attr("class", "view-title").attr("x", 8).attr("y", 12)
      .text(`Actors: source → target${hidden ? ` (${hidden} less active not shown)` : ""} — click to filter`);
    if (!nodes.length) return;
    const radius = d3.scaleSqrt().domain([1, d3.max(nodes, (n) => n.degree)]).range([4, 14]);
    const sim = d3.forceSimulation(nodes)
      .force("link", d3.forceLink(links).id((n) => n.id).distance(nodes.length < 15 ? 90 : 60))
      .force("charge", d3.forceManyBody().strength(-160))
      .force("collide", d3.forceCollide((n) => radius(n.degree) + 4))
      .force("x", d3.forceX(width / 2).strength(0.06)).force("y", d3.forceY(height / 2 + 6).strength(0.1))
      .stop();
    sim.tick(250);
    for (const n of nodes) {   // keep everything inside the box
      n.x = Math.max(20, Math.min(width - 20, n.x));
      n.y = Math.max(24, Math.min(height - 10, n.y));
    }
    const defs = svg.append("defs");
    for (const type of new Set(links.map((l) => l.type))) {
      defs.append("marker").attr("id", `arrow-${type}`).attr("viewBox", "0 -4 8 8").attr("refX", 8)
        .attr("markerWidth", 6).attr("markerHeight", 6).attr("orient", "auto")
        .append("path").attr("d", "M0,-4L8,0L0,4").attr("fill", typeColor(type));
    }
    svg.append("g").attr("fill", "none").selectAll("path").data(links).join("path")
      .attr("stroke", (l) => typeColor(l.type)).attr("stroke-opacity", 0.75)
      .attr("stroke-width", (l) => Math.min(6, 1 + Math.log2(l.count)))
      .attr("marker-end", (l) => `url(#arrow-${l.type})`)
      .attr("d", (l) => {   // stop at the target's rim so the arrow shows
        const dx = l.target.x - l.source.x, dy = l.target.y - l.source.y, d = Math.hypot(dx, dy) || 1;
        const r = radius(l.target.degree) + 2;
        return `M${l.source.x},${l.source.y}L${l.target.x - (dx * r) / d},${l.target.y - (dy * r) / d}`;
      })
      .append("title").text((l) => `${l.source.name} → ${l.target.name}: ${l.count} event(s), mostly ${l.type}`);
    const g = svg.append("g").selectAll("g").data(nodes).join("g").attr("class", "node")
      .attr("transform", (n) => `translate(${n.x},${n.y})`)
      .on("click", (_e, n) => this.onActor(n.code || n.name));
    g.append("circle").attr("r", (n) => radius(n.degree)).attr("fill", "#4a5d70").attr("stroke", "#fff");
    const labelled = visibleLabels(nodes, radius);
    g.filter((n) => labelled.has(n.id)).append("text").attr("dy", "0.35em")
      .attr("text-anchor", (n) => labelled.get(n.id))
      .attr("x", (n) => (labelled.get(n.id) === "start" ? 1 : -1) * (radius(n.degree) + 3))
      .text((n) => n.label);
    g.append("title").text((n) => `${n.label}: ${n.degree} event(s)`
      + (n.names.size > 1 ? ` — also named ${[...n.names.keys()].filter((x) => x !== n.name).join(", ")}` : ""));
  }
}
