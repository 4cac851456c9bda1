//! The registry view of the store: manifests of any kind, kept as the exact
//! bytes that were pushed, addressed by repository and tag or by digest, and
//! the referrers of a manifest (artifacts whose `subject` points at it).
//!
//! A repository is a model name and a tag is a model tag, so `smollm2:latest`
//! in the CLI is `smollm2:latest` in `/v2/`. A pushed manifest that is a
//! ModelPack model (its `artifactType` or config media type says so) is also
//! described like an import would describe it — weights inspected, tensors
//! hashed — so it is listed, shown and run like any imported model. Anything
//! else (signatures, provenance records, attestations, indexes, container
//! images) is stored and served, but is not a model.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use commons_formats::FileRole;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{IoContext, StoreError};
use crate::import::{ImportMetadata, ImportedFile};
use crate::manifest::{
    Descriptor, Manifest, ANNOTATION_LICENSES, ARTIFACT_TYPE_MODEL_MANIFEST, MAX_MANIFEST_BYTES,
    MEDIA_TYPE_MODEL_CONFIG, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::reference::Reference;
use crate::store::Store;
use crate::time::now_rfc3339;
use crate::TensorRecord;

/// OCI image index media type.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type (`{}`), the config of plain artifacts.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A manifest as the registry serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: Digest,
    /// The manifest's `mediaType` (also its `Content-Type`).
    pub media_type: String,
    /// `artifactType`, else the config's media type (what the referrers API reports).
    pub artifact_type: Option<String>,
    /// The manifest this one refers to, when it is a referrer.
    pub subject: Option<Digest>,
    /// True when the manifest is a ModelPack model known to the catalog as a model.
    pub is_model: bool,
    pub annotations: BTreeMap<String, String>,
    /// The exact bytes; `sha256(bytes) == digest`.
    pub bytes: Vec<u8>,
}

impl StoredManifest {
    /// The descriptor that points at this manifest (as in a referrers index).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            artifact_type: self.artifact_type.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// What the store needs to know about pushed manifest bytes.
struct Parsed {
    media_type: String,
    artifact_type: Option<String>,
    subject: Option<Digest>,
    annotations: BTreeMap<String, String>,
    /// Config and layers of an image manifest, with their sizes.
    blobs: Vec<Descriptor>,
    /// Child manifests of an index.
    children: Vec<Digest>,
    /// Set when the manifest is a ModelPack model.
    model: Option<Manifest>,
}

/// The fields every kind of manifest may have; unknown fields are kept in the bytes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyManifest {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn parse(bytes: &[u8], context: &str) -> Result<Parsed, StoreError> {
    let invalid = |reason: String| StoreError::InvalidManifest {
        context: context.to_string(),
        reason,
    };
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(invalid(format!(
            "{} bytes is more than the {MAX_MANIFEST_BYTES} allowed",
            bytes.len()
        )));
    }
    let any: AnyManifest =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a manifest: {e}")))?;
    if any.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2".into()));
    }
    let media_type = match any.media_type.clone() {
        Some(media_type) => media_type,
        // OCI allows leaving mediaType out; the shape then says what it is.
        None if any.manifests.is_some() => MEDIA_TYPE_OCI_INDEX.to_string(),
        None if any.config.is_some() => MEDIA_TYPE_OCI_MANIFEST.to_string(),
        None => return Err(invalid("it has neither `config` nor `manifests`".into())),
    };
    let is_index = match media_type.as_str() {
        MEDIA_TYPE_OCI_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => false,
        MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_LIST => true,
        other => return Err(invalid(format!("unsupported mediaType `{other}`"))),
    };
    let subject = any.subject.map(|s| s.digest);
    if is_index {
        let children = any
            .manifests
            .ok_or_else(|| invalid("an index needs `manifests`".into()))?;
        return Ok(Parsed {
            media_type,
            artifact_type: any.artifact_type,
            subject,
            annotations: any.annotations,
            blobs: Vec::new(),
            children: children.into_iter().map(|d| d.digest).collect(),
            model: None,
        });
    }
    let config = any
        .config
        .ok_or_else(|| invalid("an image manifest needs `config`".into()))?;
    let layers = any.layers.unwrap_or_default();
    let artifact_type = any
        .artifact_type
        .clone()
        .or_else(|| Some(config.media_type.clone()));
    let is_model = media_type == MEDIA_TYPE_OCI_MANIFEST
        && (any.artifact_type.as_deref() == Some(ARTIFACT_TYPE_MODEL_MANIFEST)
            || config.media_type == MEDIA_TYPE_MODEL_CONFIG);
    let model = if is_model {
        let manifest = Manifest::from_json(bytes, context)?;
        for layer in &manifest.layers {
            if let Some(path) = layer.filepath() {
                check_relative_path(path).map_err(|reason| {
                    invalid(format!(
                        "layer {} has file path `{path}`: {reason}",
                        layer.digest
                    ))
                })?;
            }
        }
        Some(manifest)
    } else {
        None
    };
    let mut blobs = vec![config];
    blobs.extend(layers);
    Ok(Parsed {
        media_type,
        artifact_type,
        subject,
        annotations: any.annotations,
        blobs,
        children: Vec::new(),
        model,
    })
}

