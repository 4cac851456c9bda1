#!/usr/bin/env python3
"""Print the facts of a model file as JSON, read with the reference readers.

    .venv/bin/python tests/python/model_facts.py PATH [--sha256]

PATH is a .gguf file, a .safetensors file, or a Hugging Face-style folder
(config.json beside one or more *.safetensors). The numbers come from llama.cpp's
own `gguf` package (GGUFReader) and from the `safetensors` package, never from
commons, so that the test suite can compare `commons show --json` against them.

Keys (always present; null when the model does not say):
  format             "gguf" | "safetensors"
  architecture       GGUF general.architecture; HF config.json architectures[0],
                     else model_type
  name               GGUF general.name; HF the model card's model_name
                     (config.json's _name_or_path is in config_name_or_path:
                     it usually names the base model, not this one)
  parameter_count    sum over all tensors of the product of their dimensions
  context_length     GGUF <arch>.context_length; HF the first of
                     max_position_embeddings, n_positions, max_seq_len,
                     max_sequence_length, seq_length, n_ctx in config.json, or
                     in its text_config / llm_config / language_config
  tensor_count       number of tensors (all shards together)
  file_type          GGUF general.file_type (an integer); null for safetensors
  quantization       GGUF: the name of general.file_type without its MOSTLY_/ALL_
                     prefix ("Q4_1", "Q4_K_M", "F16"); safetensors: the dtype
                     holding the most elements ("F32", "BF16"; a tie goes to
                     the name that sorts first)
  tensor_types       {type name: number of tensors}
  has_chat_template  GGUF tokenizer.chat_template; HF tokenizer_config.json
                     "chat_template" or a chat_template.jinja/.json file
  license            GGUF general.license; HF: the `license:` of the model
                     card (README.md front matter)
  size_bytes         size of the file, or of all regular files in the folder
  weights_size_bytes size of the .gguf / of all *.safetensors files
  sha256             of the .gguf, or of the only .safetensors; null for a
                     sharded folder (--sha256 hashes each shard into `files`)
plus format-specific details (gguf_version, metadata_kv_count,
tensor_data_offset, alignment, tensor_bytes, embedding_length, block_count,
vocab_size; or files, model_type, config_name_or_path, quant_method,
safetensors_metadata, embedding_length, block_count, vocab_size).

Run it with the project's virtual environment, which has the readers:
    "$(scripts/python-env --print-python)" tests/python/model_facts.py PATH
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- GGUF --------------------------------------------------------------------


def gguf_facts(path: Path) -> dict[str, Any]:
    import gguf
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(path), "r")
    fields = reader.fields

    def scalar(key: str) -> Any:
        field = fields.get(key)
        if field is None:
            return None
        if field.types and field.types[0] == GGUFValueType.ARRAY:
            return None
        value = field.contents()
        return value

    def array_len(key: str) -> int | None:
        field = fields.get(key)
        if field is None or not field.types or field.types[0] != GGUFValueType.ARRAY:
            return None
        return len(field.data)

    arch = scalar("general.architecture")
    file_type = scalar("general.file_type")
    quantization = None
    file_type_name = None
    if file_type is not None:
        try:
            file_type_name = gguf.LlamaFileType(int(file_type)).name
        except ValueError:
            file_type_name = f"UNKNOWN_{int(file_type)}"
        quantization = file_type_name
        for prefix in ("MOSTLY_", "ALL_"):
            if quantization.startswith(prefix):
                quantization = quantization[len(prefix):]

    # Element counts straight from each tensor's dimensions (GGUFReader reports
    # them in GGML order, innermost first; the product does not care).
    parameter_count = 0
    for tensor in reader.tensors:
        n = math.prod(int(d) for d in tensor.shape)
        if n != int(tensor.n_elements):
            raise SystemExit(f"error: {tensor.name}: shape {list(tensor.shape)} disagrees with n_elements {tensor.n_elements}")
        parameter_count += n

    header_tensor_count = int(scalar("GGUF.tensor_count"))
    if header_tensor_count != len(reader.tensors):
        raise SystemExit(f"error: header says {header_tensor_count} tensors, reader found {len(reader.tensors)}")

    def arch_key(suffix: str) -> Any:
        return scalar(f"{arch}.{suffix}") if arch else None

    context_length = arch_key("context_length")
    size = path.stat().st_size
    return {
        "path": str(path),
        "format": "gguf",
        "architecture": arch,
        "name": scalar("general.name"),
        "parameter_count": parameter_count,
        "context_length": None if context_length is None else int(context_length),
        "tensor_count": len(reader.tensors),
        "file_type": None if file_type is None else int(file_type),
        "file_type_name": file_type_name,
        "quantization": quantization,
        "tensor_types": dict(sorted(Counter(t.tensor_type.name for t in reader.tensors).items())),
        "has_chat_template": "tokenizer.chat_template" in fields,
        "license": scalar("general.license"),
        "size_bytes": size,
        "weights_size_bytes": size,
        "sha256": sha256_file(path),
        "gguf_version": int(scalar("GGUF.version")),
        "metadata_kv_count": int(scalar("GGUF.kv_count")),
        "tensor_data_offset": int(reader.data_offset),
        "alignment": int(scalar("general.alignment") or gguf.GGUF_DEFAULT_ALIGNMENT),
        "tensor_bytes": sum(int(t.n_bytes) for t in reader.tensors),
        "embedding_length": arch_key("embedding_length"),
        "block_count": arch_key("block_count"),
        "vocab_size": array_len("tokenizer.ggml.tokens"),
    }


# --- safetensors / Hugging Face folder ---------------------------------------


CONTEXT_LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "max_sequence_length", "seq_length", "n_ctx")
NESTED_CONFIG_KEYS = ("text_config", "llm_config", "language_config")


def front_matter(readme: Path) -> dict[str, Any]:
    """The YAML front matter of a model card, or {}."""
    import yaml

    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    data = yaml.safe_load(text[3:end])
    return data if isinstance(data, dict) else {}


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def safetensors_facts(path: Path, hash_files: bool) -> dict[str, Any]:
    from safetensors import safe_open

    folder = path if path.is_dir() else path.parent
    files = sorted(folder.glob("*.safetensors")) if path.is_dir() else [path]
    if not files:
        raise SystemExit(f"error: no *.safetensors in {folder}")

    dtype_tensors: Counter[str] = Counter()
    dtype_elements: Counter[str] = Counter()
    parameter_count = 0
    tensor_count = 0
    per_file = []
    metadata: dict[str, str] = {}
    for file in files:
        with safe_open(str(file), framework="numpy") as st:
            metadata.update(st.metadata() or {})
            n_file = 0
            for key in st.keys():
                sl = st.get_slice(key)
                n = math.prod(int(d) for d in sl.get_shape())
                dtype = sl.get_dtype()
                dtype_tensors[dtype] += 1
                dtype_elements[dtype] += n
                parameter_count += n
                tensor_count += 1
                n_file += 1
        entry: dict[str, Any] = {"file": file.name, "tensors": n_file, "size_bytes": file.stat().st_size}
        if hash_files or len(files) == 1:
            entry["sha256"] = sha256_file(file)
        per_file.append(entry)

    config = read_json(folder / "config.json")
    tok_config = read_json(folder / "tokenizer_config.json")
    card = front_matter(folder / "README.md")

    def direct_context(cfg: Any) -> int | None:
        if not isinstance(cfg, dict):
            return None
        for key in CONTEXT_LENGTH_KEYS:
            value = cfg.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return None

    context_length = direct_context(config)
    if context_length is None:
        for key in NESTED_CONFIG_KEYS:
            context_length = direct_context(config.get(key))
            if context_length is not None:
                break

    architectures = config.get("architectures")
    architecture = architectures[0] if isinstance(architectures, list) and architectures and isinstance(architectures[0], str) else None
    if architecture is None and isinstance(config.get("model_type"), str):
        architecture = config["model_type"]

    # Most elements wins; on a tie the name that sorts first.
    quantization = min(dtype_elements.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    quant_config = config.get("quantization_config")
    quant_method = quant_config.get("quant_method") if isinstance(quant_config, dict) else None

    license_ = card.get("license")
    if isinstance(license_, list):
        license_ = license_[0] if license_ else None

    has_chat_template = bool(tok_config.get("chat_template")) or any(
        (folder / name).is_file() for name in ("chat_template.jinja", "chat_template.json")
    )

    if path.is_dir():
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    else:
        size = path.stat().st_size

    return {
        "path": str(path),
        "format": "safetensors",
        "architecture": architecture,
        "name": card.get("model_name") if isinstance(card.get("model_name"), str) else None,
        "parameter_count": parameter_count,
        "context_length": context_length,
        "tensor_count": tensor_count,
        "file_type": None,
        "file_type_name": None,
        "quantization": quantization,
        "tensor_types": dict(sorted(dtype_tensors.items())),
        "has_chat_template": has_chat_template,
        "license": license_,
        "size_bytes": size,
        "weights_size_bytes": sum(e["size_bytes"] for e in per_file),
        "sha256": per_file[0].get("sha256") if len(per_file) == 1 else None,
        "files": per_file,
        "model_type": config.get("model_type"),
        "config_name_or_path": config.get("_name_or_path"),
        "quant_method": quant_method,
        "safetensors_metadata": metadata or None,
        "embedding_length": config.get("hidden_size"),
        "block_count": config.get("num_hidden_layers"),
        "vocab_size": config.get("vocab_size"),
    }


def facts(path: Path, hash_files: bool = False) -> dict[str, Any]:
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SystemExit(f"error: {path} has no config.json\nhint: pass a .gguf file or a Hugging Face-style folder")
        return safetensors_facts(path, hash_files)
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist\nhint: run scripts/fetch-models first")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == b"GGUF":
        return gguf_facts(path)
    if path.suffix == ".safetensors":
        return safetensors_facts(path, hash_files)
    raise SystemExit(f"error: {path} is neither GGUF (magic {magic!r}) nor .safetensors")


def main() -> None:
    try:
        import gguf  # noqa: F401
        import safetensors  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as err:
        raise SystemExit(
            f"error: {err.name} is not installed for {sys.executable}\n"
            'hint: run with the project\'s venv: "$(scripts/python-env --print-python)" tests/python/model_facts.py PATH'
        )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a .gguf file, a .safetensors file or a Hugging Face-style folder")
    parser.add_argument("--sha256", action="store_true", help="hash every weights file of a folder")
    args = parser.parse_args()
    json.dump(facts(args.path.resolve(), args.sha256), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
