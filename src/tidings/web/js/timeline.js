// The timeline: events per day (week or month when zoomed out), stacked by type or by world region, from
// /api/aggregates/timeline — every matching event, whatever their number.
//
// * Outliers (a 1961 flashback, a mis-inferred 2030 date) are clipped: the axis spans the bulk of the dates
//   the server found, and a note says how many events lie outside, with a link to show them all.
// * Wheel zooms around the cursor, dragging the axis pans, the reset button restores the whole range;
//   dragging over the bars selects dates (d3.brushX), which become the since/until filters.
// * A date known only to the month or year is a range, drawn as a bar over that range in the band above
//   the stacks, never piled up on its first day.

import { typeColor } from "./style.js";

const MARGIN = { top: 20, right: 10, bottom: 20, left: 34 };
const LANE = 5, MAX_LANES = 6;
const DAY = 864e5;

const parse = (s) => new Date(`${s}T00:00:00Z`);
const iso = (d) => d.toISOString().slice(0, 10);

export class TimelineView {
  constructor(section, { onBrush, onStackBy }) {
    this.section = section;
    this.svg = d3.select(section).select("svg");
    this.note = section.querySelector(".timeline-note");
    this.onBrush = onBrush;
    this.data = null;
    this.clip = true;
    this.range = null;
    this.zoomT = d3.zoomIdentity;
    this.zoom = d3.zoom().scaleExtent([1, 500])
      .filter((e) => e.type === "wheel" || (e.type === "mousedown" && e.target.closest?.(".x-axis")))
      .on("zoom", (e) => { this.zoomT = e.transform; this.render(); });
    this.svg.call(this.zoom).on("dblclick.zoom", null);
    section.querySelector("select[name=stack-by]").addEventListener("change", (e) => onStackBy(e.target.value));
    section.querySelector("button.reset-zoom").addEventListener("click", () => this.resetZoom());
    new ResizeObserver(() => this.render()).observe(section);
  }

  setData(data) { this.data = data; this.range = null; this.resetZoom(); }

  clear() { this.data = null; this.range = null; this.render(); }

  resetZoom() { this.zoomT = d3.zoomIdentity; this.svg.call(this.zoom.transform, d3.zoomIdentity); this.render(); }

  // Bins for the visible span: days up to four months, weeks up to ~2.5 years, then months.
  static interval(days) {
    if (days <= 120) return d3.utcDay;
    if (days <= 900) return d3.utcWeek;
    return d3.utcMonth;
  }

  color(key) {
    if (this.data?.by !== "region") return typeColor(key);
    this.regionColor ??= d3.scaleOrdinal(d3.schemeTableau10);
    return this.regionColor(key);
  }

  domain() {
    const { bulk } = this.data;
    const [lo, hi] = this.clip ? [bulk.start, bulk.end] : [bulk.first, bulk.last];
    let a = parse(lo), b = d3.utcDay.offset(parse(hi), 1);
    if (b - a < 7 * DAY) { a = d3.utcDay.offset(a, -3); b = d3.utcDay.offset(b, 3); }
    return [a, b];
  }

  renderNote() {
    const bulk = this.data?.bulk;
    const outside = bulk ? bulk.before + bulk.after : 0;
    const undated = this.data?.undated || 0;
    const parts = [];
    if (outside && this.clip) {
      parts.push(`${outside} event${outside > 1 ? "s" : ""} outside ${bulk.start} – ${bulk.end} not shown `
        + `(earliest ${bulk.first}, latest ${bulk.last})`);
    }
    if (undated) parts.push(`${undated} undated not shown`);
    this.note.replaceChildren(parts.join(" · "));
    if (outside) {
      const link = Object.assign(document.createElement("button"), { type: "button", className: "link show-all",
        textContent: this.clip ? "show all dates" : "clip outliers" });
      link.addEventListener("click", () => { this.clip = !this.clip; this.resetZoom(); });
      this.note.append(" ", link);
    }
    this.note.hidden = !parts.length && !outside;
  }

