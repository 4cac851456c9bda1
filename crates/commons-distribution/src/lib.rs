//! `commons-distribution`: the client side of sharing. Pulls models from OCI
//! registries, Hugging Face-compatible hubs and other commons nodes into the
//! store, pushes them out, and falls back across configured mirrors; every byte
//! is verified against its digest before it becomes visible.
