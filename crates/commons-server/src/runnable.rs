//! What llama.cpp loads for a stored model.
//!
//! - A single GGUF: its blob, as stored.
//! - A split GGUF: links in the model's derived folder that give the shards
//!   the names llama.cpp looks for (`model-00002-of-00003.gguf`); it opens the
//!   first and finds the others by name.
//! - A safetensors folder that `commons_formats::convert` can convert (BERT
//!   sentence-embedding models): a GGUF written once into the derived folder.
//!
//! [`Runnable::plan`] is cheap and says early why a model cannot run;
//! [`Runnable::prepare`] does the file work, so callers run it off the async
//! runtime.

use std::path::PathBuf;

use commons_formats::convert::{self, ModelFiles};
use commons_formats::ModelFormat;
use commons_store::import::ImportMetadata;
use commons_store::{Digest, ModelEntry, Store, StoreError};

/// Bumped whenever the converter's output changes, so older derived files are
/// not reused.
const CONVERTED_FILE: &str = "converted-v1.gguf";

/// How a stored model becomes a file llama.cpp can load.
#[derive(Debug, Clone)]
pub enum Runnable {
    /// One GGUF blob, loaded as stored.
    Blob(PathBuf),
    /// The shards of a split GGUF, in order.
    Split { model: Digest, shards: Vec<Digest> },
    /// A safetensors folder to convert: every file by its path in the folder.
    Convert {
        model: Digest,
        label: String,
        files: Vec<(String, Digest)>,
    },
}

impl Runnable {
    /// How `entry` (whose import metadata is `metadata`) can be run, or why it cannot.
    pub fn plan(
        store: &Store,
        entry: &ModelEntry,
        metadata: Option<&ImportMetadata>,
    ) -> Result<Self, String> {
        let format = metadata.map(|m| m.info.format);
        if format.is_some_and(|f| f != ModelFormat::Gguf) {
            return plan_conversion(entry, metadata);
        }
        let mut weights: Vec<_> = entry.weight_layers().collect();
        match weights.as_slice() {
            [] => Err("it has no weights layer".into()),
            [only] => Ok(Self::Blob(store.blob_path(&only.digest))),
            _ => {
                // Shard names end in -0000N-of-0000M.gguf: their order is the name order.
                weights.sort_by_key(|layer| layer.filepath().unwrap_or_default());
                Ok(Self::Split {
                    model: entry.digest.clone(),
                    shards: weights.iter().map(|l| l.digest.clone()).collect(),
                })
            }
        }
    }

    /// The path to hand to llama.cpp, making derived files first if they are missing.
    pub fn prepare(&self, store: &Store) -> Result<PathBuf, String> {
        match self {
            Self::Blob(path) => Ok(path.clone()),
            Self::Split { model, shards } => {
                let count = shards.len();
                let links: Vec<(String, Digest)> = shards
                    .iter()
                    .enumerate()
                    .map(|(i, digest)| (split_name(i + 1, count), digest.clone()))
                    .collect();
                let dir = store
                    .derived_links(model, &links)
                    .map_err(|e| e.to_string())?;
                Ok(dir.join(split_name(1, count)))
            }
            Self::Convert {
                model,
                label,
                files,
            } => {
                let mut sources = ModelFiles::new(label);
                for (relative, digest) in files {
                    sources.insert(relative.clone(), store.blob_path(digest));
                }
                store
                    .derived_file(model, CONVERTED_FILE, |file| {
                        let mut out = std::io::BufWriter::new(file);
                        let converted = convert::convert_to_gguf(&sources, &mut out)
                            .map_err(|e| ConversionFailed::Format(with_hint(&e)))?;
                        std::io::Write::flush(&mut out)
                            .map_err(|e| ConversionFailed::Format(e.to_string()))?;
                        tracing::info!(
                            model = %label,
                            tensors = converted.tensor_count,
                            "converted to GGUF for llama.cpp"
                        );
                        Ok(())
                    })
                    .map_err(|e: ConversionFailed| e.to_string())
            }
        }
    }
}

/// Where `entry` can be loaded from: [`Runnable::plan`] then [`Runnable::prepare`].
pub fn runnable_weights(store: &Store, entry: &ModelEntry) -> Result<PathBuf, String> {
    let metadata = ImportMetadata::from_entry(entry);
    Runnable::plan(store, entry, metadata.as_ref())?.prepare(store)
}

fn plan_conversion(
    entry: &ModelEntry,
    metadata: Option<&ImportMetadata>,
) -> Result<Runnable, String> {
    let format = metadata.map_or("unknown", |m| m.info.format.as_str());
    let architecture = metadata
        .and_then(|m| m.info.architecture.as_deref())
        .unwrap_or_default();
    if !convert::can_convert(architecture) {
        return Err(format!(
            "it is in {format} format ({}), and commons runs GGUF models and converts only \
             BERT embedding models from safetensors",
            if architecture.is_empty() {
                "no architecture recorded"
            } else {
                architecture
            }
        ));
    }
    let files = entry
        .manifest
        .layers
        .iter()
        .filter_map(|layer| Some((layer.filepath()?.to_owned(), layer.digest.clone())))
        .collect();
    Ok(Runnable::Convert {
        model: entry.digest.clone(),
        label: entry.reference(),
        files,
    })
}

/// llama.cpp's shard file name (`llama_split_path`).
fn split_name(number: usize, count: usize) -> String {
    format!("model-{number:05}-of-{count:05}.gguf")
}

fn with_hint(error: &commons_formats::FormatError) -> String {
    match error.hint() {
        Some(hint) => format!("{error} (hint: {hint})"),
        None => error.to_string(),
    }
}

/// Why writing a converted file failed: the conversion or the store.
#[derive(Debug, thiserror::Error)]
enum ConversionFailed {
    #[error("converting it to GGUF failed: {0}")]
    Format(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
