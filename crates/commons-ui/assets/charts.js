// Charts as inline SVG, drawn from data by this code (no chart library).
// Each chart is a <figure> whose <svg role="img"> carries a <title> and a
// <desc> listing every value, so a screen reader gets the numbers too.
// Sizes are in viewBox units; CSS scales the SVG to the panel's width.

import { h, s, uid } from "./dom.js";

// Narrow enough that 12-unit text stays readable when a panel is ~320px wide.
const WIDTH = 360;

function figure(title, description, svg, caption) {
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", `${titleId} ${descId}`);
  svg.prepend(s("title", { id: titleId }, title), s("desc", { id: descId }, description));
  return h("figure", { class: "chart" }, svg, caption ? h("figcaption", {}, caption) : null);
}

function truncate(text, max) {
  const str = String(text);
  return str.length > max ? `${str.slice(0, max - 1)}…` : str;
}

/**
 * Horizontal bars: items [{ label, value }], values in [0, max].
 * `format` renders a value for the label at the bar's end.
 */
export function barChart({ title, items, max, format = String, caption }) {
  const rowHeight = 28;
  const labelWidth = 120;
  const valueWidth = 44;
  const top = 6;
  const height = top * 2 + Math.max(items.length, 1) * rowHeight;
  const scaleMax = max ?? Math.max(1, ...items.map((i) => i.value));
  const barSpace = WIDTH - labelWidth - valueWidth;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, class: "bars" });
  items.forEach((item, index) => {
    const y = top + index * rowHeight;
    // A zero still gets a sliver, so "none" is visible as a bar that is there.
    const width = Math.max(2, (Math.max(0, item.value) / scaleMax) * barSpace);
    svg.append(
      s("text", { x: labelWidth - 8, y: y + rowHeight / 2 + 4, "text-anchor": "end" }, truncate(item.label, 18)),
      s("rect", { class: `bar${item.alt ? " alt" : ""}`, x: labelWidth, y: y + 4, width, height: rowHeight - 8, rx: 3 }),
      s("text", { x: labelWidth + width + 6, y: y + rowHeight / 2 + 4 }, format(item.value)),
    );
  });
  if (items.length === 0) {
    svg.append(s("text", { x: WIDTH / 2, y: height / 2 + 4, "text-anchor": "middle" }, "no data yet"));
  }
  svg.append(s("line", { class: "axis", x1: labelWidth, x2: labelWidth, y1: 2, y2: height - 2 }));
  const description = items.map((i) => `${i.label}: ${format(i.value)}`).join("; ") || "no data";
  return figure(title, description, svg, caption);
}

/**
 * Vertical bars over fixed buckets: buckets [{ label, count }].
 */
export function columnChart({ title, buckets, caption, yLabel = "models" }) {
  const height = 200;
  const left = 34;
  const bottom = 34;
  const top = 14;
  const plotH = height - top - bottom;
  const maxCount = Math.max(1, ...buckets.map((b) => b.count));
  const slot = (WIDTH - left - 8) / Math.max(buckets.length, 1);
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, class: "columns" });
  // Integer gridlines: 0, the max, and the middle when it is a whole number.
  const ticks = [...new Set([0, maxCount, maxCount % 2 === 0 ? maxCount / 2 : null].filter((t) => t !== null))];
  for (const tick of ticks) {
    const y = top + plotH - (tick / maxCount) * plotH;
    svg.append(
      s("line", { class: "axis", x1: left, x2: WIDTH - 4, y1: y, y2: y, "stroke-dasharray": tick ? "3 3" : null }),
      s("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(tick)),
    );
  }
  buckets.forEach((bucket, index) => {
    const barH = (bucket.count / maxCount) * plotH;
    const x = left + index * slot + slot * 0.15;
    svg.append(
      s("rect", { class: "bar", x, y: top + plotH - Math.max(barH, 1), width: slot * 0.7, height: Math.max(barH, 1), rx: 2 }),
      s("text", { x: x + slot * 0.35, y: height - bottom + 16, "text-anchor": "middle" }, bucket.label),
    );
    if (bucket.count > 0) {
      svg.append(s("text", { x: x + slot * 0.35, y: top + plotH - barH - 4, "text-anchor": "middle" }, String(bucket.count)));
    }
  });
  svg.append(s("text", { x: WIDTH - 4, y: 10, "text-anchor": "end" }, yLabel));
  const description = buckets.map((b) => `${b.label}: ${b.count} ${yLabel}`).join("; ");
  return figure(title, description, svg, caption);
}

/**
 * A step line over time: points [{ time: Date, value }], values in [0, 1].
 */
export function stepChart({ title, points, caption, format = String }) {
  const height = 190;
  const left = 40;
  const right = 12;
  const top = 12;
  const bottom = 34;
  const plotW = WIDTH - left - right;
  const plotH = height - top - bottom;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, class: "steps" });
  for (const tick of [0, 0.5, 1]) {
    const y = top + plotH - tick * plotH;
    svg.append(
      s("line", { class: "axis", x1: left, x2: WIDTH - right, y1: y, y2: y, "stroke-dasharray": tick ? "3 3" : null }),
      s("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, format(tick)),
    );
  }
  if (points.length > 0) {
    const t0 = points[0].time.getTime();
    const t1 = points[points.length - 1].time.getTime();
    const span = Math.max(t1 - t0, 1);
    // One point still spans the plot, as a level line from its time on.
    const x = (t) => (points.length === 1 ? left : left + ((t - t0) / span) * plotW);
    const y = (v) => top + plotH - Math.min(Math.max(v, 0), 1) * plotH;
    let d = `M ${x(t0)} ${y(points[0].value)}`;
    for (const p of points.slice(1)) {
      d += ` H ${x(p.time.getTime())} V ${y(p.value)}`;
    }
    d += ` H ${left + plotW}`;
    svg.append(s("path", { class: "line", d }));
    for (const p of points) {
      svg.append(s("circle", { cx: x(p.time.getTime()), cy: y(p.value), r: 3.5, class: "bar" }));
    }
    // Dates, or times of day when every point is on one day.
    const sameDay = new Date(t0).toISOString().slice(0, 10) === new Date(t1).toISOString().slice(0, 10);
    const day = (t) => new Date(t).toISOString().slice(sameDay ? 11 : 0, sameDay ? 19 : 10);
    svg.append(
      s("text", { x: left, y: height - 10 }, day(t0)),
      s("text", { x: WIDTH - right, y: height - 10, "text-anchor": "end" }, points.length > 1 ? day(t1) : "now"),
    );
  }
  const description = points.map((p) => `${p.time.toISOString()}: ${format(p.value)}`).join("; ") || "no data";
  return figure(title, description, svg, caption);
}
