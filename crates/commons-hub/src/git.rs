//! Git object ids, as the Hub reports them: a file's `oid` is the sha1 of its git
//! blob, a folder's is the sha1 of its git tree, and a file kept in LFS is
//! represented in git by its LFS pointer text, whose blob id is the file's `oid`.
//! Clients use these ids to check small files and as their ETag.

use std::collections::BTreeMap;
use std::io::Read;

use sha1::{Digest as _, Sha1};

/// The Git LFS pointer that stands for a file of `size` bytes with this sha256
/// (git-lfs spec v1: three `key value` lines in this order, then a newline).
/// The `version` line is the spec's fixed identifier, never contacted; it must
/// be byte-exact because the pointer's git id and size are what clients see.
pub(crate) fn lfs_pointer(sha256_hex: &str, size: u64) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256_hex}\nsize {size}\n")
}

/// Git blob id of `bytes`: `sha1("blob <len>\0" + bytes)`.
pub(crate) fn blob_oid(bytes: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

/// Git blob id of the `len` bytes `reader` yields; fails if it yields another count.
pub(crate) fn blob_oid_of_reader(mut reader: impl Read, len: u64) -> std::io::Result<String> {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {len}\0").as_bytes());
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        seen += n as u64;
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    if seen != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("expected {len} bytes, read {seen}"),
        ));
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Git tree ids of every folder holding `files` (`path` → blob id), keyed by the
/// folder's path (`""` is the root).
pub(crate) fn tree_oids<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    #[derive(Default)]
    struct Dir<'a> {
        files: BTreeMap<&'a str, &'a str>,
        dirs: BTreeMap<&'a str, Dir<'a>>,
    }
    let mut root = Dir::default();
    for (path, oid) in files {
        let mut dir = &mut root;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                dir.files.insert(part, oid);
            } else {
                dir = dir.dirs.entry(part).or_default();
            }
        }
    }

    fn hash(dir: &Dir<'_>, prefix: &str, out: &mut BTreeMap<String, String>) -> String {
        // Git orders tree entries by name, comparing a folder as if its name ended in `/`.
        let mut entries: Vec<(String, &str, &str, String)> = Vec::new();
        for (name, oid) in &dir.files {
            entries.push((name.to_string(), "100644", name, oid.to_string()));
        }
        for (name, child) in &dir.dirs {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let oid = hash(child, &path, out);
            entries.push((format!("{name}/"), "40000", name, oid));
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut body = Vec::new();
        for (_, mode, name, oid) in &entries {
            body.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            // Ids come from our own hashing; one that is not hex would only
            // make this folder's id wrong, never fail the listing.
            body.extend_from_slice(&hex::decode(oid).unwrap_or_default());
        }
        let mut hasher = Sha1::new();
        hasher.update(format!("tree {}\0", body.len()).as_bytes());
        hasher.update(&body);
        let oid = hex::encode(hasher.finalize());
        out.insert(prefix.to_string(), oid.clone());
        oid
    }

    let mut out = BTreeMap::new();
    hash(&root, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from `git hash-object` and `git mktree`.
    #[test]
    fn blob_ids_match_git() {
        assert_eq!(blob_oid(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(
            blob_oid(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            blob_oid_of_reader(&b"hello\n"[..], 6).ok().as_deref(),
            Some("ce013625030ba8dba906f756967f9e9ca394464a")
        );
        assert!(blob_oid_of_reader(&b"hello\n"[..], 7).is_err());
    }

    #[test]
    fn tree_ids_match_git() {
        let hello = blob_oid(b"hello\n");
        let trees = tree_oids([("a.txt", hello.as_str()), ("d/b.txt", hello.as_str())]);
        // printf 'hello\n' > a.txt; mkdir d; cp a.txt d/b.txt; git add .; git write-tree
        assert_eq!(
            trees.get("d").map(String::as_str),
            Some("dd5a3627ad3d4a1eaa9b180972bab37891a5e101")
        );
        assert_eq!(
            trees.get("").map(String::as_str),
            Some("81f6c9406952f2734422cb4821bfbcc739b920ce")
        );
        assert_eq!(trees.len(), 2);
    }

    #[test]
    fn lfs_pointer_is_the_spec_text() {
        let pointer = lfs_pointer(&"ab".repeat(32), 42);
        assert!(pointer.starts_with("version "));
        assert!(pointer.ends_with(&format!("oid sha256:{}\nsize 42\n", "ab".repeat(32))));
        // printf 'version …\noid sha256:abab…\nsize 42\n' | git hash-object --stdin
        assert_eq!(
            blob_oid(pointer.as_bytes()),
            "2438fa97406af3d4210c44f8feccb2bac7a1ca33"
        );
    }
}
