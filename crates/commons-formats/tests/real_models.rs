//! Inspection and hashing of the real models that `scripts/fetch-models`
//! puts in the model cache (`$COMMONS_MODEL_CACHE`, default
//! `<workspace>/.cache/models`). A missing model fails the test: these
//! checks must never pass by not running.
//!
//! Expected numbers were obtained independently of this crate, with gguf-py
//! 0.19 (`gguf.GGUFReader`: `len(r.tensors)`, `sum(prod(t.shape))`, field
//! contents) and with the `safetensors` Python package (`safe_open`, summing
//! `prod(get_slice(k).get_shape())`).

use std::path::{Path, PathBuf};

use commons_formats::{inspect, tensor_digests, FileRole, ModelFormat};

fn model_cache() -> PathBuf {
    std::env::var_os("COMMONS_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.cache/models")
                .components()
                .collect()
        })
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} not found under {} — run `scripts/fetch-models` first (or set COMMONS_MODEL_CACHE)",
        model_cache().display()
    )
}

/// Depth-first search of the cache for the first path `matches` accepts.
fn find(matches: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    fn walk(dir: &Path, matches: &dyn Fn(&Path) -> bool, depth: usize) -> Option<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            if matches(&path) {
                return Some(path);
            }
            if depth < 6 && path.is_dir() {
                if let Some(found) = walk(&path, matches, depth + 1) {
                    return Some(found);
                }
            }
        }
        None
    }
    walk(&model_cache(), matches, 0)
}

fn file_named(name: &str) -> Option<PathBuf> {
    find(&|p| p.is_file() && p.file_name().is_some_and(|n| n == name))
}

#[test]
fn smollm2_gguf() -> Result<(), Box<dyn std::error::Error>> {
    let path = file_named("SmolLM2-135M-Instruct.Q4_1.gguf")
        .unwrap_or_else(|| missing("SmolLM2-135M-Instruct.Q4_1.gguf"));
    let inspection = inspect(&path)?;
    let info = &inspection.info;
    assert_eq!(info.format, ModelFormat::Gguf);
    assert_eq!(info.architecture.as_deref(), Some("llama"));
    assert_eq!(info.quantization.primary, "Q4_1");
    assert_eq!(info.context_length, Some(8192));
    // gguf-py: 272 tensors, 134515008 elements; types Q4_1 ×210, F32 ×61, Q8_0 ×1.
    assert_eq!(info.tensor_count, 272);
    assert_eq!(info.parameter_count, 134_515_008);
    assert_eq!(info.quantization.mix.get("Q4_1"), Some(&210));
    assert_eq!(info.quantization.mix.get("F32"), Some(&61));
    assert_eq!(info.quantization.mix.get("Q8_0"), Some(&1));
    assert_eq!(info.tokenizer.as_deref(), Some("gpt2"));
    assert!(info
        .chat_template
        .as_deref()
        .is_some_and(|t| t.contains("im_start")));
    assert_eq!(info.general.license.as_deref(), Some("apache-2.0"));
    assert_eq!(info.general.organization.as_deref(), Some("HuggingFaceTB"));
    assert_eq!(info.general.size_label.as_deref(), Some("135M"));
    assert_eq!(info.general.languages, ["en"]);

    let digests = tensor_digests(&inspection.files)?;
    assert_eq!(digests.len(), 272);
    // gguf-py: token_embd.weight is Q8_0 [576, 49152], 30081024 bytes.
    let embd = digests.iter().find(|d| d.name == "token_embd.weight");
    assert_eq!(
        embd.map(|d| (d.dtype.as_str(), d.shape.clone(), d.size)),
        Some(("Q8_0", vec![576, 49152], 30_081_024))
    );
    assert!(digests.iter().all(|d| d.sha256.len() == 64));
    Ok(())
}

#[test]
fn minilm_safetensors_folder() -> Result<(), Box<dyn std::error::Error>> {
    let folder =
        find(&|p| p.join("model.safetensors").is_file() && p.join("config.json").is_file())
            .unwrap_or_else(|| missing("a MiniLM folder (model.safetensors + config.json)"));
    let inspection = inspect(&folder)?;
    let info = &inspection.info;
    assert_eq!(info.format, ModelFormat::Safetensors);
    assert_eq!(info.architecture.as_deref(), Some("BertModel"));
    assert_eq!(info.context_length, Some(512));
    // safetensors (Python): 104 tensors, 22713728 elements; F32 ×103, I64 ×1.
    assert_eq!(info.tensor_count, 104);
    assert_eq!(info.parameter_count, 22_713_728);
    assert_eq!(info.quantization.primary, "F32");
    assert_eq!(info.quantization.mix.get("I64"), Some(&1));
    assert_eq!(info.tokenizer.as_deref(), Some("wordpiece"));
    assert_eq!(info.general.license.as_deref(), Some("apache-2.0"));
    assert!(info.general.datasets.iter().any(|d| d == "ms_marco"));

    let role = |name: &str| {
        inspection
            .files
            .iter()
            .find(|f| f.relative == name)
            .map(|f| f.role)
    };
    assert_eq!(role("model.safetensors"), Some(FileRole::Weights));
    assert_eq!(role("config.json"), Some(FileRole::Config));
    assert_eq!(role("tokenizer.json"), Some(FileRole::Tokenizer));
    assert_eq!(role("vocab.txt"), Some(FileRole::Tokenizer));
    assert_eq!(role("README.md"), Some(FileRole::Doc));
    assert_eq!(role("1_Pooling/config.json"), Some(FileRole::Config));
    assert_eq!(role(".gitattributes"), None, "hidden files are left out");
    assert!(inspection.files.iter().all(|f| f.path.is_absolute()));

    let digests = tensor_digests(&inspection.files)?;
    assert_eq!(digests.len(), 104);
    // The tensors fill the data section exactly.
    let file =
        commons_formats::safetensors::SafetensorsFile::open(&folder.join("model.safetensors"))?;
    assert_eq!(
        digests.iter().map(|d| d.size).sum::<u64>(),
        file.file_size() - file.header().data_start
    );
    Ok(())
}

#[test]
fn gemma3_gguf() -> Result<(), Box<dyn std::error::Error>> {
    let path = find(&|p| {
        p.is_file()
            && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.to_ascii_lowercase().starts_with("gemma") && n.ends_with(".gguf")
            })
    })
    .unwrap_or_else(|| missing("a Gemma *.gguf"));
    let info = inspect(&path)?.info;
    assert_eq!(info.architecture.as_deref(), Some("gemma3"));
    // gguf-py on gemma-3-270m-q4_k_m.gguf: 236 tensors, 268098176 elements,
    // file type 15, gemma3.context_length 32768.
    assert_eq!(info.tensor_count, 236);
    assert_eq!(info.parameter_count, 268_098_176);
    assert_eq!(info.quantization.primary, "Q4_K_M");
    assert_eq!(info.context_length, Some(32768));
    assert_eq!(info.tokenizer.as_deref(), Some("llama"));
    assert_eq!(info.general.license.as_deref(), Some("gemma"));
    Ok(())
}
