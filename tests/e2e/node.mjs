// A real commons node for the dashboard tests: a fresh COMMONS_HOME filled
// through the real command line with the real SmolLM2 model (as
// tests/python/conftest.py does), plus real governance and evaluation data
// so every page has something true to show, then `commons serve` on a free
// loopback port.
//
// Environment (set by scripts/e2e):
//   COMMONS_BIN        the binary (default <repo>/target/debug/commons)
//   COMMONS_E2E_MODEL  the SmolLM2 GGUF (scripts/fetch-models --print-path smollm2)
//   COMMONS_E2E_MINILM the all-MiniLM folder (optional: without it there is no quarantined model)

import { execFile, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MODEL = "smollm2:latest";
export const QUARANTINED = "all-minilm:l6-v2";

function required(file, hint) {
  if (!file || !existsSync(file)) throw new Error(`not found: ${file}\nhint: ${hint}`);
  return file;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Generates an ECDSA P-256 key pair in `dir` (a steward's or evaluator's key). */
function keyPair(dir, name) {
  const { publicKey, privateKey } = generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const pub = path.join(dir, `${name}.pub.pem`);
  const key = path.join(dir, `${name}.pem`);
  writeFileSync(pub, publicKey);
  writeFileSync(key, privateKey, { mode: 0o600 });
  return { pub, key };
}

/** Fills a fresh home through the CLI; returns what the tests expect to see. */
async function prepare(bin, home, scratch) {
  const env = { ...process.env, COMMONS_HOME: home };
  const commons = async (...args) => {
    try {
      return (await run(bin, args, { env, maxBuffer: 16 << 20 })).stdout;
    } catch (error) {
      throw new Error(`commons ${args.join(" ")} failed:\n${error.stdout}\n${error.stderr}`);
    }
  };
  const model = required(process.env.COMMONS_E2E_MODEL, "run scripts/e2e (it fetches the model), or set COMMONS_E2E_MODEL");
  await commons("import", model, "--name", MODEL);
  await commons("sign", MODEL);
  // Two evaluators (the node's key and a second key) on small slices of the
  // smoke suites: a real suite × evaluator matrix, signed and attached.
  const second = keyPair(scratch, "evaluator-b");
  const smoke = (name) => path.join(REPO, "suites", "smoke", name);
  const evalRun = (suite, ...extra) => commons("eval", "run", MODEL, "--suite", smoke(suite), "--limit", "3", "--threads", "2", ...extra);
  await evalRun("bigbench-date-understanding-smoke");
  await evalRun("bigbench-logical-deduction-three-objects-smoke");
  await evalRun("bigbench-date-understanding-smoke", "--key", second.key, "--as", "evaluator-b");

  // Governance: a stricter policy (only signed models are served), a second
  // model that it quarantines, and a release proposal half approved by two stewards.
  const minilm = process.env.COMMONS_E2E_MINILM;
  let quarantined = null;
  if (minilm && existsSync(minilm)) {
    const policy = path.join(scratch, "signed-only.toml");
    writeFileSync(policy, 'description = "e2e: serve only signed models"\n\n[signature]\nrequired = true\non_fail = "quarantine"\n');
    await commons("policy", "set", policy);
    await commons("import", minilm, "--name", QUARANTINED);
    const alice = keyPair(scratch, "alice");
    const bob = keyPair(scratch, "bob");
    await commons("steward", "add-key", alice.pub, "--name", "alice");
    await commons("steward", "add-key", bob.pub, "--name", "bob");
    await commons("steward", "threshold", "2");
    const proposal = JSON.parse(await commons("steward", "propose", "release", QUARANTINED, "--json"));
    await commons("steward", "approve", proposal.id, "--key", alice.key);
    quarantined = QUARANTINED;
  }
  return { quarantined };
}

/** Starts a prepared node; `stop()` ends it and removes its home. */
export async function startNode() {
  const bin = required(process.env.COMMONS_BIN || path.join(REPO, "target", "debug", "commons"), "run `cargo build -p commons-cli`, or set COMMONS_BIN");
  const scratch = mkdtempSync(path.join(tmpdir(), "commons-e2e-"));
  const home = path.join(scratch, "home");
  const facts = await prepare(bin, home, scratch);
  const port = await freePort();
  const logPath = path.join(scratch, "serve.log");
  const child = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--ctx-size", "2048", "--parallel", "2"], {
    env: { ...process.env, COMMONS_HOME: home, RUST_LOG: process.env.RUST_LOG || "info" },
    stdio: ["ignore", openSync(logPath, "w"), openSync(logPath, "a")],
  });
  const url = `http://127.0.0.1:${port}`;
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n").slice(-40).join("\n") : "(no log)");
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((resolve) => {
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => resolve(clearTimeout(timer)));
      });
    }
    rmSync(scratch, { recursive: true, force: true });
  };
  // Ready when /api/version answers (as the Python fixtures wait).
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`commons serve exited early:\n${log()}`);
    try {
      if ((await fetch(`${url}/api/version`)).ok) return { url, home, log, stop, ...facts };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`commons serve did not answer /api/version in 30 s:\n${log()}`);
}
