// Model page: metadata, the provenance record (card and raw JSON), lineage,
// signatures, evaluations (suite × evaluator, never a rank), warnings, and
// how to pull the model with the tools people already use.

import { api, settle } from "../api.js";
import { badge, errorNote, facts, fmtBytes, fmtParams, fmtPercent, h, note, panel, shortDigest, table } from "../dom.js";
import { completenessCell, signatureBadge } from "./catalog.js";
import { lineageGraph } from "./lineage.js";

function metadata(m) {
  const mix = m.quantization_mix && typeof m.quantization_mix === "object" ? Object.entries(m.quantization_mix).map(([k, v]) => `${k}: ${v}`).join(", ") : null;
  return panel(
    "Metadata",
    facts([
      ["Digest", h("code", { title: m.digest }, m.digest)],
      ["Format", m.format],
      ["Architecture", m.architecture],
      ["Parameters", fmtParams(m.parameters)],
      ["Quantization", m.quantization],
      ["Tensor types", mix],
      ["Context length", m.context_length?.toLocaleString("en")],
      ["Tensors", m.tensor_count],
      ["Size", fmtBytes(m.size_bytes)],
      ["Tokenizer", m.tokenizer],
      ["Chat template", m.chat_template ? "yes" : "no"],
      ["Imported", m.created_at],
    ]),
    h("h3", {}, "Files"),
    table(
      [
        { label: "Path", cell: (f) => h("code", {}, f.path) },
        { label: "Role", cell: (f) => f.role },
        { label: "Size", num: true, cell: (f) => fmtBytes(f.size) },
        { label: "Digest", cell: (f) => h("code", { title: f.digest }, shortDigest(f.digest)) },
      ],
      m.files || [],
    ),
  );
}

function list(items, render = (x) => x) {
  return items && items.length ? h("ul", {}, items.map((i) => h("li", {}, render(i)))) : null;
}

function externalLink(url) {
  // Only http(s) addresses become links; anything else is shown as text.
  return /^https?:\/\//i.test(url) ? h("a", { href: url, rel: "noopener noreferrer" }, url) : url;
}

function provenanceCard(m, view) {
  const r = view.record || {};
  const p = m.provenance || {};
  return panel(
    "Provenance",
    h("p", {}, completenessCell(p), " of the provenance checklist answered · ", badge(p.openness_class || "unknown openness"), " ", view.version ? badge(`record version ${view.version}`) : badge("as the files state it")),
    p.missing?.length ? note("warn", h("strong", {}, "Missing: "), p.missing.join(", ")) : note("ok", "Every item of the checklist is answered."),
    facts([
      ["Name", r.name],
      ["Version", r.version],
      ["Description", r.description],
      ["Publisher", r.publisher ? [r.publisher.name, r.publisher.url ? [" · ", externalLink(r.publisher.url)] : null] : null],
      ["Source", r.source ? externalLink(r.source) : null],
      ["License", r.license ? [h("strong", {}, r.license.id), r.license.name ? ` (${r.license.name})` : null, r.license.link ? [" · ", externalLink(r.license.link)] : null, r.license.text_digest ? [" · text ", h("code", {}, shortDigest(r.license.text_digest))] : null] : null],
      ["Base models", list(r.base_models, (b) => [b.name || b.digest || "unnamed", b.relation ? ` (${b.relation})` : null, b.license ? ` · ${b.license}` : null])],
      ["Training", r.training ? Object.entries(r.training).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("; ") : null],
      ["Datasets", list(r.datasets, (d) => [d.name, d.role ? ` (${d.role})` : null, d.license ? ` · ${d.license}` : null])],
      ["Evaluation", list(r.evaluation, (e) => [e.name || "", e.summary ? ` — ${e.summary}` : null])],
      ["Intended use", r.intended_use],
      ["Limitations", r.limitations],
    ]),
    h("details", {}, h("summary", {}, "Raw provenance record (JSON)"), h("pre", { class: "raw-json" }, JSON.stringify(r, null, 2))),
    h("details", {}, h("summary", {}, h("span", {}, "Raw model details (JSON, as "), h("code", {}, "commons show --json"), ")"), h("pre", {}, JSON.stringify(m, null, 2))),
  );
}

