"""Embedding throughput of two OpenAI-compatible servers on the same texts.

usage: embeddings_driver.py ANCHOR_URL COMMONS_URL MODEL [--texts N] [--rounds R]

Both get the same N short sentences (8-30 words, seeded) in one `/v1/embeddings`
request per round; the best round of each counts. Prints one JSON object: texts/s
of each side, their ratio, and the smallest cosine between the two sides' vectors
(they must agree: the same GGUF, the same pooling).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
import urllib.request


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def wait(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def best_round(url: str, model: str, texts: list[str], rounds: int) -> tuple[float, list[list[float]]]:
    best, vectors = math.inf, []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = post(url, {"model": model, "input": texts})
        best = min(best, time.perf_counter() - started)
        vectors = [unit(item["embedding"]) for item in sorted(answer["data"], key=lambda d: d["index"])]
    return best, vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("anchor")
    parser.add_argument("commons")
    parser.add_argument("model")
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wait(f"{args.anchor}/health", 120)
    wait(f"{args.commons}/api/version", 60)

    words = ("the a man woman child eats reads writes food book letter quickly slowly "
             "in park house city under over river stone cloud light music paper").split()
    rng = random.Random(1)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) for _ in range(args.texts)]
    # One warm-up each: commons converts and loads the model on first use.
    post(f"{args.anchor}/v1/embeddings", {"model": args.model, "input": texts[:2]})
    post(f"{args.commons}/v1/embeddings", {"model": args.model, "input": texts[:2]})

    anchor_s, anchor_vectors = best_round(f"{args.anchor}/v1/embeddings", args.model, texts, args.rounds)
    commons_s, commons_vectors = best_round(f"{args.commons}/v1/embeddings", args.model, texts, args.rounds)
    cosines = [sum(a * b for a, b in zip(x, y)) for x, y in zip(anchor_vectors, commons_vectors)]
    print(json.dumps({
        "texts": len(texts),
        "anchor_texts_per_s": len(texts) / anchor_s,
        "commons_texts_per_s": len(texts) / commons_s,
        "ratio": anchor_s / commons_s,
        "min_cosine": min(cosines),
    }))


if __name__ == "__main__":
    main()
