// Building DOM without innerHTML: every string from the node's APIs lands
// in a text node or an attribute, never parsed as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children (strings, nodes, arrays of them; null and false are skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** An HTML element: h("a", { href }, "text", child, ...). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

let ids = 0;
/** A fresh id for label/aria wiring. */
export function uid(prefix = "id") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A titled panel: <section aria-labelledby> with an h2. */
export function panel(title, ...content) {
  const id = uid("panel");
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

/** A labelled form control: returns [wrapper, control]. */
export function field(labelText, control) {
  const id = control.id || uid("field");
  control.id = id;
  return [h("div", { class: "field" }, h("label", { for: id }, labelText), control), control];
}

/** A definition list from [term, value] pairs (null values are skipped). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

/** A table; columns: [{ label, num, cell(row) }]. `cards` turns rows into cards on a phone. */
export function table(columns, rows, { caption, cards = false } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: cards ? "cards" : null },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null, "data-label": c.label }, c.cell(row)))),
        ),
      ),
    ),
  );
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

export function note(kind, ...content) {
  return h("div", { class: `note ${kind}`, role: kind === "bad" ? "alert" : null }, ...content);
}

/** Shows an error where a page's content would be. */
export function errorNote(error) {
  const hint =
    error && error.status === 401
      ? "This node wants a token for reads: open “Token” at the top and paste one."
      : "Is the node still running? Reload to try again.";
  return note("bad", h("strong", {}, "Could not load: "), String(error && error.message ? error.message : error), h("p", {}, hint));
}

export function fmtBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function fmtParams(n) {
  if (typeof n !== "number") return "—";
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function fmtPercent(x, digits = 0) {
  return typeof x === "number" && Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : "—";
}

export function shortDigest(digest) {
  return typeof digest === "string" ? digest.replace(/^sha256:/, "").slice(0, 12) : "—";
}

/** `name:tag` of a catalog row. */
export function reference(row) {
  return row.tag ? `${row.name}:${row.tag}` : row.name;
}

/** The dashboard path of a model's page. */
export function modelHref(ref) {
  return `/ui/models/${encodeURIComponent(ref)}`;
}
