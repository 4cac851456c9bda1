//! Names of sharded weight files: `<stem>-00001-of-00003.<ext>`, the
//! convention of both llama.cpp's `gguf-split` and Hugging Face's sharding.

use std::path::{Path, PathBuf};

/// Upper bound on the shard count we will look for; real models stay far below.
const MAX_SHARDS: u32 = 10_000;

/// A file name that follows the shard convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardName {
    stem: String,
    extension: String,
    /// 1-based.
    pub number: u32,
    pub count: u32,
    width: usize,
    count_text: String,
}

impl ShardName {
    /// Parses `file_name` if it is `<stem>-<n>-of-<count>.<extension>` with
    /// `1 <= n <= count`.
    pub(crate) fn parse(file_name: &str, extension: &str) -> Option<Self> {
        let base = file_name.strip_suffix(extension)?.strip_suffix('.')?;
        let (rest, count_text) = base.rsplit_once("-of-")?;
        let (stem, number_text) = rest.rsplit_once('-')?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if stem.is_empty() || !all_digits(number_text) || !all_digits(count_text) {
            return None;
        }
        let number: u32 = number_text.parse().ok()?;
        let count: u32 = count_text.parse().ok()?;
        if number == 0 || number > count || count > MAX_SHARDS {
            return None;
        }
        Some(Self {
            stem: stem.to_owned(),
            extension: extension.to_owned(),
            number,
            count,
            width: number_text.len(),
            count_text: count_text.to_owned(),
        })
    }

    /// The file name of shard `number` (1-based) of the same set.
    pub(crate) fn sibling(&self, number: u32) -> String {
        format!(
            "{}-{:0width$}-of-{}.{}",
            self.stem,
            number,
            self.count_text,
            self.extension,
            width = self.width
        )
    }

    /// Paths of all shards of the set, in order, in `folder`.
    pub(crate) fn all_paths(&self, folder: &Path) -> Vec<PathBuf> {
        (1..=self.count)
            .map(|n| folder.join(self.sibling(n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_llama_cpp_and_hugging_face_names() {
        let gguf = ShardName::parse("Qwen-7B-Q4_K_M-00002-of-00003.gguf", "gguf");
        let gguf = gguf.expect("a shard name");
        assert_eq!((gguf.number, gguf.count), (2, 3));
        assert_eq!(gguf.sibling(1), "Qwen-7B-Q4_K_M-00001-of-00003.gguf");

        let st = ShardName::parse("model-00001-of-00002.safetensors", "safetensors");
        assert_eq!(
            st.map(|s| s.sibling(2)).as_deref(),
            Some("model-00002-of-00002.safetensors")
        );
    }

    #[test]
    fn rejects_other_names() {
        for name in [
            "model.gguf",
            "model-1-of-x.gguf",
            "-00001-of-00002.gguf",
            "model-00003-of-00002.gguf",
            "model-00000-of-00002.gguf",
            "model-00001-of-00002.safetensors",
            "model-00001-of-99999999.gguf",
        ] {
            assert_eq!(ShardName::parse(name, "gguf"), None, "{name}");
        }
    }
}
