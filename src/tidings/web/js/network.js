// The actor network: who acts on whom, from /api/aggregates/network. Nodes are actors as resolved — name
// and code together, so "Barack Obama" and "Donald Trump" (both USAGOV) are two nodes — sized by their
// events; edges go source → target, coloured by their most frequent type and as wide as their count.
//
// The busiest actors are always labelled (others where their label covers nothing); after layout the
// drawing is fitted into the panel with its labels, so nothing is clipped at the edges. A minimum-events
// slider thins the graph, and the panel can be enlarged over the map.

import { typeColor } from "./style.js";

const ALWAYS_LABELLED = 8;
const MAX_DRAWN = 60;

const label = (n) => (n.code && n.code !== n.name ? `${n.name} [${n.code}]` : n.name);

export class NetworkView {
  constructor(section, { onActor }) {
    this.section = section;
    this.svg = d3.select(section).select("svg");
    this.onActor = onActor;
    this.data = null;
    this.minEvents = 1;
    this.slider = section.querySelector("input[name=min-events]");
    this.sliderValue = section.querySelector(".min-events-value");
    this.slider.addEventListener("input", () => { this.minEvents = +this.slider.value; this.render(); });
    section.querySelector("button.enlarge").addEventListener("click", (e) => {
      const large = section.classList.toggle("large");
      e.target.textContent = large ? "shrink" : "enlarge";
      e.target.setAttribute("aria-pressed", String(large));
    });
    new ResizeObserver(() => this.render()).observe(section);
  }

  setData(data) {
    this.data = data;
    const max = d3.max(data.nodes, (n) => n.events) || 1;
    this.slider.max = String(Math.max(1, max));
    if (this.minEvents > max) this.minEvents = 1;
    this.slider.value = String(this.minEvents);
    this.render();
  }

  graph() {
    const nodes = this.data.nodes.filter((n) => n.events >= this.minEvents).slice(0, MAX_DRAWN)
      .map((n) => ({ ...n, label: label(n) }));
    const kept = new Set(nodes.map((n) => n.id));
    const links = this.data.edges.filter((e) => kept.has(e.source) && kept.has(e.target)).map((e) => ({
      ...e, type: Object.entries(e.types).sort((a, b) => b[1] - a[1])[0][0] }));
    return { nodes, links, hidden: this.data.total_nodes - nodes.length };
  }

  render() {
    const { width } = this.section.getBoundingClientRect();
    const svgBox = this.svg.node().getBoundingClientRect();
    const height = svgBox.height;
    if (!width || !height || !this.data) return;
    this.sliderValue.textContent = String(this.minEvents);
    const svg = this.svg;
    svg.selectAll("*").remove();
    const { nodes, links, hidden } = this.graph();
    this.section.querySelector(".network-title").textContent =
      `Actors: source → target${hidden > 0 ? ` (${hidden} less active not shown)` : ""} — click to filter`;
    if (!nodes.length) { svg.attr("viewBox", `0 0 ${width} ${height}`); return; }
    const radius = d3.scaleSqrt().domain([0, d3.max(nodes, (n) => n.events) || 1]).range([3, 16]).clamp(true);
    const r = (n) => Math.max(2, radius(n.events));
    const sim = d3.forceSimulation(nodes)
      .force("link", d3.forceLink(links).id((n) => n.id).distance(nodes.length < 15 ? 90 : 70))
      .force("charge", d3.forceManyBody().strength(-220))
      .force("collide", d3.forceCollide((n) => r(n) + 6))
      .force("x", d3.forceX(width / 2).strength(0.05)).force("y", d3.forceY(height / 2).strength(0.08))
      .stop();
    sim.tick(300);
    const defs = svg.append("defs");
    for (const type of new Set(links.map((l) => l.type))) {
      defs.append("marker").attr("id", `arrow-${type}`).attr("viewBox", "0 -4 8 8").attr("refX", 8)
        .attr("markerWidth", 6).attr("markerHeight", 6).attr("orient", "auto")
        .append("path").attr("d", "M0,-4L8,0L0,4").attr("fill", typeColor(type));
    }
    const content = svg.append("g").attr("class", "content");
    content.append("g").attr("fill", "none").selectAll("path").data(links).join("path")
      .attr("stroke", (l) => typeColor(l.type)).attr("stroke-opacity", 0.7)
      .attr("stroke-width", (l) => Math.min(6, 1 + Math.log2(l.events)))
      .attr("marker-end", (l) => `url(#arrow-${l.type})`)
      .attr("d", (l) => {   // stop at the target's rim so the arrow shows
        const dx = l.target.x - l.source.x, dy = l.target.y - l.source.y, d = Math.hypot(dx, dy) || 1;
        const rim = r(l.target) + 2;
        return `M${l.source.x},${l.source.y}L${l.target.x - (dx * rim) / d},${l.target.y - (dy * rim) / d}`;
      })
      .append("title").text((l) => `${l.source.label} → ${l.target.label}: ${l.events} event(s), mostly ${l.type}`);
    const g = content.append("g").selectAll("g").data(nodes).join("g").attr("class", "node")
      .attr("data-id", (n) => n.id)
      .attr("transform", (n) => `translate(${n.x},${n.y})`)
      .on("click", (_e, n) => this.onActor(n.name));
    g.append("circle").attr("r", r).attr("fill", "#4a5d70").attr("stroke", "#fff");
    const labelled = visibleLabels(nodes, r);
    g.filter((n) => labelled.has(n.id)).append("text").attr("dy", "0.35em")
      .attr("class", (n) => (labelled.get(n.id).always ? "always" : null))
      .attr("text-anchor", (n) => labelled.get(n.id).side)
      .attr("x", (n) => (labelled.get(n.id).side === "start" ? 1 : -1) * (r(n) + 3))
      .text((n) => n.label);
    g.append("title").text((n) => `${n.label}: ${n.events} event(s) with ${n.degree} other actor(s)`);
    // Fit everything, labels included, into the panel: never clipped, at most 1.6× enlarged.
    const box = content.node().getBBox();
    const pad = 8;
    const scale = Math.min(1.6, (width - 2 * pad) / box.width, (height - 2 * pad) / box.height);
    const vw = width / scale, vh = height / scale;
    svg.attr("viewBox", `${box.x + box.width / 2 - vw / 2} ${box.y + box.height / 2 - vh / 2} ${vw} ${vh}`);
  }
}

// The ALWAYS_LABELLED busiest actors get a label whatever it covers; the others only where theirs covers
// no other label and no node (the rest show their name on hover).
function visibleLabels(nodes, r) {
  const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const circle = (m) => [m.x - r(m), m.y - r(m), m.x + r(m), m.y + r(m)];
  const drawn = [], shown = new Map();
  [...nodes].sort((a, b) => b.events - a.events).forEach((n, rank) => {
    const pad = r(n) + 3, w = 5.6 * n.label.length;
    const sides = [["start", [n.x + pad, n.y - 6, n.x + pad + w, n.y + 6]], ["end", [n.x - pad - w, n.y - 6, n.x - pad, n.y + 6]]];
    const always = rank < ALWAYS_LABELLED;
    for (const [side, box] of sides) {
      const free = !drawn.some((d) => overlaps(box, d)) && !nodes.some((m) => m !== n && overlaps(box, circle(m)));
      if (!free && !(always && side === "end")) continue;
      const chosen = free ? [side, box] : sides.find(([, b]) => !drawn.some((d) => overlaps(b, d))) || sides[0];
      drawn.push(chosen[1]);
      shown.set(n.id, { side: chosen[0], always });
      break;
    }
  });
  return shown;
}
