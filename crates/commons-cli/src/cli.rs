//! The command-line contract (see DESIGN.md, "Command line").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "commons",
    version,
    about = "Keep, run, share, evaluate and govern open models on your own machine",
    propagate_version = true
)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// The node's data directory (blobs, catalog, keys).
    /// Default: $XDG_DATA_HOME/commons, or ~/.local/share/commons.
    #[arg(long, global = true, env = "COMMONS_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a GGUF file, a split GGUF, a safetensors file or a Hugging Face-style folder.
    Import(ImportArgs),
    /// List the models in the store.
    #[command(visible_alias = "ls")]
    List,
    /// Show a model's metadata, format facts and provenance.
    Show(ShowArgs),
    /// Remove a model's name (its blobs are reclaimed by `commons gc`).
    Rm(RmArgs),
    /// Give a model another name: `commons tag SRC DST`.
    Tag(TagArgs),
    /// Re-hash stored blobs and report any that are missing or corrupt.
    Verify(VerifyArgs),
    /// Remove blobs no model references and stale temporary files.
    Gc,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A .gguf or .safetensors file, one shard of a split GGUF, or a model folder.
    pub path: PathBuf,
    /// Name to import as, NAME or NAME:TAG (default: derived from the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// SPDX license id (or a named model license) overriding what the files say.
    #[arg(long, value_name = "SPDX")]
    pub license: Option<String>,
    /// A JSON provenance record to keep with the model.
    #[arg(long, value_name = "FILE")]
    pub provenance: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// NAME[:TAG], or a manifest digest (prefix of at least 12 hex digits).
    pub model: String,
    /// Also list every tensor with its dtype, shape and sha256.
    #[arg(long)]
    pub tensors: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// NAME[:TAG] to remove.
    #[arg(required = true)]
    pub models: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing NAME[:TAG] or digest.
    pub source: String,
    /// New NAME[:TAG].
    pub target: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify only this model's blobs (default: every blob in the store).
    pub model: Option<String>,
}
