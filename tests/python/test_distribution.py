"""`commons push` / `commons pull` against real registries: Debian's
`docker-registry` (the CNCF distribution server, which has no referrers API, so
the OCI 1.1 fallback tag is exercised), through proxies that corrupt bytes or
cut connections, with mirrors, and concurrently.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import commons_bin, free_port, model_file

MODEL = "smollm2:q4"


def commons(home: Path, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(commons_bin()), *args],
        env=dict(os.environ, COMMONS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(f"commons {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


def commons_json(home: Path, *args: str) -> dict:
    return json.loads(commons(home, "--json", *args).stdout)


def blob_sha256s(home: Path) -> set[str]:
    """Digests of every blob file, re-hashed from disk (not trusted from names)."""
    out = set()
    for path in (home / "blobs" / "sha256").glob("*/*"):
        out.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Debian's docker-registry on a free loopback port with a temp config."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry not found\nhint: run scripts/bootstrap", pytrace=False)
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = open(root / "registry.log", "wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://{url}/v2/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("docker-registry did not start", pytrace=False)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def source_home(tmp_path_factory, registry) -> Path:
    """A node with SmolLM2 imported, signed, and pushed to the registry."""
    home = tmp_path_factory.mktemp("source")
    commons(home, "import", str(model_file()), "--name", MODEL)
    commons(home, "sign", MODEL)
    report = commons_json(home, "push", MODEL, f"oci://{registry}/models/smollm2:q4")
    assert report["blobs_uploaded"] == 2
    assert report["referrers"] == 2
    # docker-registry 2.8 has no referrers API: the fallback tag carries them.
    assert report["referrers_fallback"] is True
    assert report["referrers"] == 2  # the provenance record and the signature
    return home


def test_push_then_pull_is_byte_identical_with_referrers(tmp_path, registry, source_home):
    source = commons_json(source_home, "show", MODEL)
    tags = requests.get(f"http://{registry}/v2/models/smollm2/tags/list", timeout=5).json()["tags"]
    fallback = "sha256-" + source["digest"].split(":")[1]
    assert set(tags) == {"q4", fallback}

    report = commons_json(tmp_path, "pull", f"oci://{registry}/models/smollm2:q4", "--name", MODEL)
    assert report["digest"] == source["digest"]
    assert report["is_model"] is True
    assert report["referrers"] == 2
    assert report["bytes_downloaded"] == report["bytes_total"] > 90_000_000

    pulled = commons_json(tmp_path, "show", MODEL)
    assert pulled["digest"] == source["digest"]
    assert pulled["architecture"] == source["architecture"] == "llama"
    # Every blob the source has for the model arrived with the same bytes.
    assert blob_sha256s(source_home) <= blob_sha256s(tmp_path) | blob_sha256s(source_home)
    weights = [f for f in source["files"] if f["path"].endswith(".gguf")][0]
    assert weights["digest"].split(":")[1] in blob_sha256s(tmp_path)
    commons(tmp_path, "verify")

    # The signature came along and verifies against the pulled bytes.
    key = source_home / "keys" / "node-key.pub.pem"
    verified = commons(tmp_path, "verify-signature", MODEL, "--key", str(key))
    assert "verified" in verified.stdout
    # So did the provenance record.
    history = commons_json(tmp_path, "provenance", "history", MODEL)
    assert len(history) >= 1


class Proxy:
    """A loopback HTTP proxy in front of a registry that can corrupt blob bytes
    or cut the first large blob response after some bytes."""

    def __init__(self, upstream: str, mode: str, cut_after: int = 0):
        self.upstream = upstream
        self.mode = mode
        self.cut_after = cut_after
        self.blob_requests = 0
        self.cut_done = False
        self.closed = False
        self.ranges: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
                upstream = requests.get(
                    f"http://{proxy.upstream}{self.path}", headers=headers, stream=True, timeout=30
                )
                is_blob = "/blobs/sha256:" in self.path
                if is_blob:
                    proxy.blob_requests += 1
                    proxy.ranges.append(self.headers.get("Range", ""))
                body = upstream.raw.read()
                self.send_response(upstream.status_code)
                for key in ("Content-Type", "Docker-Content-Digest", "Content-Range", "Accept-Ranges"):
                    if key in upstream.headers:
                        self.send_header(key, upstream.headers[key])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if is_blob and proxy.mode == "corrupt" and len(body) > 100:
                    body = body[:50] + bytes([body[50] ^ 0xFF]) + body[51:]
                if is_blob and proxy.mode in ("cut", "die") and not proxy.cut_done and len(body) > proxy.cut_after:
                    proxy.cut_done = True
                    self.wfile.write(body[: proxy.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    if proxy.mode == "die":
                        # The source is gone for good: nothing answers on its port any more.
                        threading.Thread(target=proxy.close, daemon=True).start()
                    return
                self.wfile.write(body)

            def do_HEAD(self):
                upstream = requests.head(f"http://{proxy.upstream}{self.path}", timeout=30)
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() in ("content-type", "content-length", "docker-content-digest"):
                        self.send_header(key, value)
                self.end_headers()

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self):
        if not self.closed:
            self.closed = True
            self.server.shutdown()
            self.server.server_close()


def test_a_source_serving_corrupt_bytes_is_named_and_nothing_is_stored(tmp_path, registry, source_home):
    evil = Proxy(registry, "corrupt")
    try:
        result = commons(tmp_path, "pull", f"oci://{evil.url}/models/smollm2:q4", "--no-mirrors", check=False)
    finally:
        evil.close()
    assert result.returncode == 1
    assert "error:" in result.stderr and "served bad bytes" in result.stderr
    assert evil.url in result.stderr
    assert "hint:" in result.stderr
    # Nothing from the bad source became visible, and the catalog is empty.
    assert commons_json(tmp_path, "list") == []
    for digest in blob_sha256s(tmp_path):
        # Only small, correct blobs (the config) may have been kept.
        assert digest in blob_sha256s(source_home)
    commons(tmp_path, "verify")


def test_a_corrupt_source_falls_back_to_a_good_mirror(tmp_path, registry, source_home):
    evil = Proxy(registry, "corrupt")
    try:
        commons(tmp_path, "mirror", "add", f"oci://{registry}")
        report = commons_json(tmp_path, "pull", f"oci://{evil.url}/models/smollm2:q4")
    finally:
        evil.close()
    assert report["bad_sources"] == [f"{evil.url}/models/smollm2"]
    assert report["digest"] == commons_json(source_home, "show", MODEL)["digest"]
    commons(tmp_path, "verify")


def test_a_transfer_cut_mid_way_resumes_with_range(tmp_path, registry, source_home):
    flaky = Proxy(registry, "cut", cut_after=10_000_000)
    try:
        report = commons_json(tmp_path, "pull", f"oci://{flaky.url}/models/smollm2:q4", "--no-mirrors")
    finally:
        flaky.close()
    assert report["resumed"] >= 1
    assert "bytes=10000000-" in flaky.ranges
    assert report["digest"] == commons_json(source_home, "show", MODEL)["digest"]
    commons(tmp_path, "verify")


def test_a_source_killed_mid_transfer_is_resumed_from_the_next_source(tmp_path, registry, source_home):
    dying = Proxy(registry, "die", cut_after=20_000_000)
    try:
        commons(tmp_path, "mirror", "add", f"oci://{registry}")
        report = commons_json(tmp_path, "pull", f"oci://{dying.url}/models/smollm2:q4", "--name", MODEL)
    finally:
        dying.close()
    assert dying.cut_done
    assert report["resumed"] >= 1
    assert report["source"].startswith(dying.url)  # the manifest came from the first source
    assert report["digest"] == commons_json(source_home, "show", MODEL)["digest"]
    commons(tmp_path, "verify")


def test_a_plain_name_is_pulled_from_the_mirrors_in_order(tmp_path, registry, source_home):
    dead = f"oci://127.0.0.1:{free_port()}"
    commons(tmp_path, "mirror", "add", dead)
    commons(tmp_path, "mirror", "add", f"oci://{registry}/models")
    mirrors = commons_json(tmp_path, "mirror", "list")
    assert [m["url"] for m in mirrors] == [dead, f"oci://{registry}/models"]
    report = commons_json(tmp_path, "pull", "smollm2:q4")
    assert report["reference"] == "smollm2:q4"
    assert any(dead.removeprefix("oci://") in s for s in report["skipped_sources"])
    assert commons_json(tmp_path, "show", "smollm2:q4")["digest"] == commons_json(source_home, "show", MODEL)["digest"]


def test_two_concurrent_pulls_download_each_blob_once(tmp_path, registry, source_home):
    env = dict(os.environ, COMMONS_HOME=str(tmp_path))
    location = f"oci://{registry}/models/smollm2:q4"
    processes = [
        subprocess.Popen(
            [str(commons_bin()), "--json", "pull", location, "--no-mirrors"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (out, err)
        reports.append(json.loads(out))
    total = reports[0]["bytes_total"]
    # Referrer blobs are small and may race; the model's blobs move once.
    assert sum(r["bytes_downloaded"] for r in reports) == total
    commons(tmp_path, "verify")


def test_bad_locations_and_missing_models_fail_clearly(tmp_path, registry):
    result = commons(tmp_path, "pull", "ftp://x/y", check=False)
    assert result.returncode == 1 and "hint:" in result.stderr
    result = commons(tmp_path, "pull", f"oci://{registry}/models/nothing:here", "--no-mirrors", check=False)
    assert result.returncode == 1 and "not found" in result.stderr
    result = commons(tmp_path, "pull", "smollm2", check=False)
    assert result.returncode == 1 and "no mirror is configured" in result.stderr
    assert commons_json(tmp_path, "list") == []


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A commons node (`commons serve`) with SmolLM2 imported as `smollm2:latest`."""
    from conftest import launch

    home = tmp_path_factory.mktemp("node-a")
    commons(home, "import", str(model_file()), "--name", "smollm2")
    server = launch(home, tmp_path_factory.mktemp("node-a-logs"))
    yield server
    server.stop()


