//! Sharded safetensors: `model-00001-of-00002.safetensors` ... and the index
//! `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: file}}`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::SafetensorsFile;
use crate::mapped::read_json;
use crate::shard_name::ShardName;
use crate::FormatError;

pub const INDEX_SUFFIX: &str = ".safetensors.index.json";
/// Indexes list one line per tensor; even the largest models stay in the
/// low megabytes.
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// The index of a sharded safetensors model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SafetensorsIndex {
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Tensor name → shard file name (in the index's folder).
    pub weight_map: BTreeMap<String, String>,
}

pub fn read_index(path: &Path) -> Result<SafetensorsIndex, FormatError> {
    read_json(path, MAX_INDEX_BYTES)
}

/// Opens a safetensors model from any of its files: a single file, any shard
/// named `<stem>-0000N-of-0000M.safetensors` (every shard must exist), or an
/// index. Files come in shard order.
pub fn open_model(path: &Path) -> Result<Vec<SafetensorsFile>, FormatError> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if file_name.ends_with(INDEX_SUFFIX) {
        return open_index(path);
    }
    let Some(shard_name) = ShardName::parse(file_name, "safetensors").filter(|s| s.count > 1)
    else {
        return Ok(vec![SafetensorsFile::open(path)?]);
    };
    let folder = path.parent().unwrap_or_else(|| Path::new(""));
    let paths = shard_name.all_paths(folder);
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        return Err(FormatError::MissingShard {
            path: missing.clone(),
            referenced_by: format!(
                "`{}` is shard {} of {}, so",
                path.display(),
                shard_name.number,
                shard_name.count
            ),
        });
    }
    let files = paths
        .iter()
        .map(|p| SafetensorsFile::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique_tensors(&files)?;
    Ok(files)
}

/// Opens every shard an index names (in file-name order) and checks that
/// each tensor is where the index says.
pub fn open_index(index_path: &Path) -> Result<Vec<SafetensorsFile>, FormatError> {
    let index = read_index(index_path)?;
    let folder = index_path.parent().unwrap_or_else(|| Path::new(""));
    let invalid = |problem: String| FormatError::InvalidJsonContent {
        path: index_path.to_path_buf(),
        problem,
    };
    let shard_names: BTreeSet<&str> = index.weight_map.values().map(String::as_str).collect();
    if shard_names.is_empty() {
        return Err(invalid("its `weight_map` lists no tensors".into()));
    }
    for name in &shard_names {
        if !is_plain_shard_name(name) {
            return Err(invalid(format!(
                "`weight_map` names `{name}`, which is not a .safetensors file name in the index's folder"
            )));
        }
    }
    let mut files = Vec::with_capacity(shard_names.len());
    for name in &shard_names {
        let path = folder.join(name);
        if !path.is_file() {
            return Err(FormatError::MissingShard {
                path,
                referenced_by: format!("the index `{}`", index_path.display()),
            });
        }
        files.push(SafetensorsFile::open(&path)?);
    }
    check_unique_tensors(&files)?;

    let tensors_by_shard: BTreeMap<&str, HashSet<&str>> = shard_names
        .iter()
        .zip(&files)
        .map(|(name, file)| {
            (
                *name,
                file.tensors().iter().map(|t| t.name.as_str()).collect(),
            )
        })
        .collect();
    for (tensor, shard) in &index.weight_map {
        let present = tensors_by_shard
            .get(shard.as_str())
            .is_some_and(|names| names.contains(tensor.as_str()));
        if !present {
            return Err(invalid(format!(
                "`weight_map` puts tensor `{tensor}` in `{shard}`, which does not contain it"
            )));
        }
    }
    Ok(files)
}

/// A shard must sit next to its index: a bare file name, never a path that
/// could reach elsewhere (`../`, `/etc/...`).
fn is_plain_shard_name(name: &str) -> bool {
    !name.contains(['/', '\\'])
        && name != ".."
        && !name.starts_with('.')
        && name.ends_with(".safetensors")
}

pub(crate) fn check_unique_tensors(files: &[SafetensorsFile]) -> Result<(), FormatError> {
    let mut seen = HashSet::new();
    for file in files {
        for tensor in file.tensors() {
            if !seen.insert(tensor.name.as_str()) {
                return Err(FormatError::DuplicateTensor {
                    path: file.path().to_path_buf(),
                    tensor: tensor.name.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_plain_shard_name;

    #[test]
    fn shard_names_cannot_leave_the_folder() {
        assert!(is_plain_shard_name("model-00001-of-00002.safetensors"));
        for bad in [
            "../x.safetensors",
            "/etc/x.safetensors",
            "sub/x.safetensors",
            "..\\x.safetensors",
            ".hidden.safetensors",
            "model.bin",
        ] {
            assert!(!is_plain_shard_name(bad), "{bad}");
        }
    }
}
