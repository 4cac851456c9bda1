// Governance: the hosting policy in force, the quarantine queue, the
// stewards' proposals with every approval (counted or not, and why), and the
// audit log with the result of verifying its hash chain and checkpoints.
// Everything here is read-only; changes go through `commons policy`,
// `commons steward` and `commons audit`, which record them in the log.

import { api, settle } from "../api.js";
import { badge, errorNote, facts, h, note, panel, shortDigest, table } from "../dom.js";

function policyPanel(policy) {
  return panel(
    "Hosting policy",
    facts([
      ["Version", policy.version ?? "the shipped default"],
      ["sha256", h("code", {}, policy.sha256.slice(0, 16))],
      ["Description", policy.policy?.description],
    ]),
    h("details", {}, h("summary", {}, "Policy text (TOML)"), h("pre", {}, policy.text)),
  );
}

function reasonText(reason) {
  const rules = (reason?.rules || []).filter((r) => !r.passed);
  if (rules.length) return rules.map((r) => `${r.rule}: ${r.reason}`).join("; ");
  return typeof reason === "string" ? reason : JSON.stringify(reason);
}

function quarantinePanel(q) {
  return panel(
    "Quarantine queue",
    q.models.length
      ? table(
          [
            { label: "Model", cell: (m) => (m.references.length ? m.references.join(", ") : h("code", {}, shortDigest(m.digest))) },
            { label: "Since", cell: (m) => m.created_at },
            { label: "Why", cell: (m) => reasonText(m.reason) },
          ],
          q.models,
        )
      : note("ok", "No model is quarantined."),
    h("p", { class: "muted" }, "Quarantined models are kept but not served. Releasing one needs the stewards' approval: ", h("code", {}, "commons steward propose release NAME"), "."),
  );
}

function approvals(p) {
  if (!p.approvals?.length) return h("span", { class: "muted" }, "none yet");
  return h("ul", {}, p.approvals.map((a) => h("li", {}, a.counted ? badge("counted", "ok") : badge("not counted", "warn"), " ", a.note, ` · ${a.time}`)));
}

function proposalsPanel(set) {
  return panel(
    "Stewards and proposals",
    facts([
      ["Stewards", set.stewards.length ? set.stewards.map((s) => `${s.name} (${s.key_id.slice(0, 12)})`).join(", ") : "none: changes need no approval"],
      ["Threshold", set.stewards.length ? `${set.threshold} of ${set.stewards.length}` : null],
    ]),
    set.proposals.length
      ? table(
          [
            { label: "Proposal", cell: (p) => [h("strong", {}, p.kind), ` ${p.target}`, h("div", {}, h("code", { title: p.id }, p.id.slice(0, 12)))] },
            { label: "State", cell: (p) => (p.state === "enacted" ? badge(`enacted ${p.enacted_at || ""}`.trim(), "ok") : badge("open", "warn")) },
            { label: "Approvals", cell: (p) => [h("strong", {}, `${p.counted} of ${p.threshold}`), approvals(p)] },
            { label: "Proposed", cell: (p) => `${p.created_at} by ${p.proposer}` },
          ],
          set.proposals,
        )
      : h("p", { class: "muted" }, "No proposals."),
  );
}

function verification(v) {
  if (!v.ok) {
    const bad = v.first_bad;
    return note("bad", h("strong", {}, "The audit log does not verify. "), bad ? `Entry ${bad.seq}: ${bad.problem} — ${bad.message}` : "");
  }
  return note(
    "ok",
    h("strong", {}, "The audit log verifies: "),
    `${v.entries} entries in an unbroken hash chain, ${v.checkpoints} signed checkpoint(s)`,
    v.unanchored ? `; the newest ${v.unanchored} entries are after the last checkpoint (their removal from the end would not show).` : ".",
  );
}

function auditPanel(audit) {
  const entries = [...audit.entries].reverse();
  return panel(
    "Audit log",
    h("div", { id: "audit-verification" }, verification(audit.verify)),
    h("p", { class: "muted" }, `Newest first; showing ${entries.length} of ${audit.total}. `, h("code", {}, "commons audit verify"), " checks the same chain."),
    table(
      [
        { label: "#", num: true, cell: (e) => String(e.seq) },
        { label: "Time", cell: (e) => e.time },
        { label: "Actor", cell: (e) => e.actor },
        { label: "Action", cell: (e) => [h("strong", {}, e.action), e.checkpoint ? [" ", badge("checkpoint", "ok")] : null] },
        { label: "Subject", cell: (e) => e.subject || (e.digest ? h("code", {}, shortDigest(e.digest)) : "—") },
        { label: "Details", cell: (e) => h("details", {}, h("summary", {}, "details"), h("pre", {}, JSON.stringify(e.details, null, 2))) },
        { label: "Hash", cell: (e) => h("code", { title: e.hash }, e.hash.slice(0, 12)) },
      ],
      entries,
      { caption: "Entries", cards: true },
    ),
  );
}

export async function render(main, _route, signal) {
  main.append(h("h1", {}, "Governance"));
  const [policy, quarantine, proposals, audit] = await Promise.all([
    settle(api.policy()),
    settle(api.quarantine()),
    settle(api.proposals()),
    settle(api.audit()),
  ]);
  if (signal.aborted) return;
  const show = (result, draw, title) => (result.value ? draw(result.value) : panel(title, errorNote(result.error)));
  main.append(
    h("div", { class: "grid" }, show(policy, policyPanel, "Hosting policy"), show(quarantine, quarantinePanel, "Quarantine queue")),
    show(proposals, proposalsPanel, "Stewards and proposals"),
    show(audit, auditPanel, "Audit log"),
  );
}
