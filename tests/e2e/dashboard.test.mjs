// The dashboard in headless Chromium against a real `commons serve` with the
// real SmolLM2 model: catalog and filters, model page with provenance,
// streamed chat, health charts, governance, live state, a phone-sized
// catalog. Every page is saved as a screenshot (paths printed at the end).
//
// Run through scripts/e2e, which installs Chromium and the npm packages.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";

import { MODEL, QUARANTINED, REPO, startNode } from "./node.mjs";

const SHOTS = process.env.COMMONS_E2E_SCREENSHOTS || path.join(REPO, "target", "e2e-screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 60_000;

let node;
let browser;
const saved = [];

/** A page that fails the test on any script error, console error or CSP violation. */
async function open(route, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") page.problems.push(`console error: ${message.text()}`);
  });
  await page.goto(`${node.url}${route}`);
  return page;
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  saved.push(file);
}

async function done(page, name) {
  await shot(page, name);
  assert.deepEqual(page.problems, [], `the page reported problems:\n${page.problems.join("\n")}`);
  await page.context().close();
}

/** Non-zero rendered size of an element (an SVG that was really laid out and drawn). */
async function size(locator) {
  const box = await locator.boundingBox();
  assert.ok(box, "the element has no box (not rendered)");
  return box;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  node = await startNode();
  // Chromium refuses to run as root with its sandbox on (CI containers run as root).
  const args = process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [];
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
});

after(async () => {
  await browser?.close();
  if (node) {
    if (process.exitCode) console.log(`commons serve log (tail):\n${node.log()}`);
    await node.stop();
  }
  for (const file of saved) console.log(`screenshot: ${file}`);
});

