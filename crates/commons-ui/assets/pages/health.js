// Health: the node's health report (`GET /commons/v1/health`, the same as
// `commons health --json`) drawn as charts, plus publisher concentration
// over time, rebuilt from the catalog's import times and the report's
// publisher of each model.

import { api } from "../api.js";
import { barChart, columnChart, stepChart } from "../charts.js";
import { facts, fmtPercent, h, note, panel, reference } from "../dom.js";

const BUCKETS = [
  { label: "0–19%", from: 0, to: 0.2 },
  { label: "20–39%", from: 0.2, to: 0.4 },
  { label: "40–59%", from: 0.4, to: 0.6 },
  { label: "60–79%", from: 0.6, to: 0.8 },
  { label: "80–100%", from: 0.8, to: 1.0001 },
];

const count = (n) => String(n);

function byCount(mapping) {
  return Object.entries(mapping || {})
    .map(([label, models]) => ({ label, value: models.length }))
    .sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
}

/** Herfindahl index of publisher shares after each import, oldest first. */
export function concentrationOverTime(health, models) {
  const publisherOf = new Map();
  for (const share of health.publishers?.shares || []) {
    for (const model of share.models) publisherOf.set(model, share.publisher);
  }
  const imports = models
    .filter((m) => publisherOf.has(reference(m)))
    .map((m) => ({ time: new Date(m.created_at), publisher: publisherOf.get(reference(m)) }))
    .filter((m) => !Number.isNaN(m.time.getTime()))
    .sort((a, b) => a.time - b.time);
  const counts = new Map();
  return imports.map((item, index) => {
    counts.set(item.publisher, (counts.get(item.publisher) || 0) + 1);
    const total = index + 1;
    let hhi = 0;
    for (const c of counts.values()) hhi += (c / total) ** 2;
    return { time: item.time, value: hhi };
  });
}

export async function render(main, _route, signal) {
  main.append(h("h1", {}, "Health of the commons on this node"));
  const [health, { models }] = await Promise.all([api.health(), api.models()]);
  if (signal.aborted) return;

  const completeness = health.completeness || { per_model: [] };
  const buckets = BUCKETS.map((b) => ({ label: b.label, count: completeness.per_model.filter((m) => m.value >= b.from && m.value < b.to).length }));
  const evaluators = (health.evaluation?.per_model || []).map((m) => ({ label: m.model, value: m.value }));
  const shares = (health.publishers?.shares || []).map((s) => ({ label: s.publisher, value: s.share }));
  const mirrors = health.mirrors || { configured: [] };

  main.append(
    panel(
      "At a glance",
      facts([
        ["Models", health.models],
        ["Mean provenance completeness", fmtPercent(completeness.mean)],
        ["Unsigned", `${health.unsigned?.length ?? 0} of ${health.models}`],
        ["Without any evaluation", `${health.evaluation?.without_evaluations?.length ?? 0} of ${health.models}`],
        ["Quarantined", health.quarantined?.length ?? 0],
        ["License findings", health.drift?.length ?? 0],
      ]),
      (health.drift || []).map((d) => note("warn", h("strong", {}, `${d.kind}: `), d.message)),
    ),
    h(
      "div",
      { class: "grid" },
      panel(
        "Provenance completeness",
        columnChart({
          title: "Models by provenance completeness",
          buckets,
          caption: `Mean ${fmtPercent(completeness.mean)}, lowest ${fmtPercent(completeness.min)}${completeness.min_models?.length ? ` (${completeness.min_models.join(", ")})` : ""}.`,
        }),
      ),
      panel("Openness", barChart({ title: "Models by openness class", items: byCount(health.openness), format: count, caption: "Model Openness Framework class of each model's record (class I is the most open)." })),
      panel("License mix", barChart({ title: "Models by license", items: byCount(health.licenses), format: count, caption: "Licenses as stated by each model." })),
      panel(
        "Evaluator plurality",
        barChart({
          title: "Distinct evaluators per model",
          items: evaluators,
          max: Math.max(2, ...evaluators.map((e) => e.value)),
          format: count,
          caption: "Signed attestations by distinct keys. Two or more make an independent picture; the scale runs to at least two.",
        }),
      ),
      panel(
        "Mirror redundancy",
        barChart({
          title: "Sources a model can be pulled from",
          items: [
            { label: "this node", value: 1 },
            { label: "configured mirrors", value: mirrors.configured.length, alt: true },
          ],
          max: Math.max(2, mirrors.configured.length),
          format: count,
          caption: `Copies per model on the mirrors: ${mirrors.per_model} (the report stays offline and does not ask them).${mirrors.configured.length ? ` Mirrors: ${mirrors.configured.join(", ")}.` : " Add one with “commons mirror add URL”."}`,
        }),
      ),
      panel(
        "Publisher concentration",
        barChart({ title: "Share of models by publisher", items: shares, max: 1, format: (v) => fmtPercent(v) }),
        stepChart({
          title: "Herfindahl index of publishers after each import",
          points: concentrationOverTime(health, models),
          format: (v) => v.toFixed(1),
          caption: `Herfindahl index now ${health.publishers?.herfindahl?.toFixed(2) ?? "—"}: 1 means one publisher holds everything, 1/n means n equal publishers.`,
        }),
      ),
    ),
  );
}