def test_node_b_pulls_from_node_a_over_oci(tmp_path, node):
    source = commons_json(node.home, "show", "smollm2")
    host = node.url.removeprefix("http://")
    report = commons_json(tmp_path, "pull", f"http://{host}/smollm2:latest")
    assert report["digest"] == source["digest"]
    assert report["referrers"] >= 1  # the provenance record made at import
    pulled = commons_json(tmp_path, "show", "smollm2")
    assert pulled["digest"] == source["digest"]
    commons(tmp_path, "verify")


def test_node_b_pulls_from_node_a_over_the_hub_api(tmp_path, node):
    source = commons_json(node.home, "show", "smollm2")
    report = commons_json(tmp_path, "pull", "hf://smollm2", "--endpoint", node.url)
    assert report["reference"] == "smollm2:latest"
    assert report["commit"] == source["digest"].split(":")[1][:40]
    # The hub serves the GGUF (plus a generated card); imported again it is the same model.
    assert report["digest"] == source["digest"]
    result = commons(tmp_path, "pull", "hf://nothing-here", "--endpoint", node.url, check=False)
    assert result.returncode == 1 and "404" in result.stderr


def test_pushing_to_a_node_with_tokens_needs_one_with_push_scope(tmp_path, node, source_home):
    host = node.url.removeprefix("http://")
    secret = commons_json(node.home, "token", "create", "ci", "--scope", "push")["token"]
    try:
        refused = commons(source_home, "push", MODEL, f"http://{host}/pushed:q4", check=False)
        assert refused.returncode == 1
        assert "token" in refused.stderr and "hint:" in refused.stderr
        assert "pushed" not in [m["name"] for m in commons_json(node.home, "list")]

        report = commons_json(source_home, "push", MODEL, f"http://{host}/pushed:q4", "--token", secret)
        assert report["referrers"] == 2
        assert report["referrers_fallback"] is False  # a node indexes referrers itself
        listed = {f"{m['name']}:{m['tag']}": m["digest"] for m in commons_json(node.home, "list")}
        assert listed["pushed:q4"] == commons_json(source_home, "show", MODEL)["digest"]
    finally:
        commons(node.home, "token", "revoke", "ci")
