//! Split GGUF models (llama.cpp `gguf-split`): `name-00001-of-00003.gguf` ...
//! Shard 1 carries the model's metadata; every shard carries some tensors and
//! the keys `split.no` (0-based), `split.count` and, in shard 1,
//! `split.tensors.count`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::reader::GgufFile;
use crate::shard_name::ShardName;
use crate::FormatError;

pub const SPLIT_NO: &str = "split.no";
pub const SPLIT_COUNT: &str = "split.count";
pub const SPLIT_TENSORS_COUNT: &str = "split.tensors.count";
/// An older spelling some writers used.
const GENERAL_SPLIT_COUNT: &str = "general.split.count";

/// Opens a GGUF model from any one of its files: a single file, or any shard
/// of a split model (then every shard must exist). Shard 1 comes first.
pub fn open_model(path: &Path) -> Result<Vec<GgufFile>, FormatError> {
    let shard_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| ShardName::parse(n, "gguf"))
        .filter(|s| s.count > 1);
    let Some(shard_name) = shard_name else {
        let file = GgufFile::open(path)?;
        if let Some(count) = split_count(&file).filter(|&c| c > 1) {
            return Err(FormatError::InvalidSplit {
                path: path.to_path_buf(),
                problem: format!(
                    "its metadata says it is one of {count} shards, but its name does not follow \
                     `<name>-00001-of-{count:05}.gguf`, so the other shards cannot be found"
                ),
            });
        }
        return Ok(vec![file]);
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
    let shards = paths
        .iter()
        .map(|p| GgufFile::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    check_shards(&shards, &paths)?;
    Ok(shards)
}

fn split_count(file: &GgufFile) -> Option<u64> {
    let metadata = file.metadata();
    metadata
        .get_u64(SPLIT_COUNT)
        .or_else(|| metadata.get_u64(GENERAL_SPLIT_COUNT))
}

/// The shards must agree with their names and with each other, and no tensor
/// may appear in two of them.
fn check_shards(shards: &[GgufFile], paths: &[PathBuf]) -> Result<(), FormatError> {
    let count = shards.len() as u64;
    let invalid = |path: &Path, problem: String| FormatError::InvalidSplit {
        path: path.to_path_buf(),
        problem,
    };
    let mut names = HashSet::new();
    for (index, (shard, path)) in shards.iter().zip(paths).enumerate() {
        let metadata = shard.metadata();
        if let Some(no) = metadata.get_u64(SPLIT_NO) {
            if no != index as u64 {
                return Err(invalid(
                    path,
                    format!(
                        "its `{SPLIT_NO}` is {no} but its name makes it shard {} (`{SPLIT_NO}` {index})",
                        index + 1
                    ),
                ));
            }
        }
        if let Some(declared) = split_count(shard) {
            if declared != count {
                return Err(invalid(
                    path,
                    format!("its `{SPLIT_COUNT}` is {declared} but its name says {count} shards"),
                ));
            }
        }
        for tensor in shard.tensors() {
            if !names.insert(tensor.name.as_str()) {
                return Err(FormatError::DuplicateTensor {
                    path: path.to_path_buf(),
                    tensor: tensor.name.clone(),
                });
            }
        }
    }
    if let (Some(first), Some(path)) = (shards.first(), paths.first()) {
        if let Some(declared) = first.metadata().get_u64(SPLIT_TENSORS_COUNT) {
            if declared != names.len() as u64 {
                return Err(invalid(
                    path,
                    format!(
                        "its `{SPLIT_TENSORS_COUNT}` is {declared} but the shards hold {} tensors",
                        names.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}
