#!/usr/bin/env python3
"""HTTP load driver for scripts/bench/inference (standard library only).

Talks to two kinds of server with the same prompts:
  - kind "commons": the Ollama API, POST /api/generate with raw prompts;
  - kind "llama":   llama.cpp's llama-server, POST /completion.
Both are asked for greedy decoding (temperature 0) of the same raw text, so both
evaluate the same tokens. Every subcommand prints one JSON object on stdout.

Subcommands:
  prompts    build the benchmark prompts, cut to exact token counts with the
             anchor's /tokenize (so both sides see the same text)
  single     single-stream prompt processing and decode (commons only; the anchor
             side of this measurement is llama-bench)
  concurrent N clients at once, each its own prompt; aggregate generated tok/s
  ttft       time to first streamed token, cold prefix vs a prefix seen before
  wait       poll a URL until it answers 200
"""

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

# A plain vocabulary: random sequences of these words make prompts that share no
# prefix with each other (each prompt gets its own seed) and that a small model
# continues without stopping early.
WORDS = (
    "river mountain garden window candle paper silver harbor meadow lantern "
    "forest bridge market orchard thunder compass valley engine library castle "
    "station kitchen blanket mirror ladder pocket saddle tunnel violin whistle "
    "anchor basket copper desert feather glacier hammer island jacket kettle "
    "lemon marble needle ocean pepper quartz ribbon shadow timber umbrella "
    "velvet wagon yellow zebra autumn breeze cotton dragon ember falcon "
    "granite harvest ivory jungle kernel lagoon maple nectar olive prairie"
).split()


def post(url, body, timeout=600):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def text_of(seed, n_words):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def tokenize(anchor, text):
    # llama-server's /tokenize without special tokens; BOS is added by both
    # servers at evaluation time.
    return post(anchor + "/tokenize", {"content": text, "add_special": False})["tokens"]


def detokenize(anchor, tokens):
    return post(anchor + "/detokenize", {"tokens": tokens})["content"]


def exact_text(anchor, seed, n_tokens):
    """Text whose tokenization is n_tokens long (checked after the round trip)."""
    text = text_of(seed, n_tokens)  # ~1-2 tokens a word: more than enough
    toks = tokenize(anchor, text)
    while len(toks) < n_tokens:
        text += " " + text_of(seed + 1000003, n_tokens)
        toks = tokenize(anchor, text)
    out = detokenize(anchor, toks[:n_tokens]).strip()
    # A cut can change how the last word tokenizes; trim until it is exact or short by a little.
    for _ in range(8):
        n = len(tokenize(anchor, out))
        if n <= n_tokens:
            break
        out = out.rsplit(" ", 1)[0]
    return out


def cmd_prompts(args):
    a = args.anchor
    p = {}
    # single stream: one ~512-token prompt per round, each with its own words.
    p["single"] = [exact_text(a, 100 + i, args.prompt_tokens) for i in range(args.rounds)]
    # concurrent: distinct short prompts.
    p["concurrent"] = [exact_text(a, 200 + i, 32) for i in range(args.clients)]
    # ttft: cold and warm pairs share a 1,000-token prefix; suffixes differ.
    p["ttft"] = []
    for i in range(args.rounds):
        prefix = exact_text(a, 300 + i, args.prefix_tokens)
        p["ttft"].append({
            "prefix": prefix,
            "suffixes": [" " + exact_text(a, 400 + 10 * i + j, 16) for j in range(2)],
        })
    # shared system prompt: one 500-token prefix, distinct questions.
    system = exact_text(a, 500, args.system_tokens)
    p["shared"] = [system + " " + exact_text(a, 600 + i, 32) for i in range(args.clients)]
    json.dump(p, sys.stdout)


def complete(kind, base, model, prompt, n_predict, stream=False, timeout=600):
    """One greedy completion. Returns dict with tokens, timings and TTFT (s)."""
    if kind == "commons":
        url = base + "/api/generate"
        body = {
            "model": model,
            "prompt": prompt,
            "raw": True,
            "stream": stream,
            "options": {"num_predict": n_predict, "temperature": 0, "seed": 0},
        }
    else:
        url = base + "/completion"
        body = {
            "prompt": prompt,
            "n_predict": n_predict,
            "temperature": 0,
            "top_k": 1,
            "seed": 0,
            "cache_prompt": True,
            "stream": stream,
        }
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    ttft = None
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if not stream:
            out = json.loads(resp.read())
        else:
            out = None
            for raw in resp:
                line = raw.decode().strip()
                if not line:
                    continue
                if line.startswith("data:"):
                    line = line[5:].strip()
                if line == "[DONE]":
                    break
                obj = json.loads(line)
                piece = obj.get("response") if kind == "commons" else obj.get("content")
                if ttft is None and (piece or obj.get("done") or obj.get("stop")):
                    ttft = time.perf_counter() - t0
                out = obj
    wall = time.perf_counter() - t0
    if kind == "commons":
        r = {
            "prompt_n": out.get("prompt_eval_count", 0),
            "prompt_s": out.get("prompt_eval_duration", 0) / 1e9,
            "gen_n": out.get("eval_count", 0),
            "gen_s": out.get("eval_duration", 0) / 1e9,
        }
    else:
        t = out.get("timings", {})
        r = {
            "prompt_n": t.get("prompt_n", out.get("tokens_evaluated", 0)),
            "prompt_s": t.get("prompt_ms", 0) / 1e3,
            "gen_n": t.get("predicted_n", out.get("tokens_predicted", 0)),
            "gen_s": t.get("predicted_ms", 0) / 1e3,
        }
    r["wall_s"] = wall
    r["ttft_s"] = ttft
    return r


