"""The Hub-compatible read API (`/api/models…`, `/{repo}/resolve/…`) with the
official `huggingface_hub` client pointed at a commons node through HF_ENDPOINT.

A module-scoped node of its own holds two real models: all-MiniLM-L6-v2 imported
from its folder (`minilm`) and the SmolLM2 GGUF (`smollm2`, also tagged
`community/smollm2:q4`), so the request log
counted below contains only this module's traffic. Downloads run the client in
a subprocess with HF_ENDPOINT set, exactly as a user would.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from conftest import commons_bin, commons_import, launch, minilm_folder, model_file

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def hub(tmp_path_factory, log_dir):
    home = tmp_path_factory.mktemp("hub-home")
    commons_import(home, minilm_folder(), "minilm")
    commons_import(home, model_file(), "smollm2")
    # The same model under a namespaced id, the usual `org/name` shape of a Hub repo.
    tagged = subprocess.run(
        [str(commons_bin()), "tag", "smollm2", "community/smollm2:q4"],
        env=dict(os.environ, COMMONS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tagged.returncode == 0, tagged.stderr
    server = launch(home, log_dir)
    yield server
    server.stop()


def model_files(folder: Path) -> dict[str, Path]:
    """Every file of a model folder by its path inside it; hidden files (`.gitattributes`) are not imported."""
    return {
        p.relative_to(folder).as_posix(): p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


CLIENT = r"""
import json, sys
from huggingface_hub import hf_hub_download, snapshot_download
op, kwargs = sys.argv[1], json.loads(sys.argv[2])
try:
    fn = snapshot_download if op == "snapshot" else hf_hub_download
    print(json.dumps({"path": fn(**kwargs)}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def hf(server, cache: Path, op: str, **kwargs) -> dict:
    """Runs `snapshot_download` or `hf_hub_download` in a fresh interpreter with HF_ENDPOINT at `server`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_ENDPOINT=server.url,
        HF_HUB_CACHE=str(cache),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, op, json.dumps(kwargs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result:\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[-1])


def requests_in_log(server, method: str, path_pattern: str) -> int:
    """How many `method` requests whose path matches `path_pattern` the node logged."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", server.log.read_text(errors="replace"))
    return sum(
        1
        for line in text.splitlines()
        if re.search(rf"method={method}\b", line)
        and (m := re.search(r"path=(\S+)", line))
        and re.fullmatch(path_pattern, m.group(1))
    )


def test_snapshot_download_of_a_folder_model_is_byte_identical(hub, tmp_path):
    result = hf(hub, tmp_path, "snapshot", repo_id="minilm")
    assert "path" in result, result
    snapshot = Path(result["path"])
    originals = model_files(minilm_folder())
    downloaded = model_files(snapshot)
    assert sorted(downloaded) == sorted(originals)
    assert "1_Pooling/config.json" in downloaded
    for name, original in originals.items():
        assert downloaded[name].read_bytes() == original.read_bytes(), name
    # The snapshot folder is named by the commit: the manifest digest's first 40 hex digits.
    info = requests.get(f"{hub.url}/api/models/minilm", timeout=10).json()
    assert snapshot.name == info["sha"]


def test_hf_hub_download_of_folder_model_files(hub, tmp_path):
    folder = minilm_folder()
    for name in ["1_Pooling/config.json", "model.safetensors", "tokenizer.json"]:
        result = hf(hub, tmp_path, "file", repo_id="minilm", filename=name)
        assert "path" in result, result
        assert Path(result["path"]).read_bytes() == (folder / name).read_bytes(), name


def test_gguf_downloads_are_byte_identical_with_a_generated_card(hub, tmp_path):
    result = hf(hub, tmp_path, "file", repo_id="smollm2", filename=GGUF_NAME)
    assert "path" in result, result
    assert sha256(Path(result["path"])) == sha256(model_file())

    snapshot = hf(hub, tmp_path / "snap", "snapshot", repo_id="smollm2")
    assert "path" in snapshot, snapshot
    files = model_files(Path(snapshot["path"]))
    assert sorted(files) == ["README.md", GGUF_NAME]
    assert sha256(files[GGUF_NAME]) == sha256(model_file())
    card = files["README.md"].read_text()
    assert card.startswith("---\nlicense: apache-2.0\n")
    assert "- gguf\n" in card and "HuggingFaceTB" in card
    # Deterministic: the card's bytes (hence its ETag) do not change between requests.
    again = requests.get(f"{hub.url}/smollm2/resolve/main/README.md", timeout=10)
    assert again.content == files["README.md"].read_bytes()


def test_namespaced_repo_without_latest_tag(hub, tmp_path):
    # `main` of a name without `latest` is its newest tag; the tag itself is a revision too.
    for revision in (None, "q4"):
        kwargs = dict(repo_id="community/smollm2", filename=GGUF_NAME)
        if revision:
            kwargs["revision"] = revision
        result = hf(hub, tmp_path, "file", **kwargs)
        assert "path" in result, result
        assert sha256(Path(result["path"])) == sha256(model_file())
    info = requests.get(f"{hub.url}/api/models/community/smollm2", timeout=10).json()
    assert info["author"] == "community"
    same = requests.get(f"{hub.url}/api/models/smollm2", timeout=10).json()
    assert info["sha"] == same["sha"], "one manifest, one commit"


def test_second_download_uses_the_cache(hub, tmp_path):
    weights = r"/smollm2/resolve/[0-9a-f]{40}/" + re.escape(GGUF_NAME) + "|/smollm2/resolve/main/" + re.escape(GGUF_NAME)
    first = hf(hub, tmp_path, "file", repo_id="smollm2", filename=GGUF_NAME)
    assert "path" in first, first
    gets, heads = requests_in_log(hub, "GET", weights), requests_in_log(hub, "HEAD", weights)
    assert gets >= 1

    again = hf(hub, tmp_path, "file", repo_id="smollm2", filename=GGUF_NAME)
    assert again == first
    # The client asked (HEAD), matched the ETag against its cache and fetched nothing.
    assert requests_in_log(hub, "HEAD", weights) == heads + 1
    assert requests_in_log(hub, "GET", weights) == gets

    snap = hf(hub, tmp_path, "snapshot", repo_id="minilm")
    model_gets = requests_in_log(hub, "GET", r"/minilm/resolve/.*")
    assert hf(hub, tmp_path, "snapshot", repo_id="minilm") == snap
    assert requests_in_log(hub, "GET", r"/minilm/resolve/.*") == model_gets


def test_model_info_list_and_tree_through_the_client(hub):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url)
    assert [m.id for m in api.list_models()] == ["community/smollm2", "minilm", "smollm2"]
    assert [m.id for m in api.list_models(search="MINI")] == ["minilm"]
    assert [m.id for m in api.list_models(author="community")] == ["community/smollm2"]
    assert [m.id for m in api.list_models(limit=1)] == ["community/smollm2"]

    info = api.model_info("smollm2", files_metadata=True)
    assert re.fullmatch(r"[0-9a-f]{40}", info.sha)
    assert info.card_data.license == "apache-2.0"
    weights = next(s for s in info.siblings if s.rfilename == GGUF_NAME)
    assert weights.lfs.sha256 == sha256(model_file())
    assert api.model_info("smollm2", revision="latest").sha == info.sha
    assert api.model_info("smollm2", revision=info.sha).sha == info.sha

    tree = {f.path: f for f in api.list_repo_tree("minilm", recursive=True)}
    assert "1_Pooling" in tree and "1_Pooling/config.json" in tree
    folder = minilm_folder()
    assert tree["model.safetensors"].lfs.sha256 == sha256(folder / "model.safetensors")
    config = (folder / "config.json").read_bytes()
    assert tree["config.json"].blob_id == hashlib.sha1(b"blob %d\0" % len(config) + config).hexdigest()
    sub = [f.path for f in api.list_repo_tree("minilm", path_in_repo="1_Pooling")]
    assert sub == ["1_Pooling/config.json"]


