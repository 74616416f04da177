// The event panel (evidence, attribution chain, modality) and the event list. Built with DOM calls and
// textContent only: article text is data, never markup.

import { MODALITY_STYLES, swatch, typeColor } from "./style.js";

const ROLE_ORDER = ["trigger", "source", "target", "place", "time", "modality", "attribution"];
const ROLE_LABELS = { trigger: "trigger", source: "source actor", target: "target actor", place: "place",
                      time: "time", modality: "modality cue", attribution: "said by" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Text from `start` to `end` (document offsets) with evidence spans wrapped in <mark>s. Overlapping
// spans (a place that is also the target) are cut at every boundary; each piece lists all its roles.
function highlighted(text, offset, spans) {
  const cuts = new Set([0, text.length]);
  for (const s of spans) {
    cuts.add(Math.max(0, Math.min(text.length, s.start - offset)));
    cuts.add(Math.max(0, Math.min(text.length, s.end - offset)));
  }
  const points = [...cuts].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < points.length - 1; i++) {
    const a = points[i], b = points[i + 1];
    const piece = text.slice(a, b);
    const roles = spans.filter((s) => s.start - offset <= a && s.end - offset >= b).map((s) => s.role);
    if (!roles.length) { out.push(piece); continue; }
    const sorted = [...new Set(roles)].sort((x, y) => ROLE_ORDER.indexOf(x) - ROLE_ORDER.indexOf(y));
    out.push(el("mark", { class: ["ev", ...sorted.map((r) => `ev-${r}`)].join(" "), "data-roles": sorted.join(" "),
                          title: sorted.map((r) => ROLE_LABELS[r] || r).join(", ") }, piece));
  }
  return out;
}