function signatures(m) {
  const sigs = m.signatures || [];
  return panel(
    "Signatures",
    sigs.length
      ? table(
          [
            { label: "Signed by key", cell: (x) => h("code", { title: x.key_hint }, x.key_hint.slice(0, 16)) },
            {
              label: "Signer",
              cell: (x) => (x.trusted_as ? h("span", { "data-signer": "" }, `${x.trusted_as} ✓`) : h("span", { class: "muted" }, "not in the trust list")),
            },
            { label: "When", cell: (x) => x.created_at },
          ],
          sigs,
          { caption: "Signing keys and the names this node trusts them under" },
        )
      : note("warn", "Not signed. ", h("code", {}, `commons sign ${m.name}:${m.tag}`), " signs it with this node's key (OpenSSF model signing)."),
  );
}

function evaluatorLabel(e) {
  const who = e.name || e.key_hint.slice(0, 12);
  return e.trusted_as ? `${who} ✓` : who;
}

function evaluationMatrix(comparison) {
  const model = comparison.models?.[0];
  const rows = model?.rows || [];
  if (!rows.length) {
    return panel(
      "Evaluations",
      note("warn", "No signed evaluation is attached to this model yet. ", h("code", {}, "commons eval run SUITE --model NAME"), " adds one; several independent evaluators make a plural picture."),
      model?.invalid?.length ? note("bad", `${model.invalid.length} attestation(s) did not verify and are not shown.`) : null,
    );
  }
  const evaluators = [...new Map(rows.map((r) => [r.evaluator.key_hint, r.evaluator])).values()];
  const lines = [...new Map(rows.map((r) => [`${r.suite}@${r.suite_version}\u0000${r.metric}`, r])).values()];
  const disagreeing = new Set(
    (comparison.disagreements || []).flatMap((d) => d.evaluators.map((e) => `${d.suite}\u0000${d.metric}\u0000${e}`)),
  );
  const cell = (line, evaluator) => {
    const r = rows.find((x) => x.suite === line.suite && x.suite_version === line.suite_version && x.metric === line.metric && x.evaluator.key_hint === evaluator.key_hint);
    if (!r) return h("span", { class: "muted" }, "not run");
    const flagged = disagreeing.has(`${r.suite}\u0000${r.metric}\u0000${r.evaluator.key_hint}`);
    return [
      h("strong", {}, fmtPercent(r.value, 1)),
      h("span", { class: "interval" }, `95% CI ${fmtPercent(r.low, 1)}–${fmtPercent(r.high, 1)} · n=${r.n}`),
      flagged ? h("span", { class: "disagree", title: "Intervals of two evaluators do not overlap" }, "⚠ disagrees") : null,
    ];
  };
  const thin = (comparison.thin_coverage || []).filter((c) => c.evaluators < 2);
  return panel(
    "Evaluations",
    h("p", { class: "muted" }, "Each evaluator's latest signed result per suite, with its Wilson 95% interval. Nothing is averaged or ranked; ✓ marks keys this node trusts."),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "matrix" },
        h("caption", {}, "Suite × evaluator"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Suite / metric"), evaluators.map((e) => h("th", { scope: "col", title: e.key_hint }, evaluatorLabel(e))))),
        h("tbody", {}, lines.map((line) => h("tr", {}, h("th", { scope: "row" }, `${line.suite}@${line.suite_version}`, h("span", { class: "interval" }, line.metric)), evaluators.map((e) => h("td", {}, cell(line, e)))))),
      ),
    ),
    comparison.disagreements?.length ? note("bad", `${comparison.disagreements.length} disagreement(s): two evaluators' intervals do not overlap.`) : null,
    thin.length ? note("warn", "Fewer than two independent evaluators: ", thin.map((c) => `${c.suite} (${c.evaluators})`).join(", ")) : null,
  );
}