  render() {
    const { width, height } = this.section.getBoundingClientRect();
    if (!width || !height) return;
    const svg = this.svg.attr("viewBox", `0 0 ${width} ${height}`);
    svg.selectAll("*").remove();
    this.renderNote();
    if (!this.data?.bins.length) return;

    const x0 = d3.scaleUtc().domain(this.domain()).range([MARGIN.left, width - MARGIN.right]);
    this.zoom.extent([[MARGIN.left, 0], [width - MARGIN.right, height]])
      .translateExtent([[MARGIN.left, 0], [width - MARGIN.right, height]]);
    const x = this.zoomT.rescaleX(x0);
    const [lo, hi] = x.domain();
    const interval = TimelineView.interval((hi - lo) / DAY);
    const keys = [...d3.rollup(this.data.bins, (v) => d3.sum(v, (b) => b.events), (b) => b.key)]
      .sort((a, b) => b[1] - a[1]).map(([k]) => k);

    // Day-precision events: binned and stacked. Ranges (month, year, ...): lanes in the band on top.
    const points = [], ranges = [];
    for (const b of this.data.bins) {
      const start = parse(b.start), end = d3.utcDay.offset(parse(b.end), 1);
      if (end - start > DAY) { if (end > lo && start < hi) ranges.push({ ...b, s: start, e: end }); }
      else if (start >= lo && start < hi) points.push({ ...b, s: start });
    }
    const lanes = [];
    for (const r of ranges.sort((a, b) => a.s - b.s || b.events - a.events)) {
      let lane = lanes.findIndex((endX) => endX <= r.s);
      if (lane < 0 && lanes.length < MAX_LANES) lane = lanes.push(r.e) - 1;
      if (lane < 0) lane = d3.minIndex(lanes);
      lanes[lane] = d3.max([lanes[lane], r.e]);
      r.lane = lane;
    }
    const band = lanes.length ? lanes.length * LANE + 6 : 0;
    const top = MARGIN.top + band;

    const bins = interval.range(interval.floor(lo), hi);
    const table = new Map(bins.map((b) => [+b, Object.fromEntries(keys.map((k) => [k, 0]))]));
    for (const p of points) {
      const row = table.get(+interval.floor(p.s));
      if (row) row[p.key] += p.events;
    }
    const series = d3.stack().keys(keys)(bins.map((b) => ({ bin: b, ...table.get(+b) })));
    const y = d3.scaleLinear().domain([0, d3.max(series.at(-1) || [], (d) => d[1]) || 1]).nice()
      .range([height - MARGIN.bottom, top]);

    svg.append("clipPath").attr("id", "timeline-clip").append("rect")
      .attr("x", MARGIN.left).attr("y", 0).attr("width", width - MARGIN.left - MARGIN.right).attr("height", height);
    const plot = svg.append("g").attr("clip-path", "url(#timeline-clip)");
    const barWidth = (b) => Math.max(1, x(interval.offset(b, 1)) - x(b) - 1);
    plot.append("g").attr("class", "stacks").selectAll("g").data(series).join("g")
      .attr("fill", (s) => this.color(s.key)).attr("data-key", (s) => s.key)
      .selectAll("rect").data((s) => s.filter((d) => d[1] > d[0])).join("rect")
      .attr("x", (d) => x(d.data.bin)).attr("width", (d) => barWidth(d.data.bin))
      .attr("y", (d) => y(d[1])).attr("height", (d) => y(d[0]) - y(d[1]))
      .append("title").text(function (d) {
        const key = this.parentNode.parentNode.getAttribute("data-key");
        return `${iso(d.data.bin)} (${interval === d3.utcDay ? "day" : interval === d3.utcWeek ? "week of" : "month"}):`
          + ` ${d[1] - d[0]} ${key}`;
      });
    plot.append("g").attr("class", "ranges").selectAll("rect").data(ranges).join("rect")
      .attr("x", (r) => x(r.s)).attr("width", (r) => Math.max(2, x(r.e) - x(r.s)))
      .attr("y", (r) => MARGIN.top + r.lane * LANE).attr("height", LANE - 1)
      .attr("fill", (r) => this.color(r.key)).attr("fill-opacity", 0.55).attr("data-granularity", (r) => r.granularity)
      .append("title").text((r) => `${r.start} – ${r.end} (known to the ${r.granularity}): ${r.events} ${r.key}`);

    const axis = svg.append("g").attr("class", "x-axis").attr("transform", `translate(0,${height - MARGIN.bottom})`);
    axis.append("rect").attr("x", MARGIN.left).attr("width", width - MARGIN.left - MARGIN.right)
      .attr("height", MARGIN.bottom).attr("fill", "transparent").style("cursor", "ew-resize")
      .append("title").text("drag to pan");
    axis.call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickSizeOuter(0));
    const yTicks = y.ticks(4).filter(Number.isInteger);
    svg.append("g").attr("transform", `translate(${MARGIN.left},0)`)
      .call(d3.axisLeft(y).tickValues(yTicks).tickFormat(d3.format("d")));

    const brush = d3.brushX().extent([[MARGIN.left, top], [width - MARGIN.right, height - MARGIN.bottom]])
      .on("end", (event) => {
        if (!event.sourceEvent) return;   // our own brush.move below
        if (!event.selection) { this.range = null; this.onBrush(null); return; }
        const [a, b] = event.selection.map((v) => d3.utcDay.round(x.invert(v)));
        const end = b > a ? b : d3.utcDay.offset(a, 1);
        this.range = [a, end];
        this.onBrush([a, d3.utcDay.offset(end, -1)]);   // inclusive of whole days
      });
    const gBrush = svg.append("g").attr("class", "brush").call(brush);
    if (this.range) {
      const [a, b] = this.range.map((d) => Math.max(MARGIN.left, Math.min(x(d), width - MARGIN.right)));
      if (b > a) gBrush.call(brush.move, [a, b]);
    }
    this.legend(svg, keys, width);
  }

  legend(svg, keys, width) {
    const g = svg.append("g").attr("class", "legend").attr("font-size", 10);
    let cx = width - MARGIN.right;
    for (const key of keys.slice(0, 8)) {   // the biggest at the right, as many as fit
      const item = g.append("g");
      const text = item.append("text").attr("y", 12).text(key);
      const w = text.node().getComputedTextLength?.() || key.length * 6;
      cx -= w + 16;
      if (cx < width / 2) { item.remove(); break; }
      item.attr("transform", `translate(${cx},0)`);
      text.attr("x", 11);
      item.append("rect").attr("y", 4).attr("width", 9).attr("height", 9).attr("fill", this.color(key));
    }
  }
}