def cmd_single(args):
    prompts = json.load(open(args.prompts))["single"]
    complete(args.kind, args.url, args.model, "warm up", 8)
    rows = [complete(args.kind, args.url, args.model, p, args.n_predict) for p in prompts]
    pp = [r["prompt_n"] / r["prompt_s"] for r in rows if r["prompt_s"] > 0]
    tg = [r["gen_n"] / r["gen_s"] for r in rows if r["gen_s"] > 0]
    json.dump({
        "pp_tok_s": statistics.median(pp) if pp else None,
        "tg_tok_s": statistics.median(tg) if tg else None,
        "prompt_tokens": [r["prompt_n"] for r in rows],
        "gen_tokens": [r["gen_n"] for r in rows],
        "rounds": rows,
    }, sys.stdout)


def run_clients(kind, url, model, prompts, n_predict):
    results = [None] * len(prompts)
    errors = []
    barrier = threading.Barrier(len(prompts) + 1)

    def worker(i):
        barrier.wait()
        try:
            results[i] = complete(kind, url, model, prompts[i], n_predict)
        except Exception as e:  # noqa: BLE001 - report, do not hide
            errors.append(f"client {i}: {e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done = [r for r in results if r]
    gen = sum(r["gen_n"] for r in done)
    return {"wall_s": wall, "gen_tokens": gen, "tok_s": gen / wall if wall > 0 else None,
            "clients": len(prompts), "errors": errors,
            "per_client_gen": [r["gen_n"] for r in done]}


def cmd_concurrent(args):
    prompts = json.load(open(args.prompts))[args.set]
    complete(args.kind, args.url, args.model, "warm up", 8)
    runs = [run_clients(args.kind, args.url, args.model, prompts, args.n_predict)
            for _ in range(args.rounds)]
    ok = [r for r in runs if r["tok_s"]]
    best = max(ok, key=lambda r: r["tok_s"]) if ok else runs[-1]
    best["all_tok_s"] = [r["tok_s"] for r in runs]
    json.dump(best, sys.stdout)


def cmd_ttft(args):
    pairs = json.load(open(args.prompts))["ttft"]
    complete(args.kind, args.url, args.model, "warm up", 8)
    cold, warm = [], []
    for pair in pairs:
        a, b = pair["suffixes"]
        r = complete(args.kind, args.url, args.model, pair["prefix"] + a, 4, stream=True)
        cold.append(r["ttft_s"])
        r = complete(args.kind, args.url, args.model, pair["prefix"] + b, 4, stream=True)
        warm.append(r["ttft_s"])
    json.dump({"cold_s": statistics.median(cold), "warm_s": statistics.median(warm),
               "cold_all": cold, "warm_all": warm}, sys.stdout)


def cmd_wait(args):
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(args.url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.25)
    sys.exit(f"error: {args.url} did not answer within {args.timeout}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prompts")
    p.add_argument("--anchor", required=True, help="llama-server base URL (for /tokenize)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--prefix-tokens", type=int, default=1000)
    p.add_argument("--system-tokens", type=int, default=500)
    p.set_defaults(fn=cmd_prompts)

    for name, fn in (("single", cmd_single), ("concurrent", cmd_concurrent), ("ttft", cmd_ttft)):
        p = sub.add_parser(name)
        p.add_argument("--kind", choices=("commons", "llama"), required=True)
        p.add_argument("--url", required=True)
        p.add_argument("--model", default="bench")
        p.add_argument("--prompts", required=True)
        p.add_argument("--n-predict", type=int, default=128)
        p.add_argument("--rounds", type=int, default=1)
        p.add_argument("--set", default="concurrent", help="prompt set for concurrent: concurrent|shared")
        p.set_defaults(fn=fn)

    p = sub.add_parser("wait")
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(fn=cmd_wait)

    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
