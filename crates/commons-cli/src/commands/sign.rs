//! `commons sign` and `commons verify-signature`: OpenSSF model-signing
//! signatures for a model in the store (NAME) or a model on disk (PATH).
//!
//! A stored model is signed as the folder it was imported from would be:
//! one resource per file, named by its path in the model. Its signature is
//! kept in the catalog beside the manifest (it does not change the model's
//! identity), attached to the model as an OCI referrer (so `commons push`
//! carries it to any registry), and written to `--signature` when given. Verification re-hashes
//! the bytes — the stored blobs or the files on disk — so it checks the
//! weights themselves, not a record of them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use commons_provenance::signing::{
    self, files, keys, trust, Resource, SignatureError, VerifyingKey,
};
use commons_store::ModelEntry;

use serde_json::json;

use super::provenance::current_record;
use super::Ctx;
use crate::failure::hinted;
use crate::output::print_json;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// NAME[:TAG] of a stored model, or a model file or folder on disk.
    pub model: String,
    /// ECDSA P-256 private key (PEM, PKCS#8 or SEC1); default: this node's key,
    /// created on first use in $COMMONS_HOME/keys/.
    #[arg(long, value_name = "PRIVATE.pem")]
    pub key: Option<PathBuf>,
    /// Where to write the signature (default for a folder: FOLDER/model.sig;
    /// for a file: FILE.sig; for a stored model: only the catalog).
    #[arg(long, value_name = "OUT")]
    pub signature: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifySignatureArgs {
    /// NAME[:TAG] of a stored model, or a model file or folder on disk.
    pub model: String,
    /// The signature (default for a folder: FOLDER/model.sig; for a file:
    /// FILE.sig; for a stored model: the signatures kept in the catalog).
    #[arg(long, value_name = "SIG")]
    pub signature: Option<PathBuf>,
    /// The signer's public key (PEM); default: a key trusted in
    /// $COMMONS_HOME/trust.toml, or this node's own key.
    #[arg(long, value_name = "PUBLIC.pem")]
    pub key: Option<PathBuf>,
}

/// What is being signed or verified.
enum Target {
    Path(PathBuf),
    Stored(Box<ModelEntry>),
}

fn target(ctx: &Ctx, model: &str) -> Result<Target> {
    let path = Path::new(model);
    if path.exists() {
        return Ok(Target::Path(path.to_path_buf()));
    }
    let entry = ctx.store.resolve(model).with_context(|| {
        format!("`{model}` is neither a file or folder nor a model in the store")
    })?;
    Ok(Target::Stored(Box::new(entry)))
}

fn default_signature(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(signing::DEFAULT_SIGNATURE_NAME)
    } else {
        let mut name = path.as_os_str().to_owned();
        name.push(".sig");
        PathBuf::from(name)
    }
}

/// model-signing's ignore list for a folder: the git paths, plus the
/// signature file when it lies inside the folder.
fn ignore_paths(folder: &Path, signature: &Path) -> Vec<String> {
    let mut ignore: Vec<String> = signing::GIT_PATHS.iter().map(|p| p.to_string()).collect();
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if folder.is_dir() {
        if let Ok(relative) = absolute(signature).strip_prefix(absolute(folder)) {
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if !relative.is_empty() {
                ignore.push(relative);
            }
        }
    }
    ignore
}

/// Re-hashes a stored model's blobs, named by their path in the model.
fn stored_resources(ctx: &Ctx, entry: &ModelEntry) -> Result<Vec<Resource>> {
    let mut resources = Vec::new();
    for layer in &entry.manifest.layers {
        let name = layer.filepath().unwrap_or(layer.digest.hex()).to_string();
        let path = ctx.store.blob_path(&layer.digest);
        let digest = files::sha256_file(&path)
            .with_context(|| format!("cannot read `{name}` of {}", entry.reference()))?;
        resources.push(Resource { name, digest });
    }
    signing::sort_resources(&mut resources);
    Ok(resources)
}

pub fn sign(ctx: &Ctx, args: SignArgs) -> Result<()> {
    let (key, public_key_path) = match &args.key {
        Some(path) => (keys::read_private_key(path)?, None),
        None => {
            let (key, public) = keys::node_key(&ctx.store.root().join("keys"))
                .context("cannot create or read this node's signing key")?;
            (key, Some(public))
        }
    };
    let hint = keys::public_key_hint(key.verifying_key())?;
    let (label, written, count) = match target(ctx, &args.model)? {
        Target::Path(path) => {
            let out = args
                .signature
                .clone()
                .unwrap_or_else(|| default_signature(&path));
            let ignore = ignore_paths(&path, &out);
            let resources = files::resources(&path, &ignore)
                .with_context(|| format!("cannot hash the files of {}", path.display()))?;
            let count = resources.len();
            let bundle = signing::sign(&key, &files::model_name(&path), resources, &ignore)?;
            write_signature(&out, &bundle)?;
            (path.display().to_string(), Some(out), count)
        }
        Target::Stored(entry) => {
            let resources = stored_resources(ctx, &entry)?;
            let count = resources.len();
            let bundle = signing::sign(&key, &entry.name, resources, &[])?;
            ctx.store
                .put_signature(&entry.digest, &hint, &bundle)
                .with_context(|| format!("cannot keep the signature of {}", entry.reference()))?;
            commons_distribution::attachments::attach_catalog_records(&ctx.store, &entry)
                .with_context(|| format!("cannot attach the signature to {}", entry.reference()))?;
            super::audit::record(
                ctx,
                "sign",
                &entry.reference(),
                Some(&entry.digest),
                json!({ "key_hint": hint }),
            )?;
            if let Some(out) = &args.signature {
                write_signature(out, &bundle)?;
            }
            (entry.reference(), args.signature.clone(), count)
        }
    };
    if ctx.json {
        return print_json(&json!({
            "signed": label,
            "files": count,
            "signature": written.as_ref().map(|p| p.display().to_string()),
            "key_hint": hint,
            "public_key": public_key_path.as_ref().map(|p| p.display().to_string()),
        }));
    }
    println!("signed {label} ({count} files) with key {hint}");
    if let Some(out) = written {
        println!("  signature   {}", out.display());
    } else {
        println!("  signature   kept in the catalog and attached as a referrer");
    }
    if let Some(public) = public_key_path {
        println!("  public key  {}", public.display());
    }
    Ok(())
}