def test_tree_pages_follow_link_headers(hub):
    url = f"{hub.url}/api/models/minilm/tree/main?recursive=true&limit=3"
    paths, pages = [], 0
    while url:
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        paths += [e["path"] for e in response.json()]
        url = response.links.get("next", {}).get("url")
        pages += 1
    assert pages > 1
    assert len(paths) == len(set(paths)) == len(model_files(minilm_folder())) + 1  # + the 1_Pooling folder


def test_client_errors_are_typed(hub, tmp_path):
    cases = [
        (dict(repo_id="nope", filename="x.bin"), "RepositoryNotFoundError"),
        (dict(repo_id="smollm2", filename=GGUF_NAME, revision="v9"), "RevisionNotFoundError"),
        (dict(repo_id="smollm2", filename="missing.bin"), "RemoteEntryNotFoundError"),
    ]
    for kwargs, error in cases:
        result = hf(hub, tmp_path, "file", **kwargs)
        assert result.get("error") == error, (kwargs, result)


def test_raw_errors_carry_hub_error_codes(hub):
    for path, code in [
        ("/api/models/nope", "RepoNotFound"),
        ("/nope/resolve/main/README.md", "RepoNotFound"),
        ("/org/nope/resolve/main/README.md", "RepoNotFound"),
        ("/api/models/smollm2/revision/v9", "RevisionNotFound"),
        ("/smollm2/resolve/v9/README.md", "RevisionNotFound"),
        ("/smollm2/resolve/main/missing.bin", "EntryNotFound"),
    ]:
        response = requests.head(f"{hub.url}{path}", timeout=10) if "resolve" in path else requests.get(f"{hub.url}{path}", timeout=10)
        assert response.status_code == 404, path
        assert response.headers.get("X-Error-Code") == code, path
    missing = requests.head(f"{hub.url}/smollm2/resolve/main/missing.bin", timeout=10)
    assert re.fullmatch(r"[0-9a-f]{40}", missing.headers["X-Repo-Commit"])


