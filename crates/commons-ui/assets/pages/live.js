// Live: what the node is doing now — models loaded in memory and the
// requests holding each of them — from `GET /api/ps`, refreshed every two
// seconds while the page is open and visible.

import { api } from "../api.js";
import { errorNote, fmtBytes, h, note, panel, table } from "../dom.js";

const REFRESH_MS = 2000;

function expires(at) {
  if (!at) return "while in use";
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toLocaleTimeString();
}

export async function render(main, _route, signal) {
  main.append(h("h1", {}, "Live state"));
  const body = h("div", {});
  const stamp = h("p", { class: "muted", role: "status" });
  main.append(
    panel("Models in memory", body, stamp),
    note(
      "",
      "“Requests” counts the requests holding a model: running or waiting for a slot. A per-model split into running requests and queue depth is not exposed by the node's API yet.",
    ),
  );

  const refresh = async () => {
    if (document.hidden) return;
    try {
      const { models } = await api.ps();
      if (signal.aborted) return;
      body.replaceChildren(
        models.length
          ? table(
              [
                { label: "Model", cell: (m) => m.name },
                { label: "Memory", num: true, cell: (m) => fmtBytes(m.size) },
                { label: "Context per slot", num: true, cell: (m) => String(m.context_length ?? "—") },
                { label: "Requests", num: true, cell: (m) => String(m.active_requests ?? 0) },
                { label: "Unloads at", cell: (m) => expires(m.expires_at) },
              ],
              models,
              { caption: "Loaded models" },
            )
          : h("p", {}, "No model is loaded. The first request to a model loads it (the Playground does)."),
      );
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!signal.aborted) body.replaceChildren(errorNote(error));
    }
  };
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
}
