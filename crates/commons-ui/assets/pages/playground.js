// Playground: chat with a model on this node, streamed token by token from
// the Ollama API (`POST /api/chat`, NDJSON), with sampling settings and the
// timing figures of each answer. Time to first token is measured here in the
// browser (request sent → first text arrived); tokens/s, prompt and load
// times are what the server reports in its final chunk.

import { api, check, headers } from "../api.js";
import { facts, field, h, note, panel } from "../dom.js";

const SETTINGS = [
  { key: "temperature", label: "Temperature", value: "0.7", attrs: { min: 0, max: 2, step: 0.05 } },
  { key: "top_p", label: "Top p", value: "0.9", attrs: { min: 0, max: 1, step: 0.01 } },
  { key: "top_k", label: "Top k", value: "40", attrs: { min: 0, step: 1 } },
  { key: "seed", label: "Seed (empty: random)", value: "", attrs: { step: 1 } },
  { key: "num_predict", label: "Max tokens", value: "256", attrs: { min: 1, max: 8192, step: 1 } },
];

function ms(ns) {
  return typeof ns === "number" ? `${(ns / 1e6).toFixed(0)} ms` : "—";
}

/** Splits a byte stream into complete NDJSON objects. */
async function* ndjson(body, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) yield JSON.parse(line);
      }
      if (signal.aborted) break;
    }
    if (buffer.trim()) yield JSON.parse(buffer);
  } finally {
    reader.releaseLock();
  }
}

function options(inputs) {
  const out = {};
  for (const setting of SETTINGS) {
    const raw = inputs[setting.key].value.trim();
    if (raw !== "") out[setting.key] = Number(raw);
  }
  return out;
}

function message(role, text) {
  const body = h("div", { class: "text" }, text);
  return [h("div", { class: `msg ${role}`, "data-role": role }, h("div", { class: "who" }, role === "user" ? "You" : "Model"), body), body];
}

export async function render(main, { params }, pageSignal) {
  main.append(h("h1", {}, "Playground"));
  // /api/tags lists what the node serves (quarantined models are left out).
  const { models } = await api.tags();
  if (pageSignal.aborted) return;
  if (!models.length) {
    main.append(note("warn", "No model is served by this node (quarantined models are not). Import one with ", h("code", {}, "commons import PATH"), "."));
    return;
  }
  const wanted = params.get("model");
  const [modelField, modelSelect] = field(
    "Model",
    h("select", { name: "model" }, models.map((m) => h("option", { value: m.name, selected: m.name === wanted || m.model === wanted }, m.name))),
  );
  const [systemField, system] = field("System prompt (optional)", h("textarea", { rows: 2, name: "system" }));
  const inputs = {};
  const settingFields = SETTINGS.map((s) => {
    const [wrapper, input] = field(s.label, h("input", { type: "number", name: s.key, value: s.value, inputmode: "decimal", ...s.attrs }));
    inputs[s.key] = input;
    return wrapper;
  });
  const transcript = h("div", { class: "transcript", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const [promptField, prompt] = field("Message", h("textarea", { rows: 3, name: "prompt", required: true, placeholder: "Ask something… (Ctrl+Enter sends)" }));
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "secondary", disabled: true }, "Stop");
  const clear = h("button", { type: "button", class: "secondary" }, "New chat");
  const status = h("p", { class: "muted", role: "status" });
  const timings = h("div", { id: "timings" }, h("p", { class: "muted" }, "Figures appear after the first answer."));
  const form = h("form", { class: "panel", "aria-label": "Chat" }, transcript, promptField, h("div", { class: "row" }, send, stop, clear), status);

  main.append(
    h(
      "div",
      { class: "chat" },
      h("div", {}, form),
      h(
        "div",
        {},
        panel("Settings", modelField, systemField, h("fieldset", {}, h("legend", {}, "Sampling"), h("div", { class: "settings" }, settingFields))),
        panel("Timing", timings),
      ),
    ),
  );

  let history = [];
  let running = null;
  clear.addEventListener("click", () => {
    history = [];
    transcript.replaceChildren();
    status.textContent = "";
  });
  stop.addEventListener("click", () => running?.abort());
  pageSignal.addEventListener("abort", () => running?.abort());
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text || running) return;
    prompt.value = "";
    const [userEl] = message("user", text);
    const [assistantEl, assistantText] = message("assistant", "");
    transcript.append(userEl, assistantEl);
    history.push({ role: "user", content: text });
    const messages = system.value.trim() ? [{ role: "system", content: system.value.trim() }, ...history] : history;
    running = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    status.textContent = "Waiting for the first token…";
    const started = performance.now();
    let firstToken = null;
    let answer = "";
    let final = null;
    try {
      const response = await fetch("/api/chat", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ model: modelSelect.value, messages, stream: true, options: options(inputs) }),
        signal: running.signal,
      });
      await check(response, "/api/chat");
      for await (const chunk of ndjson(response.body, running.signal)) {
        if (chunk.error) throw new Error(chunk.error);
        const piece = chunk.message?.content || "";
        if (piece) {
          if (firstToken === null) {
            firstToken = performance.now() - started;
            status.textContent = "Streaming…";
          }
          answer += piece;
          assistantText.textContent = answer;
          transcript.scrollTop = transcript.scrollHeight;
        }
        if (chunk.done) final = chunk;
      }
      history.push({ role: "assistant", content: answer });
      status.textContent = final ? `Done (${final.done_reason || "stop"}).` : "Stopped.";
    } catch (error) {
      status.textContent = "";
      if (running.signal.aborted) {
        status.textContent = "Stopped.";
        if (answer) history.push({ role: "assistant", content: answer });
      } else {
        assistantEl.append(note("bad", String(error.message || error)));
        history.pop();
      }
    } finally {
      running = null;
      send.disabled = false;
      stop.disabled = true;
    }
    if (final) showTimings(timings, final, firstToken);
  });
}

function showTimings(target, final, firstTokenMs) {
  const rate = final.eval_count && final.eval_duration ? final.eval_count / (final.eval_duration / 1e9) : null;
  const promptRate = final.prompt_eval_count && final.prompt_eval_duration ? final.prompt_eval_count / (final.prompt_eval_duration / 1e9) : null;
  target.replaceChildren(
    facts([
      ["Tokens/s", h("strong", { "data-figure": "tokens-per-second" }, rate ? rate.toFixed(1) : "—")],
      ["Time to first token", h("span", { "data-figure": "ttft" }, firstTokenMs === null ? "—" : `${firstTokenMs.toFixed(0)} ms`)],
      ["Generated tokens", final.eval_count],
      ["Prompt tokens", final.prompt_eval_count],
      ["Prompt speed", promptRate ? `${promptRate.toFixed(1)} tokens/s` : null],
      ["Prompt time", ms(final.prompt_eval_duration)],
      ["Load time", ms(final.load_duration)],
      ["Total", ms(final.total_duration)],
    ]),
    h("p", { class: "muted" }, "Time to first token is measured in this browser; the rest is reported by the node."),
  );
}