function warnings(m, health, quarantine) {
  const ref = `${m.name}:${m.tag}`;
  const items = [];
  if (!m.license) items.push(note("warn", "No license is stated for this model."));
  for (const d of health?.drift || []) {
    if (d.message.includes(ref) || d.message.includes(`${m.name} `)) items.push(note("warn", h("strong", {}, `${d.kind}: `), d.message));
  }
  const q = (quarantine?.models || []).find((x) => x.digest === m.digest);
  if (q) items.push(note("bad", h("strong", {}, "Quarantined: "), "kept but not served. ", h("pre", {}, JSON.stringify(q.reason, null, 2))));
  return panel("License and drift", items.length ? items : note("ok", `License ${m.license}: no drift or license warning in this node's health report.`));
}

function snippet(title, code) {
  const pre = h("pre", {}, h("code", {}, code));
  const copy = h("button", { type: "button", class: "secondary", "aria-label": `Copy the ${title} command` }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Select and copy";
    }
  });
  return h("div", { class: "snippet" }, h("div", { class: "row" }, h("h3", {}, title), copy), pre);
}

/** Pull commands for this node, built from the page's own origin. */
export function pullSnippets(m, origin = location.origin, host = location.host) {
  const ref = `${m.name}:${m.tag}`;
  const revision = m.tag && m.tag !== "latest" ? `, revision="${m.tag}"` : "";
  return [
    ["commons", `commons pull ${origin}/${ref}`],
    ["huggingface_hub", `from huggingface_hub import snapshot_download\n\npath = snapshot_download("${m.name}"${revision}, endpoint="${origin}")`],
    ["skopeo (OCI)", `skopeo copy --src-tls-verify=false \\\n  docker://${host}/${ref} oci:./${m.name.replaceAll("/", "-")}:${m.tag}`],
    ["Ollama client", `from ollama import Client\n\nclient = Client(host="${origin}")\nreply = client.chat(model="${ref}", messages=[{"role": "user", "content": "Hello"}])\nprint(reply.message.content)`],
    ["curl (Ollama API)", `curl ${origin}/api/chat -d '{"model": "${ref}", "messages": [{"role": "user", "content": "Hello"}]}'`],
  ];
}

export async function render(main, { args }, signal) {
  const ref = args[0];
  const m = await api.model(ref);
  if (signal.aborted) return;
  const [prov, evals, health, quarantine] = await Promise.all([
    settle(api.provenance(ref)),
    settle(api.evaluations(ref)),
    settle(api.health()),
    settle(api.quarantine()),
  ]);
  if (signal.aborted) return;
  const title = `${m.name}:${m.tag}`;
  main.append(
    h("p", {}, h("a", { href: "/ui/" }, "← Catalog")),
    h("h1", {}, title),
    h(
      "p",
      { class: "row" },
      badge(m.license ? `license ${m.license}` : "no license", m.license ? "ok" : "warn"),
      badge(m.provenance?.openness_class || "openness unknown"),
      signatureBadge(m.signatures?.length || 0),
      badge(m.architecture || "unknown architecture"),
      h("a", { href: `/ui/playground?model=${encodeURIComponent(title)}` }, "Chat with it →"),
    ),
    h(
      "div",
      { class: "grid" },
      metadata(m),
      prov.value ? provenanceCard(m, prov.value) : panel("Provenance", errorNote(prov.error)),
    ),
    prov.value ? panel("Lineage", lineageGraph(prov.value)) : null,
    h("div", { class: "grid" }, signatures(m), warnings(m, health.value, quarantine.value)),
    evals.value ? evaluationMatrix(evals.value) : panel("Evaluations", errorNote(evals.error)),
    panel("How to pull it", h("p", { class: "muted" }, "Every command talks to this node, at ", h("code", {}, location.origin), "."), pullSnippets(m).map(([t, c]) => snippet(t, c))),
  );
}
