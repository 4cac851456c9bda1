"""Embeddings from a real sentence-embedding model: all-MiniLM-L6-v2, imported
from the safetensors folder its publisher ships and served by `commons serve`
(which converts it to GGUF for llama.cpp on first use).

The reference is computed here, independently of commons: Hugging Face's own
`tokenizers` package for the token ids, and BERT's forward pass written out in
numpy (float64, exact erf GELU) over the weights read by the `safetensors`
package, then the model's declared mean pooling and normalisation, which is what
sentence-transformers computes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import ollama
import openai
import pytest
import requests
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from conftest import commons_bin, commons_import, launch, minilm_folder

NAME = "all-minilm:l6-v2"
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Café naïve résumé, über-cool C++ tokens!",
]


@pytest.fixture(scope="module")
def node(tmp_path_factory, log_dir):
    home = tmp_path_factory.mktemp("embedding-home")
    commons_import(home, minilm_folder(), NAME)
    server = launch(home, log_dir)
    yield server
    server.stop()


class ReferenceBert:
    """all-MiniLM-L6-v2's forward pass in numpy, from its own files."""

    def __init__(self, folder: Path):
        self.config = json.loads((folder / "config.json").read_text())
        self.weights = {k: v.astype(np.float64) for k, v in load_file(folder / "model.safetensors").items()
                        if v.dtype == np.float32}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        assert pooling["pooling_mode_mean_tokens"], "the reference implements mean pooling only"

    def ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def _norm(self, x, prefix):
        eps = self.config["layer_norm_eps"]
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * self.weights[prefix + ".weight"] + self.weights[prefix + ".bias"]

    def _dense(self, x, prefix):
        return x @ self.weights[prefix + ".weight"].T + self.weights[prefix + ".bias"]

    def embed(self, text: str) -> np.ndarray:
        w, ids = self.weights, self.ids(text)
        n, heads = len(ids), self.config["num_attention_heads"]
        head_dim = self.config["hidden_size"] // heads
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        erf = np.vectorize(math.erf)
        for layer in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q, k, v = (self._dense(x, p + f"attention.self.{m}").reshape(n, heads, head_dim).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attention = scores / scores.sum(-1, keepdims=True)
            context = (attention @ v).transpose(1, 0, 2).reshape(n, heads * head_dim)
            x = self._norm(x + self._dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            hidden = self._dense(x, p + "intermediate.dense")
            hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
            x = self._norm(x + self._dense(hidden, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(0)
        return pooled / np.linalg.norm(pooled)


@pytest.fixture(scope="module")
def reference() -> ReferenceBert:
    return ReferenceBert(minilm_folder())


def test_commons_tokenizes_like_the_hugging_face_tokenizer(node, reference):
    for text in SENTENCES:
        response = requests.post(f"{node.url}/tokenize", json={"model": NAME, "prompt": text}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["tokens"] == reference.ids(text), text


def test_ollama_embed_matches_the_reference_forward_pass(node, reference):
    client = ollama.Client(host=node.url)
    response = client.embed(model=NAME, input=SENTENCES)
    assert len(response.embeddings) == len(SENTENCES)
    for text, vector in zip(SENTENCES, response.embeddings):
        ours = np.array(vector)
        expected = reference.embed(text)
        assert ours.shape == (384,)
        assert math.isclose(np.linalg.norm(ours), 1.0, rel_tol=1e-5)
        # llama.cpp computes in f32; the reference in f64 (measured: 1 - cosine < 1e-6,
        # largest component difference about 2e-4).
        assert float(ours @ expected) > 0.99999, text
        assert np.abs(ours - expected).max() < 1e-3, text


def test_similar_sentences_are_closer_than_unrelated_ones(node):
    vectors = np.array(ollama.Client(host=node.url).embed(model=NAME, input=SENTENCES[:3]).embeddings)
    eating, bread, baby = vectors
    assert eating @ bread > 0.6
    assert eating @ bread > eating @ baby + 0.3


def test_openai_and_legacy_ollama_endpoints_give_the_same_vectors(node):
    ours = ollama.Client(host=node.url).embed(model=NAME, input=SENTENCES[:2]).embeddings
    client = openai.OpenAI(base_url=f"{node.url}/v1", api_key="unused")
    response = client.embeddings.create(model=NAME, input=SENTENCES[:2])
    assert [item.index for item in response.data] == [0, 1]
    assert [item.embedding for item in response.data] == ours
    assert response.usage.prompt_tokens > 0
    legacy = ollama.Client(host=node.url).embeddings(model=NAME, prompt=SENTENCES[0])
    assert legacy.embedding == ours[0]


def test_the_model_is_listed_as_an_embedding_model(node):
    client = ollama.Client(host=node.url)
    shown = client.show(NAME)
    assert list(shown.capabilities) == ["embedding"]
    assert NAME in [m.model for m in client.list().models]


def test_asking_an_embedding_model_for_text_is_a_clear_400(node):
    response = requests.post(f"{node.url}/api/generate",
                             json={"model": NAME, "prompt": "hello", "stream": False}, timeout=60)
    assert response.status_code == 400, response.text
    assert "embedding model" in response.json()["error"]
    response = requests.post(f"{node.url}/v1/chat/completions",
                             json={"model": NAME, "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    # The server keeps serving embeddings.
    assert len(ollama.Client(host=node.url).embed(model=NAME, input="still here").embeddings[0]) == 384


def test_a_folder_that_cannot_convert_is_a_clear_400_and_leaves_nothing_behind(node, tmp_path):
    import shutil

    broken = tmp_path / "broken-minilm"
    shutil.copytree(minilm_folder(), broken)
    config = json.loads((broken / "config.json").read_text())
    config["intermediate_size"] = 1000  # the weights say 1536
    (broken / "config.json").write_text(json.dumps(config))
    commons_import(node.home, broken, "broken-minilm")

    response = requests.post(f"{node.url}/api/embed", json={"model": "broken-minilm", "input": "hi"}, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    # Named by its place in the model, not by the blob it is stored as.
    assert "broken-minilm:latest/model.safetensors" in error and "blobs" not in error, error
    assert "dense.weight" in error and "does not match config.json" in error, error
    assert not list((node.home / "derived").glob("*/converted-v1.gguf.*"))
    assert not list((node.home / "tmp").iterdir())
    # The node goes on serving the good model.
    assert len(ollama.Client(host=node.url).embed(model=NAME, input="still here").embeddings[0]) == 384
    removed = subprocess.run([str(commons_bin()), "rm", "broken-minilm"], capture_output=True, text=True,
                             env=dict(os.environ, COMMONS_HOME=str(node.home)), timeout=60)
    assert removed.returncode == 0, removed.stderr


def test_the_converted_gguf_is_a_derived_file_that_gc_removes_with_its_model(node):
    """Runs last in this module: it removes the model."""
    import gguf  # llama.cpp's own reader

    ollama.Client(host=node.url).embed(model=NAME, input="load it")
    converted = list((node.home / "derived").glob("*/converted-v1.gguf"))
    assert len(converted) == 1, list((node.home / "derived").rglob("*"))
    reader = gguf.GGUFReader(converted[0])
    field = reader.fields["general.architecture"]
    assert bytes(field.parts[field.data[0]]).decode() == "bert"
    assert len(reader.tensors) == 5 + 16 * 6

    env = dict(os.environ, COMMONS_HOME=str(node.home))
    run = lambda *args: subprocess.run([str(commons_bin()), *args], env=env, capture_output=True,
                                       text=True, timeout=120)
    # Still named by a tag: gc keeps it.
    assert run("gc").returncode == 0
    assert converted[0].is_file()
    removed = run("rm", NAME)
    assert removed.returncode == 0, removed.stderr
    collected = run("gc", "--json")
    assert collected.returncode == 0, collected.stderr
    assert json.loads(collected.stdout)["removed_derived"] == 1
    assert not converted[0].parent.exists()
