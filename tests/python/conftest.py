"""Fixtures for the interop tests: a real `commons serve` with the real SmolLM2 model.

The session fixture `server` makes a temporary COMMONS_HOME, imports
SmolLM2-135M-Instruct (from $COMMONS_MODEL_CACHE, default <repo>/.cache/models) with
the binary $COMMONS_BIN (default <repo>/target/debug/commons), starts
`commons serve` on a free loopback port and stops it when the session ends.
`start_server(...)` starts further servers (e.g. with a small queue) on the same home.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "smollm2:latest"


def commons_bin() -> Path:
    path = Path(os.environ.get("COMMONS_BIN", REPO / "target" / "debug" / "commons"))
    if not path.is_file():
        pytest.fail(
            f"commons binary not found at {path}\n"
            "hint: run `cargo build -p commons-cli`, or set COMMONS_BIN",
            pytrace=False,
        )
    return path


def model_file() -> Path:
    cache = Path(os.environ.get("COMMONS_MODEL_CACHE", REPO / ".cache" / "models"))
    path = cache / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.fail(
            f"test model not found at {path}\n"
            "hint: run scripts/fetch-models (or set COMMONS_MODEL_CACHE)",
            pytrace=False,
        )
    return path


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2 as its publisher ships it: a sentence-transformers folder."""
    cache = Path(os.environ.get("COMMONS_MODEL_CACHE", REPO / ".cache" / "models"))
    path = cache / "all-minilm-l6-v2"
    if not (path / "model.safetensors").is_file():
        pytest.fail(f"test model not found at {path}\nhint: run scripts/fetch-models", pytrace=False)
    return path


def commons_import(home: Path, source: Path, name: str) -> None:
    result = subprocess.run(
        [str(commons_bin()), "import", str(source), "--name", name],
        env=dict(os.environ, COMMONS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"commons import {source} failed:\n{result.stdout}\n{result.stderr}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen
    log: Path
    model: str = MODEL_NAME

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def launch(home: Path, log_dir: Path, *extra: str) -> Server:
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    env = dict(os.environ, COMMONS_HOME=str(home), RUST_LOG=os.environ.get("RUST_LOG", "info"))
    handle = open(log, "wb")
    process = subprocess.Popen(
        [str(commons_bin()), "serve", "--addr", f"127.0.0.1:{port}", *extra],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
    )
    server = Server(url=f"http://127.0.0.1:{port}", home=home, process=process, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not server.alive():
            pytest.fail(f"commons serve exited early:\n{server.log_tail()}", pytrace=False)
        try:
            if requests.get(f"{server.url}/api/version", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"commons serve did not answer /api/version in 30 s:\n{server.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("commons-home")
    result = subprocess.run(
        [str(commons_bin()), "import", str(model_file()), "--name", MODEL_NAME],
        env=dict(os.environ, COMMONS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"commons import failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return home


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def server(home, log_dir):
    # A 2048-token slot keeps memory small; 4 slots as in production. Batch-invariant,
    # because the tests compare answers for the same seed across requests (streamed and
    # not, alone and under load); the default, faster mode is served in test_http.py.
    server = launch(home, log_dir, "--ctx-size", "2048", "--parallel", "4", "--batch-invariant")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def start_server(home, log_dir):
    """Start another server on the same home; all are stopped at the end of the session."""
    started: list[Server] = []

    def start(*extra: str) -> Server:
        server = launch(home, log_dir, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def model_path() -> Path:
    return model_file()