/// A layer's file path must stay inside the model folder.
fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > 4096 {
        return Err("it is empty or too long");
    }
    let mut components = 0;
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => components += 1,
            _ => return Err("only plain relative paths are allowed"),
        }
    }
    if components == 0 || path.contains('\\') || path.contains('\0') {
        return Err("only plain relative paths are allowed");
    }
    Ok(())
}

impl Store {
    /// Stores manifest bytes pushed to `repository` (an OCI image manifest or
    /// index, or their Docker v2 equivalents) and points `tag` at them when given.
    ///
    /// Every blob an image manifest lists must be in the store with the size its
    /// descriptor states, and every manifest an index lists must be stored;
    /// otherwise nothing changes. The `subject` need not exist yet. A ModelPack
    /// model is inspected like an import (a manifest whose weights do not parse is
    /// refused) and becomes a model the CLI and the inference APIs see.
    pub fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        bytes: &[u8],
    ) -> Result<StoredManifest, StoreError> {
        let reference = Reference::new(repository, tag.unwrap_or(crate::DEFAULT_TAG))?;
        let digest = Digest::of_bytes(bytes);
        let context = match tag {
            Some(tag) => format!("{repository}:{tag}"),
            None => format!("{repository}@{digest}"),
        };
        let parsed = parse(bytes, &context)?;
        let text = std::str::from_utf8(bytes).map_err(|e| StoreError::InvalidManifest {
            context: context.clone(),
            reason: format!("not UTF-8: {e}"),
        })?;

        // Held from the blob checks to the commit, so gc cannot delete a blob in between.
        let _guard = self.write_guard()?;
        for blob in &parsed.blobs {
            self.check_blob(blob.digest.clone(), blob.size, &context)?;
        }
        for child in &parsed.children {
            if self.stored_manifest(child)?.is_none() {
                return Err(StoreError::MissingManifest {
                    digest: child.clone(),
                    needed_by: context.clone(),
                });
            }
        }
        let (metadata, tensors) = match &parsed.model {
            Some(model) => {
                let (metadata, tensors) = self.describe_model(model, &context)?;
                let metadata =
                    serde_json::to_value(metadata).map_err(|source| StoreError::Json {
                        action: format!("serialize the metadata of {context}"),
                        source,
                    })?;
                (metadata, tensors)
            }
            None => (serde_json::json!({}), Vec::new()),
        };
        self.ingest_bytes(bytes)?;

        let now = now_rfc3339();
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |action| {
            let path = path.clone();
            move |source| StoreError::Catalog {
                action,
                path,
                source,
            }
        };
        let tx = catalog.write()?;
        let size: u64 = parsed.blobs.iter().skip(1).map(|d| d.size).sum();
        tx.execute(
            "INSERT INTO manifests (digest, manifest_json, size_bytes, metadata_json, subject,
                                   created_at, media_type, artifact_type, is_model)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(digest) DO NOTHING",
            params![
                digest.as_str(),
                text,
                i64::try_from(size).unwrap_or(i64::MAX),
                metadata.to_string(),
                parsed.subject.as_ref().map(Digest::as_str),
                now,
                parsed.media_type,
                parsed.artifact_type,
                parsed.model.is_some(),
            ],
        )
        .map_err(err("record a manifest"))?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO manifest_blobs (manifest_digest, blob_digest)
                     VALUES (?1, ?2)",
                )
                .map_err(err("record a manifest's blobs"))?;
            let needed = std::iter::once(&digest)
                .chain(parsed.blobs.iter().map(|d| &d.digest))
                .chain(&parsed.children);
            for blob in needed {
                insert
                    .execute(params![digest.as_str(), blob.as_str()])
                    .map_err(err("record a manifest's blobs"))?;
            }
        }
        crate::catalog::insert_tensors(&tx, &digest, &tensors)
            .map_err(err("record tensor digests"))?;
        if tag.is_some() {
            crate::catalog::set_tag(&tx, &reference.name, &reference.tag, &digest, &now)
                .map_err(err("set a tag"))?;
            crate::store::delete_orphan_manifests(&tx).map_err(err("remove untagged manifests"))?;
        }
        tx.commit().map_err(err("commit a manifest"))?;
        tracing::debug!(%digest, context, model = parsed.model.is_some(), "manifest stored");
        Ok(StoredManifest {
            digest,
            media_type: parsed.media_type,
            artifact_type: parsed.artifact_type,
            subject: parsed.subject,
            is_model: parsed.model.is_some(),
            annotations: parsed.annotations,
            bytes: bytes.to_vec(),
        })
    }

    /// The manifest `reference` (a tag, or a `sha256:` digest) names in `repository`.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<StoredManifest, StoreError> {
        let digest = if reference.starts_with("sha256:") {
            reference.parse::<Digest>()?
        } else {
            let found = self.read_catalog("look up a tag", |conn| {
                conn.query_row(
                    "SELECT manifest_digest FROM tags WHERE name = ?1 AND tag = ?2",
                    params![repository, reference],
                    |row| row.get::<_, String>(0),
                )
                .optional()
            })?;
            match found {
                Some(digest) => digest.parse()?,
                None => {
                    return Err(StoreError::NotFound {
                        reference: format!("{repository}:{reference}"),
                        suggestions: Vec::new(),
                    })
                }
            }
        };
        self.stored_manifest(&digest)?
            .ok_or_else(|| StoreError::NotFound {
                reference: format!("{repository}@{digest}"),
                suggestions: Vec::new(),
            })
    }

    /// The stored manifest with this digest, in any repository.
    pub fn stored_manifest(&self, digest: &Digest) -> Result<Option<StoredManifest>, StoreError> {
        let row = self.read_catalog("read a manifest", |conn| manifest_row(conn, digest))?;
        let Some(row) = row else { return Ok(None) };
        let bytes = row.manifest_json.into_bytes();
        let annotations = serde_json::from_slice::<AnyManifest>(&bytes)
            .map(|m| m.annotations)
            .unwrap_or_default();
        Ok(Some(StoredManifest {
            digest: digest.clone(),
            media_type: row.media_type,
            artifact_type: row.artifact_type,
            subject: row.subject.map(|s| s.parse()).transpose()?,
            is_model: row.is_model,
            annotations,
            bytes,
        }))
    }

    /// Tags of `repository`, sorted, of every kind of manifest.
    pub fn repository_tags(&self, repository: &str) -> Result<Vec<String>, StoreError> {
        self.read_catalog("list tags", |conn| {
            let mut stmt = conn.prepare("SELECT tag FROM tags WHERE name = ?1 ORDER BY tag")?;
            let rows = stmt.query_map([repository], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// Every repository with at least one tag, sorted.
    pub fn repositories(&self) -> Result<Vec<String>, StoreError> {
        self.read_catalog("list repositories", |conn| {
            let mut stmt = conn.prepare("SELECT DISTINCT name FROM tags ORDER BY name")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// Descriptors of the manifests whose `subject` is `subject`, oldest first.
    pub fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let digests: Vec<String> = self.read_catalog("list referrers", |conn| {
            let mut stmt = conn.prepare(
                "SELECT digest FROM manifests WHERE subject = ?1 ORDER BY created_at, digest",
            )?;
            let rows = stmt.query_map([subject.as_str()], |row| row.get(0))?;
            rows.collect()
        })?;
        let mut out = Vec::with_capacity(digests.len());
        for digest in digests {
            if let Some(manifest) = self.stored_manifest(&digest.parse()?)? {
                out.push(manifest.descriptor());
            }
        }
        Ok(out)
    }

    /// Removes `tag` from `repository`. The manifest goes with its last tag
    /// (unless it is a referrer of a manifest that stays); blobs wait for gc.
    pub fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool, StoreError> {
        self.delete_where(|tx| crate::catalog::delete_tag(tx, repository, tag))
    }

    /// Removes a manifest: every tag pointing at it, then the manifest itself
    /// and, transitively, referrers that point at it.
    pub fn delete_manifest(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.delete_where(|tx| {
            crate::catalog::delete_tags_of(tx, digest)?;
            tx.execute("DELETE FROM manifests WHERE digest = ?1", [digest.as_str()])
        })
    }

    fn delete_where(
        &self,
        delete: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<usize>,
    ) -> Result<bool, StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "delete a manifest",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        let changed = delete(&tx).map_err(err)?;
        // Untagged manifests go, and with them referrers whose subject is gone.
        crate::store::delete_orphan_manifests(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(changed > 0)
    }

    /// Stores `payload` as a one-layer artifact whose `subject` is `subject` in
    /// `repository` (a provenance record, a signature bundle, an attestation), so
    /// that it travels with the model through any OCI registry.
    pub fn attach_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        artifact_type: &str,
        payload_media_type: &str,
        payload: &[u8],
        annotations: BTreeMap<String, String>,
    ) -> Result<StoredManifest, StoreError> {
        let subject_manifest =
            self.stored_manifest(subject)?
                .ok_or_else(|| StoreError::MissingManifest {
                    digest: subject.clone(),
                    needed_by: format!("a {artifact_type} referrer"),
                })?;
        let empty = self.ingest_bytes(b"{}")?;
        let layer = self.ingest_bytes(payload)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": Descriptor::new(MEDIA_TYPE_EMPTY, empty.digest, empty.size),
            "layers": [Descriptor::new(payload_media_type, layer.digest, layer.size)],
            "subject": Descriptor::new(
                &subject_manifest.media_type,
                subject.clone(),
                subject_manifest.bytes.len() as u64,
            ),
            "annotations": annotations,
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|source| StoreError::Json {
            action: "serialize a referrer manifest".into(),
            source,
        })?;
        self.put_manifest(repository, None, &bytes)
    }

    /// Describes a pushed ModelPack model as an import would: its files are
    /// linked under their paths in a scratch folder and inspected there.
    fn describe_model(
        &self,
        manifest: &Manifest,
        context: &str,
    ) -> Result<(ImportMetadata, Vec<TensorRecord>), StoreError> {
        let scratch = ScratchDir::create(&self.layout.tmp)?;
        let mut files = Vec::new();
        let mut weights = Vec::new();
        for layer in &manifest.layers {
            let relative = layer
                .filepath()
                .map(str::to_string)
                .unwrap_or_else(|| layer.digest.hex().to_string());
            let link = scratch.path.join(&relative);
            if let Some(parent) = link.parent() {
                fs::create_dir_all(parent).io_context("create", parent)?;
            }
            std::os::unix::fs::symlink(self.blob_path(&layer.digest), &link)
                .io_context("link a blob into", &link)?;
            if layer.is_weights() {
                weights.push(link.clone());
            }
            files.push((relative, layer));
        }
        let target = match weights.as_slice() {
            [single] => single.clone(),
            _ => scratch.path.clone(),
        };
        let not_a_model = |reason: String| StoreError::InvalidManifest {
            context: context.to_string(),
            reason,
        };
        let inspection = commons_formats::inspect(&target)
            .map_err(|e| not_a_model(format!("its weights cannot be read: {e}")))?;
        let tensors = commons_formats::tensor_digests(&inspection.files)
            .map_err(|e| not_a_model(format!("its tensors cannot be hashed: {e}")))?;
        let roles: BTreeMap<&str, FileRole> = inspection
            .files
            .iter()
            .map(|f| (f.relative.as_str(), f.role))
            .collect();
        let license = manifest.annotations.get(ANNOTATION_LICENSES).cloned();
        let metadata = ImportMetadata {
            license_source: license.as_ref().map(|_| "manifest".to_string()),
            license: license.or_else(|| inspection.info.general.license.clone()),
            info: inspection.info,
            provenance: None,
            files: files
                .into_iter()
                .map(|(relative, layer)| ImportedFile {
                    role: roles
                        .get(relative.rsplit('/').next().unwrap_or(&relative))
                        .or_else(|| roles.get(relative.as_str()))
                        .copied()
                        .unwrap_or(if layer.is_weights() {
                            FileRole::Weights
                        } else {
                            FileRole::Other
                        }),
                    relative,
                    media_type: layer.media_type.clone(),
                    digest: layer.digest.clone(),
                    size: layer.size,
                })
                .collect(),
            source: PathBuf::from(context),
            imported_at: now_rfc3339(),
            warnings: inspection.warnings,
        };
        Ok((
            metadata,
            tensors
                .into_iter()
                .map(crate::import::tensor_record)
                .collect(),
        ))
    }
}

struct ManifestRow {
    manifest_json: String,
    media_type: String,
    artifact_type: Option<String>,
    subject: Option<String>,
    is_model: bool,
}

fn manifest_row(conn: &Connection, digest: &Digest) -> rusqlite::Result<Option<ManifestRow>> {
    conn.query_row(
        "SELECT manifest_json, media_type, artifact_type, subject, is_model
         FROM manifests WHERE digest = ?1",
        [digest.as_str()],
        |row| {
            Ok(ManifestRow {
                manifest_json: row.get(0)?,
                media_type: row.get(1)?,
                artifact_type: row.get(2)?,
                subject: row.get(3)?,
                is_model: row.get(4)?,
            })
        },
    )
    .optional()
}

/// A folder in tmp/ removed when dropped; gc leaves folders alone.
struct ScratchDir {
    path: PathBuf,
}

static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

impl ScratchDir {
    fn create(tmp: &Path) -> Result<ScratchDir, StoreError> {
        let path = tmp.join(format!(
            "describe-{}-{}",
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).io_context("create", &path)?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
