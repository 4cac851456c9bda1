//! GGUF and safetensors readers.
