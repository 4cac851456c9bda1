"""The official `openai` Python client against `commons serve` (the /v1 routes)."""

from __future__ import annotations

import json
import math

import openai
import pytest
import requests

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=120, max_retries=0)


def ask(question: str) -> list[dict]:
    return [{"role": "user", "content": question}]


def test_models_lists_the_imported_model(client, server):
    ids = [m.id for m in client.models.list().data]
    assert server.model in ids
    assert client.models.retrieve(server.model).id == server.model


def test_chat_completion(client, server):
    response = client.chat.completions.create(
        model=server.model, messages=ask("What is 2 + 2?"), max_tokens=10, temperature=0
    )
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert response.object == "chat.completion"
    assert response.usage.completion_tokens <= 10
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_streamed_chat_equals_the_whole_answer(client, server):
    kwargs = dict(model=server.model, messages=ask("Tell me about the sea."), max_tokens=16, seed=11, temperature=0.7)
    whole = client.chat.completions.create(**kwargs)
    chunks = list(
        client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_chat_logprobs(client, server):
    response = client.chat.completions.create(
        model=server.model, messages=ask("Hi"), max_tokens=4, temperature=0, logprobs=True, top_logprobs=3
    )
    content = response.choices[0].logprobs.content
    assert len(content) == response.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert math.isclose(entry.logprob, entry.top_logprobs[0].logprob, abs_tol=1e-4)


def test_completions_echo_logprobs_for_scoring(client, server):
    prompt = "The quick brown fox jumps over the lazy dog"
    response = client.completions.create(model=server.model, prompt=prompt, max_tokens=0, echo=True, logprobs=1)
    choice = response.choices[0]
    assert choice.text == prompt
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == prompt
    n = len(logprobs.tokens)
    assert n == response.usage.prompt_tokens
    assert len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == len(logprobs.text_offset) == n
    assert logprobs.token_logprobs[0] is None
    assert logprobs.top_logprobs[0] is None
    assert all(lp <= 0 for lp in logprobs.token_logprobs[1:])
    assert all(len(top) >= 1 for top in logprobs.top_logprobs[1:])
    assert logprobs.text_offset[0] == 0
    assert logprobs.text_offset == sorted(logprobs.text_offset)


def test_completions_with_token_ids_match_text(client, server):
    prompt = "Once upon a time"
    ids = requests.post(f"{server.url}/tokenize", json={"model": server.model, "prompt": prompt}).json()["tokens"]
    by_text = client.completions.create(model=server.model, prompt=prompt, max_tokens=6, temperature=0)
    by_ids = client.completions.create(model=server.model, prompt=[ids], max_tokens=6, temperature=0)
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert by_ids.usage.prompt_tokens == len(ids)


def test_embeddings(client, server):
    response = client.embeddings.create(model=server.model, input=["hello", "goodbye"])
    assert [d.index for d in response.data] == [0, 1]
    for item in response.data:
        assert len(item.embedding) == 576
        assert math.isclose(math.sqrt(sum(x * x for x in item.embedding)), 1.0, rel_tol=1e-3)
    assert response.usage.prompt_tokens > 0


def test_forced_tool_call(client, server):
    response = client.chat.completions.create(
        model=server.model,
        messages=ask("What's the weather like in Paris?"),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=40,
        temperature=0,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)


def test_response_format_json_schema(client, server):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    response = client.chat.completions.create(
        model=server.model,
        messages=ask("Describe a city as JSON."),
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        max_tokens=48,
        temperature=0,
    )
    value = json.loads(response.choices[0].message.content)
    assert set(value) == {"city", "population"}
    assert isinstance(value["population"], int)


def test_unknown_model_is_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="no-such-model", messages=ask("hi"))
    assert error.value.status_code == 404
    assert error.value.code == "model_not_found"


def test_prompt_that_cannot_fit_is_a_400_naming_the_limit(client, server):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=server.model, messages=ask("hi"), max_tokens=100_000)
    assert error.value.code == "context_length_exceeded"
    assert "2048" in error.value.message


def test_streamed_tool_call(client, server):
    chunks = list(
        client.chat.completions.create(
            model=server.model,
            messages=ask("Weather in Rome?"),
            tools=[WEATHER_TOOL],
            tool_choice="required",
            max_tokens=40,
            temperature=0,
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1
    assert calls[0].index == 0 and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather"
    assert "city" in json.loads(calls[0].function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
