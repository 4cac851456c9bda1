// Catalog: every model on the node with its provenance state; a search box
// and filters whose state lives in the URL query, so a filtered view is a link.

import { api } from "../api.js";
import { badge, field, fmtBytes, fmtParams, fmtPercent, h, modelHref, reference, table } from "../dom.js";

const FILTERS = [
  { key: "license", label: "License", value: (m) => m.license || "none" },
  { key: "openness", label: "Openness", value: (m) => m.provenance?.openness_class || "unknown" },
  { key: "arch", label: "Architecture", value: (m) => m.architecture || "unknown" },
];

function select(filter, models, chosen) {
  const values = [...new Set(models.map(filter.value))].sort();
  const control = h(
    "select",
    { name: filter.key },
    h("option", { value: "" }, "any"),
    values.map((v) => h("option", { value: v, selected: v === chosen }, v)),
  );
  return field(filter.label, control);
}

export function signatureBadge(count) {
  return count > 0 ? badge(`signed (${count})`, "ok") : badge("unsigned", "warn");
}

export function completenessCell(provenance) {
  const value = provenance?.completeness ?? 0;
  const title = provenance?.missing?.length ? `missing: ${provenance.missing.join(", ")}` : "complete";
  return h(
    "span",
    { title },
    h("meter", { class: "meter", min: 0, max: 1, value, "aria-label": `provenance completeness ${fmtPercent(value)}` }),
    " ",
    fmtPercent(value),
  );
}

function matches(model, query, chosen) {
  const haystack = [reference(model), model.architecture, model.license, model.quantization, model.provenance?.openness_class, model.digest]
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
  if (query && !query.toLowerCase().split(/\s+/).every((word) => haystack.includes(word))) return false;
  return FILTERS.every((f) => !chosen[f.key] || f.value(model) === chosen[f.key]);
}

export async function render(main, { params }, signal) {
  main.append(h("h1", {}, "Catalog"));
  const [{ models }, quarantine] = await Promise.all([api.models(), api.quarantine().catch(() => ({ models: [] }))]);
  if (signal.aborted) return;
  const quarantined = new Set((quarantine.models || []).map((q) => q.digest));

  const chosen = Object.fromEntries(FILTERS.map((f) => [f.key, params.get(f.key) || ""]));
  const [searchField, search] = field("Search", h("input", { type: "search", name: "q", value: params.get("q") || "", placeholder: "name, license, architecture…", autocomplete: "off" }));
  const selects = FILTERS.map((f) => select(f, models, chosen[f.key]));
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const results = h("div", {});
  const form = h(
    "form",
    { class: "panel filters", role: "search", "aria-label": "Filter models", onsubmit: (e) => e.preventDefault() },
    searchField,
    selects.map(([wrapper]) => wrapper),
  );
  main.append(form, status, results);

  const columns = [
    { label: "Model", cell: (m) => h("a", { href: modelHref(reference(m)) }, reference(m)) },
    { label: "Architecture", cell: (m) => m.architecture || "—" },
    { label: "Parameters", num: true, cell: (m) => fmtParams(m.parameters) },
    { label: "Size", num: true, cell: (m) => fmtBytes(m.size_bytes) },
    { label: "Quantization", cell: (m) => m.quantization || "—" },
    { label: "License", cell: (m) => m.license || badge("none", "warn") },
    { label: "Openness", cell: (m) => m.provenance?.openness_class || "—" },
    { label: "Provenance", cell: (m) => completenessCell(m.provenance) },
    { label: "Signatures", cell: (m) => signatureBadge(m.signatures) },
    { label: "State", cell: (m) => (quarantined.has(m.digest) ? badge("quarantined", "bad") : badge("served", "ok")) },
  ];

  const update = () => {
    for (const [i, f] of FILTERS.entries()) chosen[f.key] = selects[i][1].value;
    const query = search.value.trim();
    const shown = models.filter((m) => matches(m, query, chosen));
    status.textContent = `${shown.length} of ${models.length} model${models.length === 1 ? "" : "s"}`;
    results.replaceChildren(
      shown.length
        ? table(columns, shown, { cards: true, caption: "Models on this node" })
        : h("p", {}, models.length ? "No model matches these filters." : "This node has no models yet: `commons import PATH` adds one."),
    );
    const url = new URL(location.href);
    for (const [key, value] of [["q", query], ...Object.entries(chosen)]) {
      if (value) url.searchParams.set(key, value);
      else url.searchParams.delete(key);
    }
    history.replaceState(null, "", url);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}
