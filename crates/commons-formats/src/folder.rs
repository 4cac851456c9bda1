//! Model folders in the Hugging Face layout: which files belong to the model,
//! what each is for, and which of them are the weights.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::gguf::{self, GgufFile};
use crate::hf::{read_folder_facts, read_model_card};
use crate::model::{FileRole, Inspection, ModelFile};
use crate::safetensors::{self, SafetensorsFile, INDEX_SUFFIX};
use crate::shard_name::ShardName;
use crate::FormatError;

/// Folders nest a few levels at most (`1_Pooling/`, `onnx/`); this only stops
/// pathological trees.
const MAX_DEPTH: usize = 16;

/// Extensions of pickle-based checkpoints, which are never loaded.
const PICKLE_EXTENSIONS: &[&str] = &["bin", "pt", "pth", "ckpt", "pkl", "pickle"];

/// The weights chosen in a folder, opened and validated.
enum Weights {
    Gguf(Vec<GgufFile>),
    Safetensors(Vec<SafetensorsFile>),
}

impl Weights {
    fn paths(&self) -> Vec<&Path> {
        match self {
            Self::Gguf(files) => files.iter().map(GgufFile::path).collect(),
            Self::Safetensors(files) => files.iter().map(SafetensorsFile::path).collect(),
        }
    }
}

/// A file found in the folder.
struct Entry {
    path: PathBuf,
    relative: String,
    size: u64,
}

pub(crate) fn inspect_folder(folder: &Path) -> Result<Inspection, FormatError> {
    let root = std::path::absolute(folder).map_err(|e| FormatError::io(folder, e))?;
    let entries = list_files(&root)?;
    let weights = choose_weights(&root, &entries)?;

    let mut warnings = Vec::new();
    let info = match &weights {
        Weights::Gguf(shards) => {
            let mut info = gguf::model_info(shards);
            // A GGUF carries its own config, tokenizer and template; a model
            // card beside it can still supply what the file leaves out.
            if let Some(card) = read_model_card(&root, &mut warnings)? {
                card.fill(&mut info.general);
            }
            info
        }
        Weights::Safetensors(files) => {
            safetensors::model_info(files, read_folder_facts(&root, &mut warnings)?)
        }
    };

    let weight_paths = weights.paths();
    let files = entries
        .into_iter()
        // Once real weights exist, pickles (pytorch_model.bin, training_args.bin,
        // optimizer.pt) are left out entirely: nobody should load them.
        .filter(|e| !has_pickle_extension(&e.relative))
        .map(|e| {
            let role = if weight_paths.contains(&e.path.as_path()) {
                FileRole::Weights
            } else {
                match role_for_name(&e.relative) {
                    // Weight files that are not part of the inspected set
                    // (an mmproj, another quantization) are only carried along.
                    FileRole::Weights => FileRole::Other,
                    role => role,
                }
            };
            ModelFile {
                path: e.path,
                relative: e.relative,
                size: e.size,
                role,
            }
        })
        .collect();
    Ok(Inspection {
        info,
        files,
        warnings,
    })
}

