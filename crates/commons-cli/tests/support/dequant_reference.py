# Random blocks of every type commons dequantizes, with the values gguf-py
# (llama.cpp's own Python package) dequantizes them to; read by tests/lineage.rs.
import json, sys
import numpy as np
from gguf import GGMLQuantizationType as T, quants, constants

rng = np.random.default_rng(7)
SCALES = {"Q8_0": [0], "Q4_0": [0], "Q5_0": [0], "Q4_1": [0, 2], "Q5_1": [0, 2],
          "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}
out = {}
for name in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]:
    qt = T[name]
    block, size = constants.GGML_QUANT_SIZES[qt]
    n = 512
    if name == "F32":
        raw = rng.normal(size=n).astype(np.float32).view(np.uint8)
    elif name == "F16":
        raw = rng.normal(size=n).astype(np.float16).view(np.uint8)
    elif name == "BF16":
        raw = (rng.normal(size=n).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    else:
        raw = rng.integers(0, 256, size=(n // block) * size, dtype=np.uint8)
        for b in range(n // block):
            for at in SCALES[name]:
                half = np.array([rng.uniform(-0.1, 0.1)], dtype=np.float16).view(np.uint8)
                raw[b * size + at: b * size + at + 2] = half
    values = quants.dequantize(raw, qt).astype(np.float32).reshape(-1)
    out[name] = {"bytes": raw.tobytes().hex(), "values": [float(v) for v in values]}
json.dump(out, sys.stdout)
