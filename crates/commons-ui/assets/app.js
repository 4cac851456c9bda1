// The dashboard's shell: history routing under /ui (the server answers every
// /ui/... path with this app, so deep links work), the token form, and page
// switching. Each page module exports `render(main, params, signal)`; the
// signal aborts when the user leaves the page (timers, streams, fetches).

import { setToken, token } from "./api.js";
import { h, errorNote } from "./dom.js";
import * as catalog from "./pages/catalog.js";
import * as model from "./pages/model.js";
import * as playground from "./pages/playground.js";
import * as health from "./pages/health.js";
import * as governance from "./pages/governance.js";
import * as live from "./pages/live.js";

const ROUTES = [
  { pattern: /^\/?$/, page: catalog, nav: "catalog", title: "Catalog" },
  { pattern: /^\/models\/(.+)$/, page: model, nav: "catalog", title: "Model" },
  { pattern: /^\/playground\/?$/, page: playground, nav: "playground", title: "Playground" },
  { pattern: /^\/health\/?$/, page: health, nav: "health", title: "Health" },
  { pattern: /^\/governance\/?$/, page: governance, nav: "governance", title: "Governance" },
  { pattern: /^\/live\/?$/, page: live, nav: "live", title: "Live" },
];

let current = null;

function match(pathname) {
  const rest = pathname.replace(/^\/ui/, "");
  for (const route of ROUTES) {
    const found = rest.match(route.pattern);
    if (found) return { route, args: found.slice(1).map(decodeURIComponent) };
  }
  return null;
}

async function render({ focus = false } = {}) {
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById("main");
  const found = match(location.pathname);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (found && link.dataset.nav === found.route.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  if (!found) {
    document.title = "Not found · commons";
    main.append(h("h1", {}, "Not found"), h("p", {}, "No dashboard page at ", h("code", {}, location.pathname), ". ", h("a", { href: "/ui/" }, "Back to the catalog")));
    return;
  }
  const params = new URLSearchParams(location.search);
  document.title = `${found.args[0] || found.route.title} · commons`;
  if (focus) main.focus();
  try {
    await found.route.page.render(main, { args: found.args, params }, controller.signal);
  } catch (error) {
    if (controller.signal.aborted) return;
    main.append(errorNote(error));
  }
}

/** Client-side navigation for links to /ui pages (not for new tabs or downloads). */
export function navigate(href) {
  history.pushState(null, "", href);
  render({ focus: true });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || link.getAttribute("target") || link.hasAttribute("download")) return;
  // getAttribute, not .href: on an SVG <a> (the lineage graph) .href is not a string.
  const url = new URL(link.getAttribute("href"), location.href);
  if (url.origin !== location.origin || !/^\/ui(\/|$)/.test(url.pathname) || url.pathname.startsWith("/ui/assets/")) return;
  event.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});
window.addEventListener("popstate", () => render({ focus: true }));

function tokenForm() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const state = document.getElementById("token-state");
  const show = () => {
    state.textContent = token() ? "A token is set for this tab." : "No token: reads are anonymous.";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    input.value = "";
    show();
    render();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    setToken("");
    show();
    render();
  });
  show();
}

tokenForm();
render();
