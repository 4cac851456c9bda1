"""Raw HTTP checks: stream framing, error shapes, bad input, disconnects, overload."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests


def post(server, path, body, **kwargs):
    return requests.post(f"{server.url}{path}", json=body, timeout=120, **kwargs)


# --- framing ------------------------------------------------------------------


def test_ollama_stream_is_ndjson(server):
    body = {"model": server.model, "prompt": "Count to five.", "options": {"num_predict": 8, "temperature": 0}}
    with post(server, "/api/generate", body, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [line for line in response.iter_lines() if line]
    objects = [json.loads(line) for line in lines]
    assert len(objects) >= 2
    assert all(o["done"] is False and "response" in o for o in objects[:-1])
    final = objects[-1]
    assert final["done"] is True
    for field in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
                  "eval_count", "eval_duration", "done_reason", "context", "created_at"):
        assert field in final, field


def test_openai_stream_is_sse_ending_with_done(server):
    body = {"model": server.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6,
            "temperature": 0, "stream": True}
    with post(server, "/v1/chat/completions", body, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.content.decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_non_streaming_generate_is_one_object(server):
    body = {"model": server.model, "prompt": "Hi", "stream": False, "options": {"num_predict": 3}}
    response = post(server, "/api/generate", body)
    assert response.status_code == 200
    assert response.json()["done"] is True


# --- errors -------------------------------------------------------------------


def test_unknown_model_in_each_apis_shape(server):
    ollama = post(server, "/api/generate", {"model": "missing", "prompt": "hi"})
    assert ollama.status_code == 404
    assert ollama.json() == {"error": 'model "missing" not found, try pulling it first'}
    openai = post(server, "/v1/completions", {"model": "missing", "prompt": "hi"})
    assert openai.status_code == 404
    error = openai.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error"
    assert "missing" in error["message"]


def test_malformed_json_is_a_400(server):
    for path in ("/api/chat", "/v1/chat/completions"):
        response = requests.post(f"{server.url}{path}", data=b"{not json", timeout=30)
        assert response.status_code == 400, path
        body = response.json()
        assert "error" in body
    assert isinstance(requests.post(f"{server.url}/api/chat", data=b"{", timeout=30).json()["error"], str)
    assert requests.post(f"{server.url}/v1/chat/completions", data=b"{", timeout=30).json()["error"]["type"] == "invalid_request_error"


def test_wrong_types_name_the_field(server):
    response = post(server, "/api/chat", {"model": server.model, "messages": "hello"})
    assert response.status_code == 400
    assert "messages" in response.json()["error"]
    response = post(server, "/api/generate",
                    {"model": server.model, "prompt": "hi", "options": {"temperature": "hot"}})
    assert response.status_code == 400
    assert "options.temperature" in response.json()["error"]
    response = post(server, "/v1/chat/completions",
                    {"model": server.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_tokens"


def test_num_ctx_beyond_the_slot_is_a_400(server):
    response = post(server, "/api/generate",
                    {"model": server.model, "prompt": "hi", "options": {"num_ctx": 100000}})
    assert response.status_code == 400
    assert "num_ctx" in response.json()["error"]


def test_long_prompt_is_truncated_for_ollama_and_refused_for_openai(server):
    # Ollama truncates from the left to fit num_ctx (a small one keeps this test fast).
    prompt = "word " * 300
    response = post(server, "/api/generate",
                    {"model": server.model, "prompt": prompt, "stream": False, "raw": True,
                     "options": {"num_predict": 2, "num_ctx": 128}})
    assert response.status_code == 200
    assert 0 < response.json()["prompt_eval_count"] <= 128 - 2
    # OpenAI refuses what cannot fit the 2048-token slot, before evaluating anything.
    response = post(server, "/v1/completions", {"model": server.model, "prompt": "word " * 3000, "max_tokens": 2})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "2048" in error["message"]


def test_tokenizer_endpoints(server):
    info = requests.get(f"{server.url}/tokenizer_info", params={"model": server.model}, timeout=30).json()
    assert info["eos_token"] == "<|im_end|>" or info["eos_token"]
    assert "<|im_start|>" in info["chat_template"]
    assert "pad_token" in info and "bos_token" in info
    tokens = post(server, "/tokenize", {"model": server.model, "prompt": "Hello there"}).json()["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    text = post(server, "/detokenize", {"model": server.model, "tokens": tokens}).json()
    assert text["prompt"] == "Hello there"
    bad = post(server, "/detokenize", {"model": server.model, "tokens": [10_000_000]})
    assert bad.status_code == 400


# --- robustness ---------------------------------------------------------------


def active_requests(server) -> int:
    models = requests.get(f"{server.url}/api/ps", timeout=30).json()["models"]
    return sum(m.get("active_requests", 0) for m in models)


def test_client_disconnect_frees_the_slot(server):
    body = json.dumps({"model": server.model, "prompt": "Write a very long story about the sea.",
                       "options": {"num_predict": 1500, "temperature": 0.8}}).encode()
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    received = b""
    while received.count(b'"done":false') < 3:
        chunk = sock.recv(4096)
        assert chunk, "server closed the stream early"
        received += chunk
    assert active_requests(server) >= 1
    sock.close()
    deadline = time.monotonic() + 20
    while active_requests(server) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_requests(server) == 0, "the abandoned generation still holds the model"
    response = post(server, "/api/generate", {"model": server.model, "prompt": "Hi", "stream": False,
                                              "options": {"num_predict": 2}})
    assert response.status_code == 200


def test_disconnect_while_waiting_for_a_whole_answer_frees_the_slot(server):
    body = json.dumps({"model": server.model, "prompt": "Write a long story.", "stream": False,
                       "options": {"num_predict": 1500}}).encode()
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    deadline = time.monotonic() + 20
    while active_requests(server) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_requests(server) >= 1
    sock.close()
    deadline = time.monotonic() + 20
    while active_requests(server) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_requests(server) == 0, "the abandoned generation still holds the model"


def test_overload_gets_503_with_retry_after_and_nothing_is_lost(start_server):
    small = start_server("--ctx-size", "512", "--parallel", "4", "--queue", "4")
    body = {"model": small.model, "prompt": "Say something.", "stream": False,
            "options": {"num_predict": 8, "temperature": 0}}
    # Load the model first so the burst meets a running scheduler.
    assert post(small, "/api/generate", {**body, "options": {"num_predict": 1}}).status_code == 200

    def one(_):
        try:
            response = post(small, "/api/generate", body)
            return response.status_code, response.headers.get("retry-after"), response.json()
        except requests.RequestException as error:  # a lost request fails the test below
            return None, None, str(error)

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(one, range(64)))
    statuses = [status for status, _, _ in results]
    assert len(results) == 64
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 4
    for status, retry_after, payload in results:
        if status == 503:
            assert retry_after and int(retry_after) >= 1
            assert "busy" in payload["error"]
        else:
            assert payload["done"] is True
    # Healthy afterwards.
    assert requests.get(f"{small.url}/api/version", timeout=10).status_code == 200
    assert post(small, "/api/generate", body).status_code == 200
    assert small.alive()
