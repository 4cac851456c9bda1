"""`commons eval run --endpoint`: a suite scored over HTTP the way lm-eval's
`local-completions` scores it (server-side /tokenize, /v1/completions with
echo + logprobs, max_tokens 0), against a real `commons serve`, agrees with
the same suite scored locally by the engine, bit for bit; the attestation names
the endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess

from conftest import REPO, commons_bin

SUITE = REPO / "suites" / "smoke" / "truthfulqa-mc1-smoke"
GENERATED = REPO / "suites" / "smoke" / "grade-school-math-evals-smoke"


def eval_run(home, tmp_path, *args: str) -> dict:
    """`commons eval run`, with its per-item results (`--results`) as `results`."""
    results = tmp_path / f"results-{len(list(tmp_path.iterdir()))}.jsonl"
    result = subprocess.run(
        [str(commons_bin()), "--json", "eval", "run", *args, "--threads", "2", "--results", str(results)],
        env=dict(os.environ, COMMONS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    data = results.read_bytes()
    assert outcome["results_digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    outcome["results"] = [json.loads(line) for line in data.splitlines()]
    return outcome


def by_id(outcome: dict) -> dict:
    return {r["id"]: r for r in outcome["results"]}


def test_multiple_choice_over_the_endpoint_agrees_with_the_local_engine(server, tmp_path):
    local = eval_run(server.home, tmp_path, server.model, "--suite", str(SUITE), "--no-attest")
    remote = eval_run(
        server.home, tmp_path, server.model, "--suite", str(SUITE), "--no-attest", "--endpoint", server.url
    )
    assert local["suite_digest"] == remote["suite_digest"]
    local_items, remote_items = by_id(local), by_id(remote)
    assert local_items.keys() == remote_items.keys() and len(local_items) == 5
    for item_id, ours in local_items.items():
        theirs = remote_items[item_id]
        # The server answers echo-only requests from its scoring context, the same
        # computation as the local run's: the numbers are equal, not just close, even
        # with four requests in flight.
        assert ours["loglikelihoods"] == theirs["loglikelihoods"], item_id
        assert ours["pred"] == theirs["pred"], item_id
        assert ours["pred_norm"] == theirs["pred_norm"], item_id


def test_generated_answers_over_the_endpoint_are_scored_and_attested(server, tmp_path):
    envelope = tmp_path / "attestation.json"
    outcome = eval_run(
        server.home,
        tmp_path,
        server.model,
        "--suite",
        str(GENERATED),
        "--limit",
        "2",
        "--endpoint",
        server.url,
        "--out",
        str(envelope),
    )
    assert len(outcome["results"]) == 2
    for result in outcome["results"]:
        assert isinstance(result["output"], str)
    # The statement records that the scores came over HTTP, from which server.
    statement = json.loads(base64.b64decode(json.loads(envelope.read_text())["payload"]))
    text = json.dumps(statement)
    assert server.url in text
    # And the node verifies its own attestation.
    verify = subprocess.run(
        [str(commons_bin()), "eval", "verify", str(envelope)],
        env=dict(os.environ, COMMONS_HOME=str(server.home)),
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
