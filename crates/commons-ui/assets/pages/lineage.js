// The lineage graph of one model: the base models its record names on the
// left, the model in the middle, models on this node derived from it on the
// right. Edges carry the stated relation and, when both models are here, the
// share of identical tensors (by sha256) — evidence from the weights.

import { h, modelHref, s, uid } from "../dom.js";

const BOX_W = 170;
const BOX_H = 44;
const GAP_Y = 16;
const WIDTH = 720;
const COLUMNS = [10, (WIDTH - BOX_W) / 2, WIDTH - BOX_W - 10];

function short(text, max = 24) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function node(x, y, label, sub, { self = false, href = null } = {}) {
  const group = s(
    "g",
    { class: `node${self ? " self" : ""}`, transform: `translate(${x} ${y})` },
    s("title", {}, label),
    s("rect", { width: BOX_W, height: BOX_H, rx: 6 }),
    s("text", { x: BOX_W / 2, y: sub ? 18 : 27, "text-anchor": "middle", "font-weight": self ? 700 : 400 }, short(label)),
    sub ? s("text", { x: BOX_W / 2, y: 35, "text-anchor": "middle", "font-size": 11 }, short(sub, 28)) : null,
  );
  // A local model is a link (SVG <a> is focusable and works with the keyboard).
  return href ? s("a", { href }, group) : group;
}

function edgeLabel(link) {
  const parts = [];
  if (link.relation) parts.push(link.relation);
  if (link.shared_tensors && link.shared_tensors.of > 0) {
    parts.push(`${Math.round((100 * link.shared_tensors.shared) / link.shared_tensors.of)}% tensors shared`);
  }
  return parts.join(" · ");
}

function column(links, x, height) {
  const total = links.length * BOX_H + (links.length - 1) * GAP_Y;
  const top = (height - total) / 2;
  return links.map((link, i) => ({ link, x, y: top + i * (BOX_H + GAP_Y) }));
}

/** The graph for a `/commons/v1/provenance/NAME` answer. */
export function lineageGraph(view) {
  const rows = Math.max(view.bases.length, view.derived.length, 1);
  const height = rows * BOX_H + (rows - 1) * GAP_Y + 40;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, class: "lineage" });
  const self = { x: COLUMNS[1], y: (height - BOX_H) / 2 };
  const bases = column(view.bases, COLUMNS[0], height);
  const derived = column(view.derived, COLUMNS[2], height);
  const edge = (from, to, link) => {
    const x1 = from.x + BOX_W;
    const y1 = from.y + BOX_H / 2;
    const x2 = to.x;
    const y2 = to.y + BOX_H / 2;
    const mid = (x1 + x2) / 2;
    svg.append(
      s("path", { class: "edge", d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2 - 6} ${y2}`, "marker-end": "url(#arrow)" }),
      s("text", { x: mid, y: (y1 + y2) / 2 - 6, "text-anchor": "middle", "font-size": 11 }, edgeLabel(link)),
    );
  };
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#6d7a74" }))));
  for (const b of bases) edge(b, self, b.link);
  for (const d of derived) edge(self, d, d.link);
  for (const b of bases) svg.append(node(b.x, b.y, b.link.name, b.link.local ? "on this node" : "named by the record", { href: b.link.local ? modelHref(b.link.local) : null }));
  svg.append(node(self.x, self.y, view.reference, "this model", { self: true }));
  for (const d of derived) svg.append(node(d.x, d.y, d.link.name, "derived, on this node", { href: modelHref(d.link.local) }));
  if (!view.bases.length) svg.append(s("text", { x: COLUMNS[0] + BOX_W / 2, y: height / 2 + 4, "text-anchor": "middle", class: "muted" }, "no base model stated"));
  if (!view.derived.length) svg.append(s("text", { x: COLUMNS[2] + BOX_W / 2, y: height / 2 + 4, "text-anchor": "middle" }, "nothing derived here"));

  const titleId = uid("lineage");
  const descId = uid("lineage-desc");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", `${titleId} ${descId}`);
  const describe = (links) => links.map((l) => `${l.name}${edgeLabel(l) ? ` (${edgeLabel(l)})` : ""}`).join(", ") || "none";
  svg.prepend(
    s("title", { id: titleId }, `Lineage of ${view.reference}`),
    s("desc", { id: descId }, `Base models: ${describe(view.bases)}. Derived models on this node: ${describe(view.derived)}.`),
  );
  // Scrolls sideways on a phone rather than shrinking its labels below legibility.
  return h("figure", { class: "chart lineage-wrap" }, svg);
}
