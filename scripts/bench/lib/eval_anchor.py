"""The anchor side of scripts/bench/eval: a multiple-choice suite scored against
llama.cpp's `llama-server` one request per (context, choice) pair, the way
lm-eval's `local-completions` model scores it with `tokenized_requests=True`
(lm-eval itself is not installed here: about 700 MB).

What lm-eval does: tokenize `context` and `context + continuation` (remote
tokenizer: `POST /tokenize`), send the token ids to `/v1/completions` with
`echo: true, logprobs: 1, max_tokens: 0`, and sum the last `len(continuation)`
token logprobs. llama-server refuses `echo` ("Only no echo is supported") and
has no prompt logprobs, so this client gets the same numbers another way, in
one request per pair as well:

    POST /completion
      prompt        the context's token ids (as /tokenize gave them, with BOS)
      n_predict     the number of continuation tokens
      grammar       root ::= <[t1]> <[t2]> ...   (token-level GBNF: forces exactly
                    the continuation's token ids, the split /tokenize gave)
      n_probs 1, post_sampling_probs false       (probabilities from the raw logits,
                    before grammar and samplers: log p(token | previous tokens))
      temperature 0, cache_prompt true (llama-server's default: the choices of a
                    question reuse the context from the slot's prompt cache)

and sums `completion_probabilities[i].logprob`, checking that the generated
token ids are the continuation's. The first continuation token is scored from
the prompt's last logits, later ones from one decode step each: for one-token
continuations this costs what an echo request would; for longer ones the
anchor pays extra decode steps (noted in docs/benchmarks.md).

Context and continuation are split as commons (and lm-eval) split them: the
prompt is preamble + fewshot_delimiter + few-shot examples + the item's prompt;
the continuation is target_delimiter + choice, with the context's trailing
whitespace moved to the front of the continuation; the continuation's tokens
are those of `context + continuation` past the context's own tokens. acc is the
first maximum of the loglikelihoods, acc_norm the first maximum of
loglikelihood / len(choice) in characters (crates/commons-eval/src/scoring.rs).

Requests go in suite order (item by item, choice by choice), `--concurrency`
at a time (lm-eval's default is 1: batch 1, one request in flight).

Usage: eval_anchor.py --url URL --suite DIR --limit N [--concurrency C]
Prints one JSON object: items, seconds, items_per_second, acc, acc_norm, ...
"""

import argparse
import concurrent.futures
import json
import os
import sys
import time
import urllib.request

import yaml


def post(url, body):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())


def load_suite(path, limit):
    with open(os.path.join(path, "suite.yaml"), encoding="utf-8") as f:
        header = yaml.safe_load(f)
    if header.get("kind") != "multiple_choice":
        sys.exit(f"eval_anchor: {path} is not a multiple_choice suite")
    prompt = header.get("prompt") or {}
    if prompt.get("chat"):
        sys.exit("eval_anchor: chat suites are not supported by the anchor client")
    items = []
    with open(os.path.join(path, "items.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                items.append(json.loads(line))
            if len(items) >= limit:
                break
    return header, prompt, items


def build_prompt(settings, item):
    """crates/commons-eval/src/prompt.rs::build (raw, not chat)."""
    delimiter = settings.get("fewshot_delimiter", "\n\n")
    target = settings.get("target_delimiter", " ")
    text = ""
    if settings.get("preamble") is not None:
        text += settings["preamble"] + delimiter
    for shot in settings.get("few_shot") or []:
        text += shot["prompt"] + target + shot["answer"] + delimiter
    return text + item["prompt"]


def split_trailing_whitespace(context, continuation):
    """crates/commons-eval/src/runner/mod.rs::split_trailing_whitespace (Rust's
    trim_end and Python's rstrip agree on Unicode White_Space)."""
    trimmed = context.rstrip()
    return trimmed, context[len(trimmed):] + continuation


def argmax(values):
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--suite", required=True)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=1)
    args = ap.parse_args()

    _header, settings, items = load_suite(args.suite, args.limit)
    target = settings.get("target_delimiter", " ")

    started = time.monotonic()
    # 1. tokenize every pair (lm-eval tokenizes all requests before sending them).
    pairs = []  # (item index, choice index, context ids, continuation ids)
    for i, item in enumerate(items):
        prompt = build_prompt(settings, item)
        for j, choice in enumerate(item["choices"]):
            context, continuation = split_trailing_whitespace(prompt, target + choice)
            whole = post(args.url + "/tokenize", {"content": context + continuation, "add_special": True})["tokens"]
            ctx = post(args.url + "/tokenize", {"content": context, "add_special": True})["tokens"]
            n = min(len(ctx), len(whole))
            pairs.append((i, j, whole[:n], whole[n:]))
    tokenized = time.monotonic()

    # 2. one scoring request per pair.
    def score(pair):
        _i, _j, ctx, cont = pair
        if not cont:
            return 0.0
        grammar = "root ::= " + " ".join(f"<[{t}]>" for t in cont)
        resp = post(
            args.url + "/completion",
            {
                "prompt": ctx,
                "n_predict": len(cont),
                "grammar": grammar,
                "n_probs": 1,
                "post_sampling_probs": False,
                "temperature": 0,
                "cache_prompt": True,
                "return_tokens": True,
            },
        )
        probs = resp.get("completion_probabilities") or []
        got = [p["id"] for p in probs]
        if got != cont:
            raise RuntimeError(f"llama-server generated {got}, the continuation is {cont}")
        return sum(p["logprob"] for p in probs)

    if args.concurrency <= 1:
        lls = [score(p) for p in pairs]
    else:
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            lls = list(pool.map(score, pairs))
    seconds = time.monotonic() - started

    per_item = [[0.0] * len(item["choices"]) for item in items]
    for (i, j, _c, _t), ll in zip(pairs, lls):
        per_item[i][j] = ll
    correct = correct_norm = 0
    results = []
    for item, ll in zip(items, per_item):
        pred = argmax(ll)
        pred_norm = argmax([v / max(1, len(c)) for v, c in zip(ll, item["choices"])])
        correct += pred == item["answer"]
        correct_norm += pred_norm == item["answer"]
        results.append({"id": item["id"], "loglikelihoods": ll, "pred": pred, "pred_norm": pred_norm})
    n = len(items)
    print(
        json.dumps(
            {
                "items": n,
                "requests": len(pairs),
                "concurrency": args.concurrency,
                "seconds": seconds,
                "tokenize_seconds": tokenized - started,
                "items_per_second": n / seconds,
                "acc": {"correct": correct, "n": n, "value": correct / n},
                "acc_norm": {"correct": correct_norm, "n": n, "value": correct_norm / n},
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