/// Picks the model's weights among the folder's top-level files: a sharded
/// set by its index, else the safetensors files, else one GGUF model (single
/// or split). Pickles alone are refused.
fn choose_weights(root: &Path, entries: &[Entry]) -> Result<Weights, FormatError> {
    let top_level: Vec<&Entry> = entries
        .iter()
        .filter(|e| !e.relative.contains('/'))
        .collect();
    let with_suffix = |suffix: &str| -> Vec<&Entry> {
        top_level
            .iter()
            .copied()
            .filter(|e| e.relative.to_ascii_lowercase().ends_with(suffix))
            .collect()
    };

    let indexes = with_suffix(INDEX_SUFFIX);
    if let Some(index) = indexes
        .iter()
        .find(|e| e.relative == "model.safetensors.index.json")
        .or(indexes.first())
    {
        return Ok(Weights::Safetensors(safetensors::open_index(&index.path)?));
    }

    let safetensors_files = with_suffix(".safetensors");
    if let Some(preferred) = safetensors_files
        .iter()
        .find(|e| e.relative == "model.safetensors")
        .or_else(|| {
            // A shard names its whole set.
            safetensors_files
                .iter()
                .find(|e| ShardName::parse(&e.relative, "safetensors").is_some())
        })
        .or(safetensors_files
            .first()
            .filter(|_| safetensors_files.len() == 1))
    {
        return Ok(Weights::Safetensors(safetensors::open_model(
            &preferred.path,
        )?));
    }
    if !safetensors_files.is_empty() {
        // Several unrelated files with no index: together they are the model.
        let files = safetensors_files
            .iter()
            .map(|e| SafetensorsFile::open(&e.path))
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::check_unique_tensors(&files)?;
        return Ok(Weights::Safetensors(files));
    }

    // GGUF models, grouping split shards; multimodal projectors ride along.
    let mut gguf_models: BTreeMap<String, &Entry> = BTreeMap::new();
    for entry in with_suffix(".gguf") {
        if entry.relative.to_ascii_lowercase().starts_with("mmproj") {
            continue;
        }
        let key = ShardName::parse(&entry.relative, "gguf")
            .map_or_else(|| entry.relative.clone(), |s| s.sibling(1));
        gguf_models.entry(key).or_insert(entry);
    }
    match gguf_models.len() {
        0 => {}
        1 => {
            if let Some(entry) = gguf_models.values().next() {
                return Ok(Weights::Gguf(gguf::open_model(&entry.path)?));
            }
        }
        _ => {
            return Err(FormatError::AmbiguousWeights {
                folder: root.to_path_buf(),
                candidates: gguf_models.into_keys().collect(),
            })
        }
    }

    if let Some(pickle) = top_level
        .iter()
        .filter(|e| has_pickle_extension(&e.relative))
        .min_by_key(|e| (!e.relative.starts_with("pytorch_model"), e.relative.clone()))
    {
        return Err(FormatError::PickleRefused {
            path: pickle.path.clone(),
        });
    }
    Err(FormatError::NoWeights {
        folder: root.to_path_buf(),
    })
}

pub(crate) fn has_pickle_extension(name: &str) -> bool {
    extension(name).is_some_and(|ext| PICKLE_EXTENSIONS.contains(&ext.as_str()))
}

fn extension(name: &str) -> Option<String> {
    let file_name = name.rsplit('/').next().unwrap_or(name);
    file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
}

/// What a file is for, judged by its name.
pub fn role_for_name(relative: &str) -> FileRole {
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    let name = file_name.to_ascii_lowercase();
    let ext = extension(&name).unwrap_or_default();
    if ext == "safetensors" || ext == "gguf" {
        FileRole::Weights
    } else if name.starts_with("license")
        || name.starts_with("licence")
        || name.starts_with("copying")
    {
        FileRole::License
    } else if name.starts_with("chat_template") || ext == "jinja" {
        FileRole::ChatTemplate
    } else if (name.starts_with("tokenizer") && ext == "json")
        || name.starts_with("vocab.")
        || name == "merges.txt"
        || name == "special_tokens_map.json"
        || name == "added_tokens.json"
        || ext == "model"
        || ext == "tiktoken"
    {
        FileRole::Tokenizer
    } else if ext == "json" && (name.contains("config") || name.ends_with(INDEX_SUFFIX)) {
        FileRole::Config
    } else if ext == "md" {
        FileRole::Doc
    } else {
        FileRole::Other
    }
}

