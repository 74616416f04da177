// The timeline: events per day (week or month for long ranges), stacked by type, as aggregated SVG bars
// (a few hundred rects whatever the number of events). Dragging selects a date range (d3.brushX).

import { typeColor } from "./style.js";

const MARGIN = { top: 18, right: 10, bottom: 20, left: 34 };

export class TimelineView {
  constructor(section, { onBrush }) {
    this.section = section;
    this.svg = d3.select(section).select("svg");
    this.onBrush = onBrush;
    this.rows = [];
    this.range = null;
    new ResizeObserver(() => this.render()).observe(section);
  }

  setEvents(rows) { this.rows = rows; this.render(); }

  // Bins: days up to a year, then weeks, then months; each bin is [start, end) in UTC.
  static interval(days) {
    if (days <= 366) return d3.utcDay;
    if (days <= 5 * 366) return d3.utcWeek;
    return d3.utcMonth;
  }

  render() {
    const { width, height } = this.section.getBoundingClientRect();
    if (!width || !height) return;
    const svg = this.svg.attr("viewBox", `0 0 ${width} ${height}`);
    svg.selectAll("*").remove();
    const dated = this.rows.filter((r) => r.date_start);
    const undated = this.rows.length - dated.length;
    svg.append("text").attr("class", "view-title").attr("x", MARGIN.left).attr("y", 12)
      .text(`Events over time${undated ? ` (${undated} undated not shown)` : ""} — drag to select dates`);
    if (!dated.length) return;
    const dates = dated.map((r) => new Date(r.date_start + "T00:00:00Z"));
    let [lo, hi] = d3.extent(dates);
    const interval = TimelineView.interval((hi - lo) / 864e5);
    lo = interval.floor(lo); hi = interval.offset(interval.floor(hi), 1);
    const bins = interval.range(lo, hi);
    const types = [...new Set(dated.map((r) => r.type))].sort();
    const counts = new Map(bins.map((b) => [+b, Object.fromEntries(types.map((t) => [t, 0]))]));
    dated.forEach((r, i) => { counts.get(+interval.floor(dates[i]))[r.type] += 1; });
    const table = bins.map((b) => ({ bin: b, ...counts.get(+b) }));
    const series = d3.stack().keys(types)(table);

    const x = d3.scaleUtc().domain([lo, hi]).range([MARGIN.left, width - MARGIN.right]);
    const y = d3.scaleLinear().domain([0, d3.max(series.at(-1), (d) => d[1]) || 1]).nice()
      .range([height - MARGIN.bottom, MARGIN.top]);
    const barWidth = Math.max(1, x(interval.offset(lo, 1)) - x(lo) - 1);
    svg.append("g").selectAll("g").data(series).join("g").attr("fill", (s) => typeColor(s.key))
      .attr("data-type", (s) => s.key)
      .selectAll("rect").data((s) => s.filter((d) => d[1] > d[0])).join("rect")
      .attr("x", (d) => x(d.data.bin)).attr("width", barWidth)
      .attr("y", (d) => y(d[1])).attr("height", (d) => y(d[0]) - y(d[1]))
      .append("title").text(function (d) {
        const type = this.parentNode.parentNode.getAttribute("data-type");
        return `${d.data.bin.toISOString().slice(0, 10)}: ${d[1] - d[0]} ${type}`;
      });
    svg.append("g").attr("transform", `translate(0,${height - MARGIN.bottom})`)
      .call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickSizeOuter(0));
    const yTicks = y.ticks(4).filter(Number.isInteger);
    svg.append("g").attr("transform", `translate(${MARGIN.left},0)`)
      .call(d3.axisLeft(y).tickValues(yTicks).tickFormat(d3.format("d")));

    const brush = d3.brushX().extent([[MARGIN.left, MARGIN.top], [width - MARGIN.right, height - MARGIN.bottom]])
      .on("end", (event) => {
        if (!event.sourceEvent) return;   // our own brush.move below
        if (!event.selection) { this.range = null; this.onBrush(null); return; }
        const [a, b] = event.selection.map((v) => interval.round(x.invert(v)));
        const end = b > a ? b : interval.offset(a, 1);
        this.range = [a, end];
        gBrush.call(brush.move, [x(a), x(end)]);   // snap to whole bins
        // The range is inclusive of whole days: [a, end - 1 day].
        this.onBrush([a, d3.utcDay.offset(end, -1)]);
      });
    const gBrush = svg.append("g").attr("class", "brush").call(brush);
    if (this.range) gBrush.call(brush.move, this.range.map((d) => Math.max(MARGIN.left, Math.min(x(d), width - MARGIN.right))));
  }

  clear() { this.range = null; this.render(); }
}