// Only web links become links: a stored "javascript:" URL must never run in the page.
function safeUrl(url) { return typeof url === "string" && /^https?:\/\//i.test(url); }

function actor(a) { return a ? `${a.name}${a.code ? ` [${a.code}]` : ""}` : "—"; }

function when(w) {
  if (!w || !w.start) return w && w.relative ? "relative, unresolved" : "undated";
  const range = w.end && w.end !== w.start ? `${w.start} … ${w.end}` : w.start;
  return `${range} (${w.granularity}, anchored to ${w.anchor}${w.span ? `: “${w.span.text}”` : ""})`;
}

// How many independent sources report the same real-world event (from the across-article layer).
function corroboration(c) {
  const sources = `${c.independent_sources} independent source${c.independent_sources === 1 ? "" : "s"}`
    + ` in ${c.documents} document${c.documents === 1 ? "" : "s"}`;
  return el("p", { class: "corroboration" }, `Across articles: ${sources}`,
    c.anonymous_only ? el("span", { class: "anon-flag" }, " ⚠ anonymous sources only") : null,
    c.origins?.length ? el("span", { class: "hint" }, ` (${c.origins.join(" · ")})`) : null,
    c.contradictions?.length ? el("span", { class: "error" },
      ` — ${c.contradictions.length} contradiction(s): ${c.contradictions.map(disagreement).join("; ")}`) : null);
}

// "date: 2025-03-08 (AFP/anonymous) vs 2025-03-09 (Sahel Info/anonymous)": each side with who says so.
function disagreement(x) {
  const sides = (x.values || []).map((v, i) => (x.sources && x.sources[i] ? `${v} (${x.sources[i]})` : v));
  const distinct = [...new Set(sides)];
  return distinct.length ? `${x.kind}: ${distinct.join(" vs ")}` : x.kind;
}

export function renderDetail(container, detail) {
  const e = detail.event;
  const spans = detail.evidence;
  const head = el("div", { class: "detail-head" },
    el("span", { class: "type-badge", style: `background:${typeColor(e.type)}` }, e.type + (e.mode ? ` / ${e.mode}` : "")),
    el("span", { class: `modality-badge ${e.modality}`, title: MODALITY_STYLES[e.modality] || "" },
       swatch(typeColor(e.type), e.modality, 12), " ", e.modality),
    el("span", { class: "confidence" }, `confidence ${e.confidence.toFixed(2)}`));

  let evidence;
  if (detail.window && detail.sentence) {
    const w = detail.window, s = detail.sentence;
    const before = w.text.slice(0, Math.max(0, s.start - w.start));
    const after = w.text.slice(Math.max(0, s.end - w.start));
    evidence = el("div", { class: "evidence" },
      el("span", { class: "context" }, before),
      el("span", { class: "sentence" }, highlighted(s.text, s.start, spans)),
      el("span", { class: "context" }, after));
  } else if (detail.sentence) {
    evidence = el("div", { class: "evidence" }, highlighted(detail.sentence.text, detail.sentence.start, spans));
  } else {
    evidence = el("p", { class: "hint" }, "No sentence stored for this event.");
  }
  const present = new Set(spans.map((s) => s.role));
  const roles = el("div", { class: "roles" },
    ROLE_ORDER.filter((r) => present.has(r)).map((r) => el("mark", { class: `ev ev-${r}` }, ROLE_LABELS[r])));

  const chain = detail.chain.length
    ? el("ol", { class: "chain", "aria-label": "Attribution chain, from the outlet to the original speaker" },
        detail.chain.map((link) => el("li", { class: link.anonymous ? "anonymous" : "", "data-anonymous": String(link.anonymous) },
          link.name, el("span", { class: "kind" }, link.kind),
          link.anonymous ? el("span", { class: "anon-flag", title: "The source is not named" }, "⚠ anonymous") : null)))
    : el("p", { class: "hint" }, "Stated by the outlet itself.");

  const doc = detail.document;
  const p = e.place;
  const facts = el("dl", { class: "facts" },
    el("dt", {}, "source"), el("dd", {}, actor(e.source_actor)),
    el("dt", {}, "target"), el("dd", {}, actor(e.target_actor)),
    el("dt", {}, "place"), el("dd", {}, p ? `${p.name}${p.admin1 ? `, ${p.admin1}` : ""}${p.country ? `, ${p.country}` : ""}`
      + (p.lat != null ? ` (${p.lat.toFixed(3)}, ${p.lon.toFixed(3)}; ${p.precision})` : "") : "—"),
    el("dt", {}, "when"), el("dd", {}, when(e.when)),
    el("dt", {}, "document"), el("dd", {}, doc
      ? [safeUrl(doc.url) ? el("a", { href: doc.url, target: "_blank", rel: "noopener noreferrer" }, doc.title || doc.url)
                          : (doc.title || doc.path || doc.id),
         ` — ${doc.outlet || "unknown outlet"}, ${doc.published || "undated"}${doc.published_inferred ? " (inferred)" : ""}`]
      : e.doc_id),
    el("dt", {}, "event id"), el("dd", {}, e.id),
    el("dt", {}, "coder"), el("dd", {}, e.coder));

  container.replaceChildren(head, el("h2", {}, "Evidence"), evidence, roles,
    el("h2", {}, `Who says so${detail.anonymous_links ? ` — ${detail.anonymous_links} anonymous link(s)` : ""}`), chain,
    detail.cluster ? corroboration(detail.cluster) : "",
    el("h2", {}, "Coded as"), facts);
}

export function renderError(container, message) {
  container.replaceChildren(el("p", { class: "error" }, message));
}

// The list of events in view (newest first), `shown` rows at a time; rows are flat events.
// A date as precise as it is known: "2017" for a year, "2017-03" for a month, a range as a range.
export function datePrecision(r) {
  if (!r.date_start) return "undated";
  const end = r.date_end || r.date_start;
  if (end === r.date_start) return r.date_start;
  if (r.granularity === "year") return r.date_start.slice(0, 4);
  if (r.granularity === "month") return r.date_start.slice(0, 7);
  if (r.granularity === "week") return `week of ${r.date_start}`;
  return `${r.date_start} – ${end}`;
}

export function renderList(list, rows, shown, selectedId, onSelect) {
  const items = rows.slice(0, shown).map((r) => {
    const date = datePrecision(r);
    const who = [r.source_name || "?", "→", r.target_name || "—", r.place_name ? `@ ${r.place_name}` : ""].join(" ");
    const li = el("li", { "data-id": r.id, "data-type": r.type, "data-modality": r.modality, role: "option",
                          "aria-selected": String(r.id === selectedId), tabindex: "0" },
      swatch(typeColor(r.type), r.modality, 12),
      el("span", { class: "what" }, `${r.type}${r.mode ? `/${r.mode}` : ""} `, el("small", {}, r.modality)),
      el("span", { class: "when" }, date),
      el("span", { class: "who", title: r.evidence_text || "" }, who));
    li.addEventListener("click", () => onSelect(r.id));
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onSelect(r.id); });
    return li;
  });
  list.replaceChildren(...items);
}