/// Every regular file under `root`, sorted, skipping hidden files and
/// folders (`.git`, `.cache`, `.gitattributes`) and symlinks that leave the
/// folder.
fn list_files(root: &Path) -> Result<Vec<Entry>, FormatError> {
    let canonical_root = fs::canonicalize(root).map_err(|e| FormatError::io(root, e))?;
    let allowed = AllowedTargets::new(&canonical_root);
    let mut entries = Vec::new();
    walk(root, "", 0, &allowed, &mut entries)?;
    entries.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(entries)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    allowed: &AllowedTargets,
    entries: &mut Vec<Entry>,
) -> Result<(), FormatError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let read_dir = fs::read_dir(dir).map_err(|e| FormatError::io(dir, e))?;
    for item in read_dir {
        let item = item.map_err(|e| FormatError::io(dir, e))?;
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            continue; // Not UTF-8: cannot be named in a manifest.
        };
        if name.starts_with('.') {
            continue;
        }
        let path = item.path();
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = item.file_type().map_err(|e| FormatError::io(&path, e))?;
        if file_type.is_dir() {
            walk(&path, &relative, depth + 1, allowed, entries)?;
        } else if file_type.is_file() {
            let size = item
                .metadata()
                .map_err(|e| FormatError::io(&path, e))?
                .len();
            entries.push(Entry {
                path,
                relative,
                size,
            });
        } else if file_type.is_symlink() {
            // Followed only to files that stay inside; never to folders, so
            // a link cannot create a loop.
            let Ok(target) = fs::canonicalize(&path) else {
                continue; // dangling
            };
            if !allowed.contains(&target) {
                continue;
            }
            let Ok(metadata) = fs::metadata(&target) else {
                continue;
            };
            if metadata.is_file() {
                entries.push(Entry {
                    path,
                    relative,
                    size: metadata.len(),
                });
            }
        }
    }
    Ok(())
}

/// Where symlinks may point: inside the folder, and — for a Hugging Face
/// cache snapshot (`.../models--org--name/snapshots/<rev>/`), whose files are
/// all links to `../../blobs/<hash>` — into that repository's blob folder.
struct AllowedTargets {
    roots: Vec<PathBuf>,
}

impl AllowedTargets {
    fn new(canonical_root: &Path) -> Self {
        let mut roots = vec![canonical_root.to_path_buf()];
        let snapshots = canonical_root.parent();
        if let Some(repo) = snapshots
            .filter(|s| s.file_name().is_some_and(|n| n == "snapshots"))
            .and_then(Path::parent)
        {
            roots.push(repo.join("blobs"));
        }
        Self { roots }
    }

    fn contains(&self, target: &Path) -> bool {
        self.roots.iter().any(|root| target.starts_with(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_hugging_face_names() {
        let cases = [
            ("model.safetensors", FileRole::Weights),
            ("model-00001-of-00002.safetensors", FileRole::Weights),
            ("SmolLM2.Q4_1.gguf", FileRole::Weights),
            ("config.json", FileRole::Config),
            ("generation_config.json", FileRole::Config),
            ("config_sentence_transformers.json", FileRole::Config),
            ("1_Pooling/config.json", FileRole::Config),
            ("model.safetensors.index.json", FileRole::Config),
            ("tokenizer.json", FileRole::Tokenizer),
            ("tokenizer_config.json", FileRole::Tokenizer),
            ("vocab.txt", FileRole::Tokenizer),
            ("vocab.json", FileRole::Tokenizer),
            ("merges.txt", FileRole::Tokenizer),
            ("special_tokens_map.json", FileRole::Tokenizer),
            ("tokenizer.model", FileRole::Tokenizer),
            ("spiece.model", FileRole::Tokenizer),
            ("chat_template.jinja", FileRole::ChatTemplate),
            ("README.md", FileRole::Doc),
            ("LICENSE", FileRole::License),
            ("LICENSE.txt", FileRole::License),
            ("modules.json", FileRole::Other),
            ("onnx/model.onnx", FileRole::Other),
        ];
        for (name, role) in cases {
            assert_eq!(role_for_name(name), role, "{name}");
        }
    }

    #[test]
    fn pickle_extensions() {
        for name in ["pytorch_model.bin", "x.PT", "a/b.pth", "m.ckpt", "o.pkl"] {
            assert!(has_pickle_extension(name), "{name}");
        }
        for name in ["model.safetensors", "bin", "vocab.txt"] {
            assert!(!has_pickle_extension(name), "{name}");
        }
    }
}
