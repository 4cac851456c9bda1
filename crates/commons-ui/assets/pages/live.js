// Live: what the node is doing now — models loaded in memory, their slots,
// the requests running in them and the requests waiting for one — from
// `GET /commons/v1/status`, refreshed every two seconds while the page is open
// and visible. Reading it never keeps a model loaded longer.

import { api } from "../api.js";
import { errorNote, fmtBytes, h, note, panel, table } from "../dom.js";

const REFRESH_MS = 2000;

function expires(at) {
  if (!at) return "while in use";
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toLocaleTimeString();
}

/** A count in a cell, marked so tests (and scripts) can read it. */
function figure(name, value) {
  return h("span", { "data-figure": name }, String(value ?? 0));
}

function loaded(models) {
  return table(
    [
      { label: "Model", cell: (m) => m.name },
      { label: "Slots", num: true, cell: (m) => figure("slots", m.slots) },
      { label: "Running", num: true, cell: (m) => figure("running", m.running) },
      { label: "Queued", num: true, cell: (m) => figure("queued", m.queued) },
      { label: "Memory", num: true, cell: (m) => fmtBytes(m.memory_bytes) },
      { label: "Context per slot", num: true, cell: (m) => String(m.context_length ?? "—") },
      { label: "Unloads at", cell: (m) => expires(m.expires_at) },
    ],
    models,
    { caption: "Loaded models: slots, requests running in them, requests waiting for one" },
  );
}

function totals(models) {
  const t = (m) => m.totals || {};
  return table(
    [
      { label: "Model", cell: (m) => m.name },
      { label: "Completed", num: true, cell: (m) => figure("completed", t(m).requests_completed) },
      { label: "Cancelled", num: true, cell: (m) => figure("cancelled", t(m).requests_cancelled) },
      { label: "Failed", num: true, cell: (m) => figure("failed", t(m).requests_failed) },
      { label: "Prompt tokens evaluated", num: true, cell: (m) => figure("prompt-evaluated", t(m).prompt_tokens_evaluated) },
      { label: "Prompt tokens from cache", num: true, cell: (m) => figure("prompt-cached", t(m).prompt_tokens_cached) },
      { label: "Generated tokens", num: true, cell: (m) => figure("generated", t(m).completion_tokens) },
    ],
    models,
    { caption: "Requests and tokens since each model was loaded" },
  );
}

export async function render(main, _route, signal) {
  main.append(h("h1", {}, "Live state"));
  const now = h("div", {});
  const since = h("div", {});
  const stamp = h("p", { class: "muted", role: "status" });
  main.append(
    panel("Models in memory", now, stamp),
    panel("Since loaded", since),
    note(
      "",
      "“Running” counts the requests decoding in a slot, “Queued” those waiting for a free slot (beyond the node's queue bound a request is refused with 503). Requests that only score a prompt (echo with no new tokens) use the model's scoring context and are not counted here.",
    ),
  );

  const refresh = async () => {
    if (document.hidden) return;
    try {
      const { models } = await api.status();
      if (signal.aborted) return;
      if (models.length) {
        now.replaceChildren(loaded(models));
        since.replaceChildren(totals(models));
      } else {
        now.replaceChildren(h("p", {}, "No model is loaded. The first request to a model loads it (the Playground does)."));
        since.replaceChildren(h("p", { class: "muted" }, "Nothing loaded."));
      }
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!signal.aborted) now.replaceChildren(errorNote(error));
    }
  };
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
}
