// Colours by PLOVER type and marker styles by modality: one definition for the map, the legend,
// the timeline and the network, so the same event looks the same everywhere.

// Hue families follow PLOVER's quad classes: greens = verbal cooperation, blues = material cooperation,
// oranges = verbal conflict, reds/browns = material conflict.
const TYPE_COLORS = {
  AGREE: "#1b9e77", CONSULT: "#66c2a5", SUPPORT: "#2ca25f", CONCEDE: "#98c94a",
  COOPERATE: "#2c7fb8", AID: "#41b6c4", RETREAT: "#5e4fa2",
  REQUEST: "#fdae61", ACCUSE: "#f46d43", REJECT: "#e6ab02", THREATEN: "#d95f0e",
  PROTEST: "#f781bf", SANCTION: "#c51b7d", MOBILIZE: "#8c510a", COERCE: "#7f0000", ASSAULT: "#e31a1c",
};
const FALLBACK = ["#666", "#999", "#444"];

export function typeColor(type) {
  if (TYPE_COLORS[type]) return TYPE_COLORS[type];
  let h = 0;
  for (const c of type || "") h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return FALLBACK[h % FALLBACK.length];
}

// What each modality means on the map. Only "asserted" is a solid, opaque disc: everything the text
// does not state as a present fact is visibly weaker (hollow, dashed, struck through or greyed).
export const MODALITY_STYLES = {
  asserted: "solid disc — stated as fact by the outlet",
  reported: "pale disc, solid ring — someone says so",
  hedged: "hollow, dashed ring — may have happened",
  negated: "hollow ring, struck through — said not to happen",
  future: "hollow, dotted ring — planned or threatened",
  historical: "grey disc — background, not news",
};

// Draw one marker on a 2D canvas context at (x, y) with radius r (CSS pixels).
export function drawMarker(ctx, x, y, r, color, modality, selected = false) {
  ctx.save();
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.lineWidth = 1.5;
  switch (modality) {
    case "asserted":
      ctx.fillStyle = color; ctx.globalAlpha = 0.9; ctx.fill();
      ctx.globalAlpha = 1; ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
      break;
    case "reported":
      ctx.fillStyle = color; ctx.globalAlpha = 0.35; ctx.fill();
      ctx.globalAlpha = 1; ctx.strokeStyle = color; ctx.stroke();
      break;
    case "hedged":
      ctx.setLineDash([3, 2]); ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.stroke();
      break;
    case "future":
      ctx.setLineDash([1, 2]); ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.stroke();
      break;
    case "negated":
      ctx.strokeStyle = color; ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x - r * 0.7, y + r * 0.7); ctx.lineTo(x + r * 0.7, y - r * 0.7); ctx.stroke();
      break;
    default: // historical (and anything unknown): greyed, outlined in the type colour
      ctx.fillStyle = "#9a9a9a"; ctx.globalAlpha = 0.45; ctx.fill();
      ctx.globalAlpha = 1; ctx.strokeStyle = color; ctx.lineWidth = 1; ctx.setLineDash([2, 1]); ctx.stroke();
  }
  if (selected) {
    ctx.setLineDash([]); ctx.globalAlpha = 1; ctx.lineWidth = 2; ctx.strokeStyle = "#000";
    ctx.beginPath(); ctx.arc(x, y, r + 3, 0, 2 * Math.PI); ctx.stroke();
  }
  ctx.restore();
}

// A small canvas showing a marker: used as the legend next to each filter checkbox.
export function swatch(color, modality, size = 16) {
  const canvas = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = canvas.height = size * dpr;
  canvas.style.width = canvas.style.height = `${size}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  drawMarker(ctx, size / 2, size / 2, size / 2 - 2.5, color, modality);
  return canvas;
}