// No suite-wide timeout: every wait below has its own (Playwright's default is TIMEOUT).
describe("dashboard", () => {
  test("the catalog lists the real model and filters it", async () => {
    const page = await open("/ui/");
    const row = page.locator("tbody tr", { has: page.getByRole("link", { name: MODEL }) });
    await row.waitFor();
    const text = await row.innerText();
    for (const expected of ["llama", "apache-2.0", "Q4_1", "134.5M", "signed (1)", "class III"]) {
      assert.ok(text.includes(expected), `catalog row lacks ${expected}: ${text}`);
    }
    const total = node.quarantined ? 2 : 1;
    const status = page.getByRole("status").filter({ hasText: "model" });
    await status.filter({ hasText: `${total} of ${total}` }).waitFor();
    await done(page, "catalog");

    // Filter by architecture: only llama models remain, and the URL keeps the filter.
    const filtered = await open("/ui/");
    await filtered.getByLabel("Architecture").selectOption("llama");
    await filtered.getByRole("status").filter({ hasText: `1 of ${total}` }).waitFor();
    assert.equal(await filtered.locator("tbody tr").count(), 1);
    assert.match(filtered.url(), /[?&]arch=llama/);
    if (node.quarantined) {
      await filtered.getByLabel("Architecture").selectOption("");
      await filtered.getByLabel("Search").fill("minilm");
      await filtered.locator("tbody tr", { hasText: QUARANTINED }).waitFor();
      assert.equal(await filtered.locator("tbody tr").count(), 1);
      assert.ok((await filtered.locator("tbody tr").innerText()).includes("quarantined"));
    }
    await done(filtered, "catalog-filtered");

    // A filtered view is a link: opening it applies the filter again.
    const linked = await open("/ui/?license=apache-2.0&arch=llama");
    await linked.getByRole("status").filter({ hasText: `1 of ${total}` }).waitFor();
    assert.equal(await linked.getByLabel("Architecture").inputValue(), "llama");
    await done(linked, "catalog-deep-link");
  });

  test("the model page shows metadata, provenance, lineage, signatures and evaluations", async () => {
    const page = await open("/ui/");
    await page.getByRole("link", { name: MODEL }).click();
    await page.getByRole("heading", { level: 1, name: MODEL }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/ui/models/${encodeURIComponent(MODEL)}`);

    const provenance = page.locator("section", { has: page.getByRole("heading", { name: "Provenance", exact: true }) });
    const card = await provenance.innerText();
    for (const expected of ["apache-2.0", "HuggingFaceTB", "class III", "Missing"]) {
      assert.ok(card.includes(expected), `provenance card lacks ${expected}`);
    }
    const raw = JSON.parse(await provenance.locator("pre.raw-json").textContent());
    assert.equal(raw.license.id, "apache-2.0");
    assert.equal(raw.schema, "commons.provenance.v1");
    const metadata = await page.locator("section", { has: page.getByRole("heading", { name: "Metadata" }) }).innerText();
    assert.ok(metadata.includes("llama") && metadata.includes("8,192"), metadata);

    const lineage = page.locator("svg.lineage");
    const box = await size(lineage);
    assert.ok(box.width > 100 && box.height > 20);
    assert.ok((await lineage.locator("g.node.self").count()) === 1);

    const signatures = await page.locator("section", { has: page.getByRole("heading", { name: "Signatures" }) }).innerText();
    assert.match(signatures, /[0-9a-f]{16}/);
    assert.ok(signatures.includes("this node's key"), `the signer is named: ${signatures}`);

    // Two evaluators ran date understanding: one row, two filled columns with intervals.
    const matrix = page.locator("table.matrix");
    await matrix.waitFor();
    assert.equal(await matrix.locator("thead th").count(), 3, "suite column + two evaluators");
    const dateRow = matrix.locator("tbody tr", { hasText: "bigbench-date-understanding-smoke" }).first();
    assert.equal(await dateRow.locator("td", { hasText: "95% CI" }).count(), 2);
    assert.ok((await matrix.innerText()).includes("evaluator-b"));

    // Pull snippets name this node, from the page's own origin.
    const pull = await page.locator("section", { has: page.getByRole("heading", { name: "How to pull it" }) }).innerText();
    const { host } = new URL(node.url);
    for (const expected of [`commons pull ${node.url}/${MODEL}`, `endpoint="${node.url}"`, `docker://${host}/${MODEL}`, `Client(host="${node.url}")`]) {
      assert.ok(pull.includes(expected), `pull snippets lack ${expected}`);
    }
    await done(page, "model");

    // A deep link opens the same page directly (the server answers /ui/... with the app).
    const direct = await open(`/ui/models/${encodeURIComponent(MODEL)}`);
    await direct.getByRole("heading", { level: 1, name: MODEL }).waitFor();
    await direct.context().close();
  });

  test("the playground streams a chat answer and shows its timing", async () => {
    const page = await open(`/ui/playground?model=${encodeURIComponent(MODEL)}`);
    await page.getByLabel("Model").waitFor();
    assert.equal(await page.getByLabel("Model").inputValue(), MODEL);
    await page.getByLabel("Temperature").fill("0");
    await page.getByLabel("Seed (empty: random)").fill("7");
    await page.getByLabel("Max tokens").fill("32");
    await page.getByLabel("Message").fill("Write three sentences about the sea.");

    // Record the answer's length once per browser task. Text that arrives in
    // one network read is rendered within one task and counts once, so an
    // answer the server sent in one piece gives one observation, not many.
    await page.evaluate(() => {
      window.lengths = [];
      let sameTask = false;
      const log = document.querySelector('[role="log"]');
      new MutationObserver(() => {
        const answer = log.querySelector('.msg[data-role="assistant"] .text');
        const length = answer ? answer.textContent.length : 0;
        if (!length) return;
        if (sameTask) {
          window.lengths[window.lengths.length - 1] = length;
          return;
        }
        sameTask = true;
        setTimeout(() => {
          sameTask = false;
        }, 0);
        if (window.lengths.at(-1) !== length) window.lengths.push(length);
      }).observe(log, { childList: true, subtree: true, characterData: true });
    });
    await page.getByRole("button", { name: "Send" }).click();

    // Generation on a shared CPU can be slow: wait generously (not a timing assertion).
    const rate = page.locator('[data-figure="tokens-per-second"]');
    await rate.waitFor({ timeout: 4 * TIMEOUT });
    const lengths = await page.evaluate(() => window.lengths);
    assert.ok(lengths.length >= 2, `the answer arrived in one piece, not streamed: ${JSON.stringify(lengths)}`);
    for (let i = 1; i < lengths.length; i += 1) assert.ok(lengths[i] > lengths[i - 1], `the answer shrank: ${lengths}`);
    const answer = await page.locator('.msg[data-role="assistant"] .text').textContent();
    assert.equal(answer.length, lengths.at(-1));
    assert.ok(Number.parseFloat(await rate.textContent()) > 0, "tokens/s");
    assert.match(await page.locator('[data-figure="ttft"]').textContent(), /^\d+ ms$/);
    await done(page, "playground");
  });

  test("the health page draws its charts from the health report", async () => {
    const page = await open("/ui/health");
    await page.locator("figure.chart svg").first().waitFor();
    const charts = page.locator("figure.chart svg");
    assert.ok((await charts.count()) >= 6, "completeness, openness, licenses, evaluators, mirrors, publishers (+ over time)");
    for (let i = 0; i < (await charts.count()); i += 1) {
      const box = await size(charts.nth(i));
      assert.ok(box.width > 0 && box.height > 0, `chart ${i} has no size`);
    }
    assert.ok((await page.locator("figure.chart rect.bar").count()) >= 6, "bars drawn");
    const licenses = await page.locator("figure.chart svg", { has: page.locator("title", { hasText: "Models by license" }) }).locator("desc").textContent();
    assert.ok(licenses.includes("apache-2.0"), licenses);
    const plurality = await page.locator("figure.chart svg", { has: page.locator("title", { hasText: "Distinct evaluators per model" }) }).locator("desc").textContent();
    assert.ok(plurality.includes(`${MODEL}: 2`), plurality);
    await done(page, "health");
  });

  test("the governance page shows the verified audit log, quarantine and proposals", async () => {
    const page = await open("/ui/governance");
    const verification = page.locator("#audit-verification");
    await verification.waitFor();
    assert.match(await verification.innerText(), /The audit log verifies: \d+ entries/);
    const audit = page.locator("section", { has: page.getByRole("heading", { name: "Audit log" }) });
    assert.ok((await audit.locator("tbody tr").count()) >= 3);
    assert.ok((await audit.innerText()).includes(MODEL));
    if (node.quarantined) {
      const queue = await page.locator("section", { has: page.getByRole("heading", { name: "Quarantine queue" }) }).innerText();
      assert.ok(queue.includes(QUARANTINED) && queue.includes("signature"), queue);
      const proposals = await page.locator("section", { has: page.getByRole("heading", { name: "Stewards and proposals" }) }).innerText();
      assert.ok(proposals.includes("release") && proposals.includes("1 of 2") && proposals.includes("alice"), proposals);
    }
    await done(page, "governance");
  });

  test("the live page shows slots, running and queued requests of the loaded model", async () => {
    const page = await open("/ui/live");
    const row = page.locator("tbody tr", { hasText: MODEL }).first();
    await row.waitFor();
    const figure = async (name) => Number(await row.locator(`[data-figure="${name}"]`).textContent());
    assert.equal(await figure("slots"), 2, "commons serve --parallel 2");

    // Three long generations on two slots: two run, one waits. Their bodies are never
    // read; aborting them disconnects, which cancels the generations.
    const clients = [0, 1, 2].map(() => new AbortController());
    const started = clients.map((client) =>
      fetch(`${node.url}/api/generate`, {
        method: "POST",
        signal: client.signal,
        body: JSON.stringify({
          model: MODEL,
          prompt: "Count from 1 to 1000, separated by commas: 1, 2, 3, 4,",
          raw: true,
          // ignore_eos: the model would otherwise stop after a few dozen tokens.
          options: { temperature: 0, num_predict: 1500, ignore_eos: true },
        }),
      }).catch(() => null),
    );
    try {
      await page.waitForFunction(
        () => {
          const read = (name) => document.querySelector(`tbody tr [data-figure="${name}"]`)?.textContent;
          return read("running") === "2" && read("queued") === "1";
        },
        null,
        { timeout: 2 * TIMEOUT, polling: 200 },
      );
      await shot(page, "live-busy");
    } finally {
      for (const client of clients) client.abort();
      await Promise.all(started);
    }
    await page.waitForFunction(
      () => {
        const read = (name) => document.querySelector(`tbody tr [data-figure="${name}"]`)?.textContent;
        return read("running") === "0" && read("queued") === "0";
      },
      null,
      { timeout: TIMEOUT, polling: 200 },
    );
    const since = page.locator("section", { has: page.getByRole("heading", { name: "Since loaded" }) });
    assert.ok(Number(await since.locator('[data-figure="cancelled"]').textContent()) >= 3, "the three aborted requests");
    assert.ok(Number(await since.locator('[data-figure="generated"]').textContent()) > 0);
    await done(page, "live");
  });

  test("the catalog and a model page are readable and keyboard-usable on a phone-sized screen", async () => {
    const page = await open("/ui/", { viewport: { width: 390, height: 844 } });
    await page.getByRole("link", { name: MODEL }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390px`);
    // The first Tab reaches the skip link, and it is visible when focused.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    const skip = await size(page.locator(".skip"));
    assert.ok(skip.x >= 0);
    await page.evaluate(() => document.activeElement.blur());
    await done(page, "catalog-phone");

    // The model page reflows too: wide tables and code scroll inside their panels.
    const model = await open(`/ui/models/${encodeURIComponent(MODEL)}`, { viewport: { width: 390, height: 844 } });
    await model.locator("table.matrix").waitFor();
    const modelOverflow = await model.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(modelOverflow <= 0, `the model page scrolls sideways by ${modelOverflow}px at 390px`);
    await done(model, "model-phone");
  });
});
