"""Signatures interoperate with the OpenSSF `model_signing` tool, both ways.

A real model folder (all-MiniLM-L6-v2: safetensors, tokenizer, a subfolder,
a .gitattributes that model-signing leaves out) is signed by one tool and
verified by the other, with an ECDSA P-256 key pair made here. Changing one
byte of any file makes both fail, naming the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parents[2]


def _commons() -> Path:
    path = Path(os.environ.get("COMMONS_BIN", REPO / "target" / "debug" / "commons"))
    if not path.exists():
        pytest.fail(f"{path} is missing\nhint: run `cargo build -p commons-cli`, or set COMMONS_BIN")
    return path


def _model_cache() -> Path:
    return Path(os.environ.get("COMMONS_MODEL_CACHE", REPO / ".cache" / "models"))


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    source = _model_cache() / "all-minilm-l6-v2"
    if not (source / "model.safetensors").exists():
        pytest.fail(f"{source} is missing\nhint: run `scripts/fetch-models`")
    folder = tmp_path / "all-minilm-l6-v2"
    shutil.copytree(source, folder)
    return folder


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = directory / f"{name}.pem"
    public = directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return _key_pair(tmp_path, "signer")


@pytest.fixture
def commons_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def commons(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMMONS_HOME=str(home))
    env.pop("RUST_LOG", None)
    return subprocess.run([str(_commons()), *args], capture_output=True, text=True, env=env)


def model_signing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *args], capture_output=True, text=True
    )


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_commons_signature_verifies_with_model_signing(model_folder, keys, commons_home):
    private, public = keys
    signed = commons(commons_home, "sign", str(model_folder), "--key", str(private), "--json")
    assert signed.returncode == 0, signed.stderr
    signature = model_folder / "model.sig"  # model-signing's default name
    assert signature.exists()

    verified = model_signing(
        "verify", "key", str(model_folder), "--signature", str(signature), "--public_key", str(public)
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification succeeded" in verified.stdout

    flip_one_byte(model_folder / "1_Pooling" / "config.json")
    failed = model_signing(
        "verify", "key", str(model_folder), "--signature", str(signature), "--public_key", str(public)
    )
    assert failed.returncode != 0
    assert "1_Pooling/config.json" in failed.stdout + failed.stderr
    ours = commons(commons_home, "verify-signature", str(model_folder), "--key", str(public))
    assert ours.returncode != 0
    assert "1_Pooling/config.json" in ours.stderr


def test_model_signing_signature_verifies_with_commons(model_folder, keys, commons_home):
    private, public = keys
    signature = model_folder / "model.sig"
    signed = model_signing(
        "sign", "key", str(model_folder), "--private_key", str(private), "--signature", str(signature)
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr

    verified = commons(commons_home, "verify-signature", str(model_folder), "--key", str(public), "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert '"verified": true' in verified.stdout

    flip_one_byte(model_folder / "model.safetensors")
    failed = commons(commons_home, "verify-signature", str(model_folder), "--key", str(public))
    assert failed.returncode == 1
    assert "model.safetensors" in failed.stderr
    assert "hint:" in failed.stderr
    theirs = model_signing(
        "verify", "key", str(model_folder), "--signature", str(signature), "--public_key", str(public)
    )
    assert theirs.returncode != 0
    assert "model.safetensors" in theirs.stdout + theirs.stderr


def test_another_key_fails_in_both_tools(model_folder, keys, commons_home, tmp_path):
    private, _ = keys
    _, other_public = _key_pair(tmp_path, "other")
    assert commons(commons_home, "sign", str(model_folder), "--key", str(private)).returncode == 0
    signature = model_folder / "model.sig"
    theirs = model_signing(
        "verify", "key", str(model_folder), "--signature", str(signature), "--public_key", str(other_public)
    )
    assert theirs.returncode != 0
    ours = commons(commons_home, "verify-signature", str(model_folder), "--key", str(other_public))
    assert ours.returncode == 1
    assert "another key" in ours.stderr
    # Without --key, only trusted keys count: this one is not.
    untrusted = commons(commons_home, "verify-signature", str(model_folder))
    assert untrusted.returncode == 1
    assert "no trusted key" in untrusted.stderr and "trust.toml" in untrusted.stderr


def test_stored_model_and_its_source_folder_share_signatures(model_folder, keys, commons_home, tmp_path):
    """A publisher signs the folder; a node that imported it verifies the
    signature against its stored blobs, and the node's signature of the stored
    model verifies against the folder."""
    private, public = keys
    imported = commons(commons_home, "import", str(model_folder), "--name", "minilm:1", "--json")
    assert imported.returncode == 0, imported.stderr

    publisher_sig = tmp_path / "publisher.sig"
    signed = model_signing(
        "sign", "key", str(model_folder), "--private_key", str(private), "--signature", str(publisher_sig)
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    verified = commons(
        commons_home, "verify-signature", "minilm:1", "--signature", str(publisher_sig), "--key", str(public)
    )
    assert verified.returncode == 0, verified.stderr

    node_sig = tmp_path / "node.sig"
    ours = commons(commons_home, "sign", "minilm:1", "--key", str(private), "--signature", str(node_sig))
    assert ours.returncode == 0, ours.stderr
    theirs = model_signing(
        "verify", "key", str(model_folder), "--signature", str(node_sig), "--public_key", str(public)
    )
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
