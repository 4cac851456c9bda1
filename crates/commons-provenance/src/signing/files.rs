//! The files of a model path as model-signing sees them: a single file is
//! the resource `"."`; a folder is every regular file under it, named by its
//! `/`-separated relative path, minus the git paths at its root, the
//! signature file and any other ignored path. Symbolic links are refused.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{sort_resources, Resource, SignatureError};

/// The model name model-signing records: the last component of the path.
pub fn model_name(path: &Path) -> String {
    std::path::absolute(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| ".".into())
}

/// Hashes the files of `path`, leaving out `ignore` (paths relative to a folder).
pub fn resources(path: &Path, ignore: &[String]) -> Result<Vec<Resource>, SignatureError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| SignatureError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(SignatureError::Symlink {
            path: path.display().to_string(),
        });
    }
    if meta.is_file() {
        return Ok(vec![Resource {
            name: ".".into(),
            digest: sha256_file(path)?,
        }]);
    }
    let mut files = Vec::new();
    walk(path, path, ignore, &mut files)?;
    let mut resources = files
        .into_iter()
        .map(|(name, full)| {
            Ok(Resource {
                name,
                digest: sha256_file(&full)?,
            })
        })
        .collect::<Result<Vec<_>, SignatureError>>()?;
    sort_resources(&mut resources);
    Ok(resources)
}

fn is_ignored(relative: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|i| {
        let i = i.trim_end_matches('/');
        relative == i
            || relative
                .strip_prefix(i)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn walk(
    root: &Path,
    dir: &Path,
    ignore: &[String],
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), SignatureError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SignatureError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let full = entry.path();
        let relative = full
            .strip_prefix(root)
            .map(|r| {
                r.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default();
        if is_ignored(&relative, ignore) {
            continue;
        }
        let kind = entry.file_type().map_err(io(&full))?;
        if kind.is_symlink() {
            return Err(SignatureError::Symlink {
                path: full.display().to_string(),
            });
        }
        if kind.is_dir() {
            walk(root, &full, ignore, out)?;
        } else if kind.is_file() {
            out.push((relative, full));
        }
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String, SignatureError> {
    let io = |source| SignatureError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_skip_git_paths_and_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git/objects")).unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join(".git/objects/x"), b"x").unwrap();
        std::fs::write(root.join(".gitattributes"), b"x").unwrap();
        std::fs::write(root.join(".hidden"), b"h").unwrap();
        std::fs::write(root.join("model.sig"), b"s").unwrap();
        std::fs::write(root.join("sub/w.bin"), b"w").unwrap();
        std::fs::write(root.join("sub.txt"), b"t").unwrap();
        let mut ignore: Vec<String> = super::super::GIT_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect();
        ignore.push("model.sig".into());
        let r = resources(root, &ignore).unwrap();
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, [".hidden", "sub/w.bin", "sub.txt"]);
        let single = resources(&root.join("sub.txt"), &[]).unwrap();
        assert_eq!(single[0].name, ".");
    }
}