def raw_get(server, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as written (no normalisation, no re-encoding)."""
    url = urlparse(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_path_traversal_never_leaves_the_model(hub):
    catalog = (hub.home / "catalog.db").read_bytes()[:16]
    for path in [
        "/smollm2/resolve/main/../../catalog.db",
        "/smollm2/resolve/main/../../../../etc/passwd",
        "/smollm2/resolve/main/..%2F..%2Fcatalog.db",
        "/smollm2/resolve/main/%2e%2e/%2e%2e/catalog.db",
        "/smollm2/resolve/main/%2E%2E%2F%2E%2E%2Fcatalog.db",
        "/minilm/resolve/main/1_Pooling%2Fconfig.json",
        "/minilm/resolve/main/1_Pooling/../config.json",
        "/minilm/resolve/main/./config.json",
        "/smollm2/resolve/main/%2Fetc%2Fpasswd",
    ]:
        status, body = raw_get(hub, path)
        assert status in (400, 404), (path, status)
        assert not body.startswith(catalog) and b"root:" not in body, path
        assert "error" in json.loads(body), path


def test_head_and_ranged_get(hub):
    head = requests.head(f"{hub.url}/smollm2/resolve/main/{GGUF_NAME}", timeout=10)
    assert head.status_code == 200
    digest = sha256(model_file())
    assert head.headers["X-Linked-Etag"] == f'"{digest}"'
    assert head.headers["X-Linked-Size"] == head.headers["Content-Length"] == str(model_file().stat().st_size)
    assert head.headers["Accept-Ranges"] == "bytes"
    assert not any(k.lower().startswith("x-xet") for k in head.headers)

    part = requests.get(
        f"{hub.url}/smollm2/resolve/main/{GGUF_NAME}", headers={"Range": "bytes=0-3"}, timeout=10
    )
    assert part.status_code == 206
    assert part.content == b"GGUF"
    assert part.headers["Content-Range"] == f"bytes 0-3/{model_file().stat().st_size}"
    beyond = requests.get(
        f"{hub.url}/smollm2/resolve/main/{GGUF_NAME}",
        headers={"Range": f"bytes={model_file().stat().st_size}-"},
        timeout=10,
    )
    assert beyond.status_code == 416
