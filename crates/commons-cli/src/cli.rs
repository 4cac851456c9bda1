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
    /// Remove blobs no model references, stale temporary files, and derived files
    /// (converted GGUF, shard links) of removed models.
    Gc,
    /// Answer one prompt with a model, or chat with it when no prompt is given.
    Run(RunArgs),
    /// Serve the Ollama (/api) and OpenAI (/v1) APIs on one port.
    Serve(ServeArgs),
    /// Create, list and revoke the tokens clients need to push to (or read from) this node.
    #[command(subcommand)]
    Token(crate::commands::token::TokenCommand),
    /// Show and edit a model's provenance record (every change is kept as a new version).
    #[command(subcommand)]
    Provenance(crate::commands::provenance::ProvenanceCommand),
    /// Check licenses: known or not, drift across a name's tags, and against base models.
    #[command(subcommand)]
    License(crate::commands::license::LicenseCommand),
    /// Compare a model's weights with another's: identical, derived or unrelated.
    Lineage(crate::commands::lineage::LineageArgs),
    /// Sign a model (stored or on disk) in the OpenSSF model-signing format.
    Sign(crate::commands::sign::SignArgs),
    /// Verify a model-signing signature against the model's bytes.
    VerifySignature(crate::commands::sign::VerifySignatureArgs),
    /// Pull a model (with its signatures and provenance) from a registry, a commons node or a hub.
    Pull(crate::commands::pull::PullArgs),
    /// Push a model and its referrers to an OCI registry or a commons node.
    Push(crate::commands::pull::PushArgs),
    /// Configure the mirrors a pull falls back to.
    #[command(subcommand)]
    Mirror(crate::commands::mirror::MirrorCommand),
    /// Evaluate models on suites; sign, verify, reproduce and compare the results.
    #[command(subcommand)]
    Eval(crate::commands::eval::EvalCommand),
    /// Verify, list and export the node's tamper-evident audit log.
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Show, check and set the hosting policy: what this node admits, quarantines or rejects.
    #[command(subcommand)]
    Policy(crate::commands::policy::PolicyCommand),
    /// Report the health of the commons this node holds, each figure with its models.
    Health,
    /// Stewards: M-of-N signed approvals of policy changes and of releasing quarantined models.
    #[command(subcommand)]
    Steward(crate::commands::steward::StewardCommand),
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

#[derive(Debug, Args)]
pub struct RunArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
    /// The prompt; without it, an interactive chat reads lines from stdin until EOF or `/bye`.
    pub prompt: Option<String>,
    /// Most tokens to generate per answer (default: until the model stops or the context is full).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Seed for sampling, for reproducible answers.
    #[arg(long)]
    pub seed: Option<u32>,
    /// A system message to start the chat with.
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as is, without the model's chat template.
    #[arg(long)]
    pub raw: bool,
    /// Context size in tokens (clamped to the model's training context).
    #[arg(long, default_value_t = 4096, value_name = "TOKENS")]
    pub ctx_size: u32,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: every protocol shares this one port.
    #[arg(long, env = "COMMONS_ADDR", default_value = "127.0.0.1:11434")]
    pub addr: String,
    /// Requests decoded together per loaded model.
    #[arg(long, default_value_t = 4, value_name = "SLOTS")]
    pub parallel: usize,
    /// Requests that may wait for a free slot before new ones get 503 + Retry-After.
    #[arg(long, default_value_t = 64, value_name = "REQUESTS")]
    pub queue: usize,
    /// Context of one request in tokens (clamped to the model's training context).
    #[arg(long, default_value_t = 4096, value_name = "TOKENS")]
    pub ctx_size: u32,
    /// How long an idle model stays loaded: "5m", "1h", "0" (unload at once), "-1" (forever).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub keep_alive: String,
    /// CPU threads for decoding (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
    /// Make each generation independent of what it is batched with (same seed, same
    /// answer under any load), at about 40% of single-stream decode speed. Scoring
    /// (`echo` without new tokens) is exact either way.
    #[arg(long)]
    pub batch_invariant: bool,
    /// Refuse reads (pulls, listings, inference) without a token; any scope reads.
    #[arg(long)]
    pub no_anonymous_reads: bool,
    /// Writes need a token even while no token with push/delete exists yet.
    #[arg(long)]
    pub require_auth: bool,
}
