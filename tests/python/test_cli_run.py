"""`commons run`: one answer (text or --json), an interactive chat on stdin, clear failures."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import MODEL_NAME, commons_bin


def run(home, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(commons_bin()), "run", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, COMMONS_HOME=str(home)),
    )


def test_run_with_a_prompt_prints_json_with_counts(home):
    result = run(home, MODEL_NAME, "Say hello.", "--max-tokens", "4", "--temperature", "0", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"].strip()
    assert 0 < answer["completion_tokens"] <= 4
    assert answer["prompt_tokens"] > 0
    assert answer["finish_reason"] in ("stop", "length")


def test_run_streams_the_same_text_as_json_mode(home):
    args = (MODEL_NAME, "Name a fruit.", "--max-tokens", "5", "--temperature", "0")
    text = run(home, *args)
    as_json = run(home, *args, "--json")
    assert text.returncode == 0 and as_json.returncode == 0
    assert text.stdout.rstrip("\n") == json.loads(as_json.stdout)["text"]


def test_chat_reads_stdin_until_bye(home):
    result = run(home, MODEL_NAME, "--max-tokens", "3", "--temperature", "0",
                 stdin="Hello\nWhat is your name?\n/bye\nnot read\n")
    assert result.returncode == 0, result.stderr
    answers = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(answers) >= 2


def test_unknown_model_fails_with_a_hint(home):
    result = run(home, "no-such-model", "hi")
    assert result.returncode != 0
    assert "error:" in result.stderr
