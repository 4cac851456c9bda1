# Writes a copy of a GGUF whose Q4_1 tensors are requantized to Q8_0 with
# gguf-py (llama.cpp's own Python package): same metadata, same F32 tensors.
# Used by tests/lineage.rs to check that requantization is recognised.
import sys

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFValueType, GGUFWriter, quants

source, target = sys.argv[1], sys.argv[2]
reader = GGUFReader(source)
arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")
writer = GGUFWriter(target, arch=arch)
for field in reader.fields.values():
    if field.name.startswith("GGUF.") or field.name == "general.architecture":
        continue
    kind = field.types[0]
    if kind == GGUFValueType.ARRAY:
        item = field.types[-1]
        if item == GGUFValueType.STRING:
            values = [str(bytes(field.parts[i]), "utf-8") for i in field.data]
        else:
            values = [field.parts[i].tolist()[0] for i in field.data]
        writer.add_array(field.name, values)
    elif kind == GGUFValueType.STRING:
        writer.add_string(field.name, str(bytes(field.parts[-1]), "utf-8"))
    else:
        writer.add_key_value(field.name, field.parts[-1].tolist()[0], kind)
for tensor in reader.tensors:
    if tensor.tensor_type == T.Q4_1:
        values = quants.dequantize(tensor.data, T.Q4_1)
        writer.add_tensor(tensor.name, quants.quantize(values, T.Q8_0), raw_dtype=T.Q8_0)
    elif tensor.tensor_type == T.F32:
        writer.add_tensor(tensor.name, np.asarray(tensor.data))
    else:
        writer.add_tensor(tensor.name, np.asarray(tensor.data), raw_dtype=tensor.tensor_type)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
