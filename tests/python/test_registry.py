"""The node's OCI distribution API (`/v2`) with real clients: skopeo copies the model
out and back in (digest unchanged, the copy listed and runnable), oras pushes and pulls
artifacts and the model's blobs, and the token auth flow works the way skopeo and oras
expect it (challenge, token endpoint, Basic credentials).

Tests on the shared `server` leave its store as they found it; auth tests run their
own nodes on fresh homes, because one push token changes the rules of a whole node.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import oras.client
import pytest
import requests

from conftest import MODEL_NAME, commons_bin, launch, model_file

REPOSITORY = MODEL_NAME.split(":")[0]


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo not found\nhint: run scripts/bootstrap", pytrace=False)
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"skopeo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


def commons(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(commons_bin()), *args],
        env=dict(os.environ, COMMONS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        pytest.fail(f"commons {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


def listed(home: Path) -> dict[str, str]:
    """`name:tag` -> digest, from `commons list --json`."""
    return {f"{m['name']}:{m['tag']}": m["digest"] for m in json.loads(commons(home, "--json", "list").stdout)}


def host(server) -> str:
    return server.url.removeprefix("http://")


def manifest_digest(server, repository: str, reference: str, **kwargs) -> str:
    response = requests.head(f"{server.url}/v2/{repository}/manifests/{reference}", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def generate(server, model: str) -> requests.Response:
    body = {"model": model, "prompt": "Hi", "stream": False, "options": {"num_predict": 3, "temperature": 0}}
    return requests.post(f"{server.url}/api/generate", json=body, timeout=300)


@pytest.fixture
def cleanup(server):
    """Repositories a test pushed to the shared server, deleted afterwards."""
    pushed: list[tuple[str, str]] = []
    yield pushed
    for repository, reference in pushed:
        requests.delete(f"{server.url}/v2/{repository}/manifests/{reference}", timeout=10)


@pytest.fixture(scope="module")
def layout(server, tmp_path_factory) -> Path:
    """The model copied out of the shared server into an OCI layout by skopeo."""
    path = tmp_path_factory.mktemp("oci") / "smollm2"
    skopeo("copy", "--src-tls-verify=false", f"docker://{host(server)}/{MODEL_NAME}", f"oci:{path}:latest")
    return path


# --- skopeo -------------------------------------------------------------------------


def test_skopeo_copies_the_model_out_with_its_digest_and_bytes(server, layout):
    digest = manifest_digest(server, REPOSITORY, "latest")
    assert digest == listed(server.home)[MODEL_NAME]
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    manifest_path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    (weights,) = [l for l in manifest["layers"] if l["mediaType"].startswith("application/vnd.cncf.model.weight")]
    blob = layout / "blobs" / "sha256" / weights["digest"].removeprefix("sha256:")
    assert sha256_file(blob) == weights["digest"]
    assert blob.stat().st_size == weights["size"] == model_file().stat().st_size


def test_skopeo_copies_the_model_back_under_a_new_name(server, layout, cleanup):
    cleanup.append(("copy", "latest"))
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{host(server)}/copy:latest")
    original = manifest_digest(server, REPOSITORY, "latest")
    assert manifest_digest(server, "copy", "latest") == original
    assert listed(server.home)["copy:latest"] == original
    tags = requests.get(f"{server.url}/api/tags", timeout=10).json()["models"]
    assert "copy:latest" in {m["name"] for m in tags}
    response = generate(server, "copy:latest")
    assert response.status_code == 200, response.text
    assert response.json()["done"] is True


def test_skopeo_pushes_the_model_to_a_fresh_node(layout, tmp_path, log_dir, server):
    """A node without the blobs: every byte goes through POST, PATCH and PUT."""
    fresh = launch(tmp_path / "home", log_dir)
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{host(fresh)}/org/smollm2:q4")
        original = manifest_digest(server, REPOSITORY, "latest")
        assert listed(fresh.home) == {"org/smollm2:q4": original}
        verify = json.loads(commons(fresh.home, "--json", "verify").stdout)
        assert not verify.get("problems"), verify
        response = generate(fresh, "org/smollm2:q4")
        assert response.status_code == 200, response.text
        # Pulled back out of the fresh node, the manifest is still the same bytes.
        pulled = requests.get(f"{fresh.url}/v2/org/smollm2/manifests/q4", timeout=10)
        assert hashlib.sha256(pulled.content).hexdigest() == original.removeprefix("sha256:")
        assert pulled.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    finally:
        fresh.stop()


# --- oras ---------------------------------------------------------------------------


def test_oras_pushes_and_pulls_a_file_artifact(server, tmp_path, cleanup, monkeypatch):
    cleanup.append(("notes", "v1"))
    note = tmp_path / "note.txt"
    note.write_text("provenance travels with the model\n")
    client = oras.client.OrasClient(hostname=host(server), insecure=True)
    with monkeypatch.context() as m:
        m.chdir(tmp_path)  # oras names layers by their path relative to here
        response = client.push(target=f"{host(server)}/notes:v1", files=["note.txt"])
    assert response.status_code == 201
    assert client.get_tags(f"{host(server)}/notes") == ["v1"]
    out = client.pull(target=f"{host(server)}/notes:v1", outdir=str(tmp_path / "out"))
    assert [Path(p).read_text() for p in out] == [note.read_text()]
    # Stored and served, but not a model.
    assert "notes:v1" not in listed(server.home)
    catalog = requests.get(f"{server.url}/v2/_catalog", timeout=10).json()["repositories"]
    assert {"notes", REPOSITORY} <= set(catalog)


def test_oras_pulls_the_models_blobs(server, tmp_path):
    client = oras.client.OrasClient(hostname=host(server), insecure=True)
    manifest = client.get_manifest(f"{host(server)}/{MODEL_NAME}")
    out = client.pull(target=f"{host(server)}/{MODEL_NAME}", outdir=str(tmp_path))
    layers = {l["digest"]: l["size"] for l in manifest["layers"]}
    assert len(out) == len(layers)
    for path in map(Path, out):
        digest = sha256_file(path)
        assert layers[digest] == path.stat().st_size


def test_ranges_and_referrers_over_http(server, cleanup):
    digest = manifest_digest(server, REPOSITORY, "latest")
    manifest = requests.get(f"{server.url}/v2/{REPOSITORY}/manifests/latest", timeout=10).json()
    weights = manifest["layers"][0]["digest"]
    part = requests.get(f"{server.url}/v2/{REPOSITORY}/blobs/{weights}", headers={"Range": "bytes=0-3"}, timeout=10)
    assert part.status_code == 206 and part.content == b"GGUF"

    # A referrer of the model, pushed by digest.
    payload = b'{"note": "evaluated"}'
    for blob in (b"{}", payload):
        d = "sha256:" + hashlib.sha256(blob).hexdigest()
        r = requests.post(f"{server.url}/v2/{REPOSITORY}/blobs/uploads/?digest={d}", data=blob, timeout=10)
        assert r.status_code == 201, r.text
    referrer = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.eval+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2},
        "layers": [{"mediaType": "application/json",
                    "digest": "sha256:" + hashlib.sha256(payload).hexdigest(), "size": len(payload)}],
        "subject": {"mediaType": manifest["mediaType"], "digest": digest,
                    "size": int(requests.head(f"{server.url}/v2/{REPOSITORY}/manifests/latest").headers["Content-Length"])},
    }).encode()
    referrer_digest = "sha256:" + hashlib.sha256(referrer).hexdigest()
    cleanup.append((REPOSITORY, referrer_digest))
    put = requests.put(
        f"{server.url}/v2/{REPOSITORY}/manifests/{referrer_digest}",
        data=referrer,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    assert put.status_code == 201, put.text
    assert put.headers["OCI-Subject"] == digest
    listing = requests.get(
        f"{server.url}/v2/{REPOSITORY}/referrers/{digest}",
        params={"artifactType": "application/vnd.example.eval+json"},
        timeout=10,
    )
    assert listing.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in listing.json()["manifests"]] == [referrer_digest]


# --- auth ---------------------------------------------------------------------------


@pytest.fixture
def guarded_home(tmp_path, layout) -> tuple[Path, str]:
    """A fresh home with a push token; returns it and the token."""
    home = tmp_path / "guarded"
    home.mkdir()
    token = commons(home, "token", "create", "ci", "--scope", "push").stdout.strip()
    assert token.startswith("cmn_")
    return home, token


def test_a_push_token_makes_pushes_need_it(guarded_home, layout, log_dir, monkeypatch):
    home, token = guarded_home
    node = launch(home, log_dir)
    try:
        target = f"docker://{host(node)}/smollm2:latest"
        refused = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", target, check=False)
        assert refused.returncode != 0
        assert "unauthorized" in refused.stderr.lower(), refused.stderr
        challenge = requests.post(f"{node.url}/v2/smollm2/blobs/uploads/", timeout=10)
        assert challenge.status_code == 401
        assert challenge.headers["WWW-Authenticate"] == (
            f'Bearer realm="{node.url}/v2/token",service="commons",scope="repository:smollm2:pull,push"'
        )
        ollama = requests.post(f"{node.url}/api/copy", json={"source": "a", "destination": "b"}, timeout=10)
        assert ollama.status_code == 401 and "push" in ollama.json()["error"]

        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"anyone:{token}",
               f"oci:{layout}:latest", target)
        assert list(listed(home)) == ["smollm2:latest"]
        # Reads stay anonymous: skopeo gets the anonymous token and pulls.
        skopeo("copy", "--src-tls-verify=false", target, f"oci:{home / 'pulled'}:latest")

        # oras with Basic credentials.
        client = oras.client.OrasClient(hostname=host(node), insecure=True)
        client.auth.set_basic_auth("anyone", token)
        note = home / "note.txt"
        note.write_text("signed off\n")
        with monkeypatch.context() as m:
            m.chdir(home)
            assert client.push(target=f"{host(node)}/notes:v1", files=["note.txt"]).status_code == 201

        # Revoked, the token stops working at once (another push token keeps the node guarded).
        commons(home, "token", "create", "other", "--scope", "push")
        commons(home, "token", "revoke", "ci")
        again = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"anyone:{token}",
                       f"oci:{layout}:latest", f"docker://{host(node)}/again:latest", check=False)
        assert again.returncode != 0
        assert "again:latest" not in listed(home)
        # With no push/delete token left, the node is open to writes again (the rule;
        # `--require-auth` is the way to keep it closed).
        commons(home, "token", "revoke", "other")
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{host(node)}/again:latest")
        assert "again:latest" in listed(home)
    finally:
        node.stop()


def test_without_anonymous_reads_pulls_need_a_token(guarded_home, layout, log_dir):
    home, token = guarded_home
    reader = commons(home, "token", "create", "reader", "--scope", "pull").stdout.strip()
    node = launch(home, log_dir, "--no-anonymous-reads")
    try:
        # Version probes stay open (launch() waited on /api/version); the rest does not.
        assert requests.get(f"{node.url}/api/tags", timeout=10).status_code == 401
        assert requests.get(f"{node.url}/api/tags", headers={"Authorization": f"Bearer {reader}"},
                            timeout=10).status_code == 200
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"u:{token}",
               f"oci:{layout}:latest", f"docker://{host(node)}/smollm2:latest")
        target = f"docker://{host(node)}/smollm2:latest"
        refused = skopeo("copy", "--src-tls-verify=false", target, f"oci:{home / 'a'}:latest", check=False)
        assert refused.returncode != 0
        skopeo("copy", "--src-tls-verify=false", "--src-creds", f"u:{reader}", target, f"oci:{home / 'b'}:latest")
        # A pull token cannot push.
        denied = requests.post(f"{node.url}/v2/smollm2/blobs/uploads/",
                               headers={"Authorization": f"Bearer {reader}"}, timeout=10)
        assert denied.status_code == 403
        assert denied.json()["errors"][0]["code"] == "DENIED"
    finally:
        node.stop()


def test_require_auth_refuses_pushes_before_any_token_exists(tmp_path, layout, log_dir):
    home = tmp_path / "strict"
    home.mkdir()
    node = launch(home, log_dir, "--require-auth")
    try:
        refused = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest",
                         f"docker://{host(node)}/smollm2:latest", check=False)
        assert refused.returncode != 0
        assert "commons token create NAME --scope push" in refused.stderr, refused.stderr
        assert listed(home) == {}
        # Reads and inference stay open.
        assert requests.get(f"{node.url}/api/tags", timeout=10).status_code == 200
    finally:
        node.stop()
