"""The official `ollama` Python client against `commons serve` (the /api routes)."""

from __future__ import annotations

import json
import math

import ollama
import pytest

GREEDY = {"temperature": 0, "num_predict": 12, "seed": 7}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def client(server):
    return ollama.Client(host=server.url, timeout=120)


def test_list_shows_the_imported_model(client, server):
    models = client.list().models
    names = [m.model for m in models]
    assert server.model in names
    entry = next(m for m in models if m.model == server.model)
    assert entry.size > 90_000_000
    assert len(entry.digest) == 64
    assert entry.details.family == "llama"
    assert entry.details.quantization_level == "Q4_1"


def test_show_reports_template_details_and_capabilities(client, server):
    shown = client.show(server.model)
    assert "<|im_start|>" in shown.template
    assert shown.details.format == "gguf"
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.modelinfo["llama.context_length"] == 8192
    assert "completion" in shown.capabilities


def test_chat_answers_with_timings(client, server):
    response = client.chat(
        model=server.model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        options=GREEDY,
    )
    assert response.message.role == "assistant"
    assert response.message.content.strip()
    assert response.done is True
    assert response.done_reason in ("stop", "length")
    assert response.prompt_eval_count > 10
    assert 0 < response.eval_count <= 12
    assert response.total_duration >= response.eval_duration > 0


def test_streamed_chat_equals_the_whole_answer(client, server):
    messages = [{"role": "user", "content": "Name three colours."}]
    whole = client.chat(model=server.model, messages=messages, options=GREEDY)
    parts = list(client.chat(model=server.model, messages=messages, options=GREEDY, stream=True))
    assert len(parts) >= 2
    assert all(not p.done for p in parts[:-1])
    assert parts[-1].done is True and parts[-1].eval_count == whole.eval_count
    assert "".join(p.message.content for p in parts) == whole.message.content


def test_generate_returns_text_and_context(client, server):
    response = client.generate(model=server.model, prompt="Write one word:", options=GREEDY)
    assert response.response.strip()
    assert response.done is True
    assert len(response.context) >= response.prompt_eval_count
    # The context continues the exchange.
    follow = client.generate(
        model=server.model, prompt="Another one:", context=response.context, options=GREEDY
    )
    assert follow.prompt_eval_count > len(response.context)


def test_raw_generate_with_stop(client, server):
    response = client.generate(
        model=server.model,
        prompt="1, 2, 3, 4,",
        raw=True,
        options={"temperature": 0, "num_predict": 16, "stop": [","]},
    )
    assert "," not in response.response
    assert response.done_reason == "stop"


def test_embed_returns_unit_vectors(client, server):
    response = client.embed(model=server.model, input=["hello world", "the cat sat"])
    assert len(response.embeddings) == 2
    for vector in response.embeddings:
        assert len(vector) == 576
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)
    assert response.embeddings[0] != response.embeddings[1]
    legacy = client.embeddings(model=server.model, prompt="hello world")
    assert len(legacy.embedding) == 576


def test_json_schema_format_is_followed(client, server):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    response = client.chat(
        model=server.model,
        messages=[{"role": "user", "content": "Invent a person. Reply in JSON."}],
        format=schema,
        options={"temperature": 0, "num_predict": 48},
    )
    value = json.loads(response.message.content)
    assert isinstance(value["name"], str)
    assert isinstance(value["age"], int)


def test_json_format(client, server):
    response = client.generate(
        model=server.model,
        prompt="Give a JSON object with a key 'colour'.",
        format="json",
        options={"temperature": 0, "num_predict": 32},
    )
    assert isinstance(json.loads(response.response), dict)


def test_tool_call_is_returned_as_tool_calls(client, server):
    # SmolLM2-135M is too small to decide on tools by itself, so the call is forced with
    # commons' `options.tool_choice` extension (a grammar); parsing and the response shape
    # are the same as for a call the model chooses.
    response = client.chat(
        model=server.model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        options={"temperature": 0, "num_predict": 40, "tool_choice": "get_weather"},
    )
    calls = response.message.tool_calls
    assert calls, f"no tool call in {response.message.content!r}"
    assert calls[0].function.name == "get_weather"
    assert isinstance(calls[0].function.arguments["city"], str)


def test_tool_results_can_be_sent_back(client, server):
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 degrees and sunny", "tool_name": "get_weather"},
    ]
    response = client.chat(model=server.model, messages=messages, tools=[WEATHER_TOOL],
                           options={"temperature": 0, "num_predict": 8})
    assert response.done is True
    assert response.message.role == "assistant"


def test_ps_lists_the_loaded_model(client, server):
    client.generate(model=server.model, prompt="hi", options={"num_predict": 1})
    running = client.ps().models
    assert any(m.model == server.model for m in running)


def test_copy_and_delete(client, server):
    client.copy(server.model, "smollm2-copy:test")
    assert "smollm2-copy:test" in [m.model for m in client.list().models]
    client.delete("smollm2-copy:test")
    assert "smollm2-copy:test" not in [m.model for m in client.list().models]
    with pytest.raises(ollama.ResponseError) as error:
        client.delete("smollm2-copy:test")
    assert error.value.status_code == 404


def test_create_from_an_uploaded_blob(client, model_path):
    digest = client.create_blob(model_path)
    assert digest.startswith("sha256:")
    statuses = [p.status for p in client.create(model="uploaded:v1", files={model_path.name: digest}, stream=True)]
    assert statuses[-1] == "success"
    shown = client.show("uploaded:v1")
    assert shown.details.family == "llama"
    answer = client.generate(model="uploaded:v1", prompt="Hi", options={"num_predict": 2})
    assert answer.done
    client.delete("uploaded:v1")


def test_unknown_model_is_a_404_with_ollamas_message(client):
    with pytest.raises(ollama.ResponseError) as error:
        client.chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert error.value.status_code == 404
    assert error.value.error == 'model "no-such-model" not found, try pulling it first'
