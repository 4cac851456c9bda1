//! Shared helpers for the CLI's integration tests: a fresh store per test, the
//! real models from `scripts/fetch-models`, and the built `commons` binary.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Node {
    pub home: tempfile::TempDir,
}

impl Node {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp dir for COMMONS_HOME"),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_commons"));
        cmd.env("COMMONS_HOME", self.home()).env_remove("RUST_LOG");
        cmd
    }

    /// Runs `commons ARGS`, returning the raw output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run commons")
    }

    /// Runs `commons ARGS --json`, asserts success and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self
            .command()
            .args(args)
            .arg("--json")
            .output()
            .expect("run commons");
        assert!(
            out.status.success(),
            "commons {args:?} failed\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "commons {args:?} printed invalid JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Every file under `blobs/` (the corrupt-blob quarantine excluded).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.home().join("blobs/sha256"))
    }

    pub fn tmp_files(&self) -> Vec<PathBuf> {
        files_under(&self.home().join("tmp"))
    }

    pub fn model_count(&self) -> usize {
        self.json(&["list"])
            .as_array()
            .map(Vec::len)
            .expect("list is an array")
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub fn model_cache() -> PathBuf {
    match std::env::var_os("COMMONS_MODEL_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models"),
    }
}

fn cached(relative: &str) -> PathBuf {
    let path = model_cache().join(relative);
    assert!(
        path.exists(),
        "test model {} is missing\nhint: run `scripts/fetch-models` (or `scripts/test`, which runs it) first",
        path.display()
    );
    path
}

pub fn smollm2() -> PathBuf {
    cached("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

pub fn gemma3() -> PathBuf {
    let dir = cached("gemma3-270m");
    files_under(&dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "gguf"))
        .unwrap_or_else(|| {
            panic!(
                "no .gguf in {}\nhint: run `scripts/fetch-models gemma3`",
                dir.display()
            )
        })
}

pub fn minilm() -> PathBuf {
    cached("all-minilm-l6-v2")
}

/// The venv python that `scripts/python-env` creates, with the official
/// `gguf` and `safetensors` readers used to cross-check ours.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("COMMONS_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
    };
    assert!(
        path.exists(),
        "test python {} is missing\nhint: run `scripts/python-env` first",
        path.display()
    );
    path
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