fn write_signature(path: &Path, bundle: &str) -> Result<()> {
    std::fs::write(path, bundle)
        .with_context(|| format!("cannot write the signature {}", path.display()))
}

/// The key to verify with, and its name: `--key`, else a trusted key whose
/// hint the bundle names, allowed for `publisher`.
fn choose_key(
    ctx: &Ctx,
    explicit: Option<&Path>,
    bundle: &str,
    publisher: Option<&str>,
) -> Result<(VerifyingKey, String), SignatureError> {
    if let Some(path) = explicit {
        return Ok((keys::read_public_key(path)?, path.display().to_string()));
    }
    let hint = signing::key_hint_of(bundle)?.unwrap_or_default();
    let trusted = trust::load(ctx.store.root())?;
    let Some(found) = trusted.into_iter().find(|t| t.hint == hint) else {
        return Err(SignatureError::Untrusted { hint });
    };
    if !found.allows(publisher) {
        return Err(SignatureError::WrongPublisher {
            hint,
            allowed: found.publishers.join(", "),
            publisher: publisher.unwrap_or("unknown").to_string(),
        });
    }
    Ok((found.key, found.name))
}

pub fn verify(ctx: &Ctx, args: VerifySignatureArgs) -> Result<()> {
    match target(ctx, &args.model)? {
        Target::Path(path) => {
            let sig_path = args
                .signature
                .clone()
                .unwrap_or_else(|| default_signature(&path));
            let bundle = std::fs::read_to_string(&sig_path).map_err(|e| {
                hinted(
                    format!("cannot read the signature {}: {e}", sig_path.display()),
                    "pass the signature with `--signature SIG`",
                )
            })?;
            let failed = || format!("signature verification failed for {}", path.display());
            let (key, key_name) =
                choose_key(ctx, args.key.as_deref(), &bundle, None).with_context(failed)?;
            let signed = signing::verify(&bundle, &key).with_context(failed)?;
            let mut ignore = ignore_paths(&path, &sig_path);
            ignore.extend(signed.ignore_paths.iter().cloned());
            let actual = files::resources(&path, &ignore).with_context(failed)?;
            signing::compare_files(&signed.resources, &actual).with_context(failed)?;
            report(
                ctx,
                &path.display().to_string(),
                &sig_path.display().to_string(),
                &key_name,
                &signed,
            )
        }
        Target::Stored(entry) => {
            let publisher = current_record(&ctx.store, &entry)?
                .record
                .publisher
                .map(|p| p.name);
            let bundles: Vec<(String, String)> = match &args.signature {
                Some(path) => vec![(
                    path.display().to_string(),
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the signature {}", path.display()))?,
                )],
                None => ctx
                    .store
                    .signatures(&entry.digest)
                    .with_context(|| {
                        format!("cannot read the signatures of {}", entry.reference())
                    })?
                    .into_iter()
                    .map(|s| (format!("catalog (key {})", s.key_hint), s.bundle_json))
                    .collect(),
            };
            if bundles.is_empty() {
                return Err(hinted(
                    format!("{} has no signature", entry.reference()),
                    "sign it with `commons sign NAME`, or pass one with `--signature SIG`",
                )
                .into());
            }
            let failed = || format!("signature verification failed for {}", entry.reference());
            let actual = stored_resources(ctx, &entry)?;
            let mut first_error = None;
            for (source, bundle) in &bundles {
                let attempt = choose_key(ctx, args.key.as_deref(), bundle, publisher.as_deref())
                    .and_then(|(key, name)| Ok((signing::verify(bundle, &key)?, name)))
                    .and_then(|(signed, name)| {
                        signing::compare_files(&signed.resources, &actual)?;
                        Ok((signed, name))
                    });
                match attempt {
                    Ok((signed, key_name)) => {
                        return report(ctx, &entry.reference(), source, &key_name, &signed)
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                Some(e) => Err(anyhow::Error::new(e).context(failed())),
                None => Err(anyhow::anyhow!(failed())),
            }
        }
    }
}

fn report(
    ctx: &Ctx,
    model: &str,
    signature: &str,
    key_name: &str,
    signed: &signing::SignedManifest,
) -> Result<()> {
    if ctx.json {
        return print_json(&json!({
            "verified": true,
            "model": model,
            "signature": signature,
            "key": key_name,
            "key_hint": signed.key_hint,
            "files": signed.resources.len(),
        }));
    }
    println!(
        "verified {model}: {} files match the signature ({signature}), signed by {key_name}",
        signed.resources.len()
    );
    Ok(())
}
