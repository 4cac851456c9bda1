//! `pull` from OCI registries and commons nodes, and `push` to them.

use std::sync::Mutex;

use commons_store::registry::{MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_INDEX};
use commons_store::{Descriptor, Digest, Reference, Store, StoredManifest};
use serde::Serialize;

use crate::attachments;
use crate::error::{DistributionError, Result};
use crate::location::OciLocation;
use crate::oci::{FetchedManifest, Registry, RegistryBlob};
use crate::transfer::{fetch_blob, BlobSource};

/// How many blobs move at once.
const PARALLEL_BLOBS: usize = 4;

/// Progress of a pull or push; every method has an empty default.
pub trait TransferProgress: Sync {
    /// The manifest is known: `total` bytes in `blobs` blobs.
    fn started(&self, _total: u64, _blobs: usize) {}
    /// `bytes` more moved.
    fn advanced(&self, _bytes: u64) {}
}

/// A [`TransferProgress`] that reports nothing.
pub struct Quiet;
impl TransferProgress for Quiet {}

/// What a pull did.
#[derive(Clone, Debug, Serialize)]
pub struct PullReport {
    /// `name:tag` in the local store.
    pub reference: String,
    pub digest: Digest,
    /// The source the manifest came from.
    pub source: String,
    pub is_model: bool,
    pub blobs: usize,
    pub bytes_total: u64,
    pub bytes_downloaded: u64,
    pub resumed: u32,
    /// Sources that served bytes not matching their digest.
    pub bad_sources: Vec<String>,
    /// Referrers pulled along (signatures, provenance, attestations).
    pub referrers: usize,
    /// Why no source could deliver the referrers, when none could.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers_unavailable: Option<String>,
    /// Sources tried before the one that served, with why they failed.
    pub skipped_sources: Vec<String>,
}

/// Pulls `locations[0]`'s manifest (falling back to the next location when one
/// fails), every blob it needs (from any location that has it), and its
/// referrers, into `store` as `local` (default: the repository and tag pulled).
pub fn pull_oci(
    store: &Store,
    locations: &[OciLocation],
    local: Option<Reference>,
    token: Option<String>,
    progress: &dyn TransferProgress,
) -> Result<PullReport> {
    let first = locations
        .first()
        .ok_or_else(|| DistributionError::NoSource { name: "?".into() })?;
    let registries: Vec<(Registry, &OciLocation)> = locations
        .iter()
        .map(|l| Ok((Registry::new(&l.base, token.clone())?, l)))
        .collect::<Result<_>>()?;

    // 1. The manifest, from the first source that has it.
    let mut skipped = Vec::new();
    let mut found: Option<(FetchedManifest, usize)> = None;
    for (i, (registry, location)) in registries.iter().enumerate() {
        match registry.manifest(&location.repository, &location.reference) {
            Ok(Some(manifest)) => {
                found = Some((manifest, i));
                break;
            }
            Ok(None) => skipped.push(format!("{}: not found", location.display())),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    let Some((manifest, served_by)) = found else {
        return Err(DistributionError::AllSourcesFailed {
            what: format!("manifest {}", first.display()),
            failures: skipped,
        });
    };
    if matches!(
        manifest.media_type.as_str(),
        MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_LIST
    ) {
        return Err(DistributionError::Protocol {
            source_name: registries[served_by].1.display(),
            problem: "this is an index of several manifests; pull one of them by digest".into(),
        });
    }
    let local = match local {
        Some(reference) => reference,
        None => Reference::new(&first.repository, first.tag().unwrap_or("latest"))?,
    };

    // 2. Blobs, the serving source first, then the others.
    let mut order: Vec<usize> = vec![served_by];
    order.extend((0..registries.len()).filter(|&i| i != served_by));
    let sources: Vec<RegistryBlob<'_>> = order
        .iter()
        .map(|&i| RegistryBlob {
            registry: &registries[i].0,
            repository: registries[i].1.repository.clone(),
        })
        .collect();
    let source_refs: Vec<&dyn BlobSource> = sources.iter().map(|s| s as &dyn BlobSource).collect();
    let blobs = manifest_blobs(&manifest.bytes, &registries[served_by].1.display())?;
    let total: u64 = blobs.iter().map(|b| b.size).sum();
    progress.started(total, blobs.len());
    let fetched = fetch_all(store, &blobs, &source_refs, progress)?;

    let mut bad_sources = fetched.2;
    bad_sources.sort();
    bad_sources.dedup();

    // 3. The manifest itself: the model becomes visible in one transaction.
    let stored = store.put_manifest(&local.name, Some(&local.tag), &manifest.bytes)?;

    // 4. Referrers, from the first source that can list them (the serving one
    //    may have gone since). The model is complete and verified already, so
    //    when no source can, the pull still succeeds and says so.
    let mut referrers = 0;
    let mut referrers_unavailable = None;
    for &i in &order {
        let (registry, location) = &registries[i];
        match pull_referrers(
            store,
            registry,
            &location.repository,
            &local.name,
            &stored.digest,
            &source_refs,
        ) {
            Ok(count) => {
                referrers = count;
                referrers_unavailable = None;
                break;
            }
            Err(e) => {
                tracing::warn!(source = %location.display(), error = %e, "referrers not pulled");
                referrers_unavailable = Some(e.to_string());
            }
        }
    }
    let location = registries[served_by].1;

    Ok(PullReport {
        reference: local.to_string(),
        digest: stored.digest,
        source: location.display(),
        is_model: stored.is_model,
        blobs: blobs.len(),
        bytes_total: total,
        bytes_downloaded: fetched.0,
        resumed: fetched.1,
        bad_sources,
        referrers,
        referrers_unavailable,
        skipped_sources: skipped,
    })
}

fn pull_referrers(
    store: &Store,
    registry: &Registry,
    repository: &str,
    local_repository: &str,
    subject: &Digest,
    sources: &[&dyn BlobSource],
) -> Result<usize> {
    let mut count = 0;
    for descriptor in registry.referrers(repository, subject)? {
        let Some(manifest) = registry.manifest(repository, descriptor.digest.as_str())? else {
            continue;
        };
        let blobs = manifest_blobs(&manifest.bytes, registry.name())?;
        fetch_all(store, &blobs, sources, &Quiet)?;
        store.put_manifest(local_repository, None, &manifest.bytes)?;
        attachments::absorb_referrer(store, subject, &manifest.bytes)?;
        count += 1;
    }
    Ok(count)
}

/// Fetches `blobs` with up to [`PARALLEL_BLOBS`] at once; returns
/// (bytes downloaded, resumes, bad sources).
fn fetch_all(
    store: &Store,
    blobs: &[Descriptor],
    sources: &[&dyn BlobSource],
    progress: &dyn TransferProgress,
) -> Result<(u64, u32, Vec<String>)> {
    let next = Mutex::new(0usize);
    let totals = Mutex::new((0u64, 0u32, Vec::<String>::new()));
    let failure = Mutex::new(None::<DistributionError>);
    let advance = |n: u64| progress.advanced(n);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_BLOBS.min(blobs.len()) {
            scope.spawn(|| loop {
                let i = {
                    let mut next = next.lock().unwrap_or_else(|e| e.into_inner());
                    let i = *next;
                    *next += 1;
                    i
                };
                let Some(blob) = blobs.get(i) else { return };
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                match fetch_blob(store, blob, sources, &advance) {
                    Ok(fetched) => {
                        let mut totals = totals.lock().unwrap_or_else(|e| e.into_inner());
                        totals.0 += fetched.downloaded;
                        totals.1 += fetched.resumed;
                        totals.2.extend(fetched.bad_sources);
                    }
                    Err(e) => {
                        if let Ok(mut slot) = failure.lock() {
                            slot.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(totals.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Config and layers of an image manifest.
fn manifest_blobs(bytes: &[u8], source: &str) -> Result<Vec<Descriptor>> {
    #[derive(serde::Deserialize)]
    struct Image {
        config: Descriptor,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let image: Image = serde_json::from_slice(bytes).map_err(|e| DistributionError::Protocol {
        source_name: source.to_string(),
        problem: format!("the manifest is not an image manifest: {e}"),
    })?;
    let mut blobs = vec![image.config];
    for layer in image.layers {
        if !blobs.iter().any(|b| b.digest == layer.digest) {
            blobs.push(layer);
        }
    }
    Ok(blobs)
}

/// What a push did.
#[derive(Clone, Debug, Serialize)]
pub struct PushReport {
    pub reference: String,
    pub digest: Digest,
    pub destination: String,
    pub blobs: usize,
    pub blobs_uploaded: usize,
    pub bytes_uploaded: u64,
    pub referrers: usize,
    /// True when the destination lacks the referrers API and the OCI 1.1
    /// fallback tag (`sha256-<hex>`) was written instead.
    pub referrers_fallback: bool,
}

/// Pushes the model `reference` and its referrers to `destination`.
pub fn push_oci(
    store: &Store,
    reference: &str,
    destination: &OciLocation,
    token: Option<String>,
    progress: &dyn TransferProgress,
) -> Result<PushReport> {
    let entry = store.resolve(reference)?;
    attachments::attach_catalog_records(store, &entry)?;
    let manifest = store.stored_manifest(&entry.digest)?.ok_or_else(|| {
        DistributionError::Store(commons_store::StoreError::NotFound {
            reference: reference.to_string(),
            suggestions: Vec::new(),
        })
    })?;
    let registry = Registry::new(&destination.base, token)?;
    let repository = &destination.repository;
    let blobs = manifest_blobs(&manifest.bytes, "the local store")?;
    progress.started(blobs.iter().map(|b| b.size).sum(), blobs.len());
    let (uploaded, bytes) = push_blobs(store, &registry, repository, &blobs, progress)?;
    let tag = destination.tag().unwrap_or(&entry.tag);
    registry.push_manifest(repository, tag, &manifest.bytes, &manifest.media_type)?;

    let mut referrers = 0;
    let mut fallback = false;
    for descriptor in store.referrers(&entry.digest)? {
        let Some(referrer) = store.stored_manifest(&descriptor.digest)? else {
            continue;
        };
        let blobs = manifest_blobs(&referrer.bytes, "the local store")?;
        push_blobs(store, &registry, repository, &blobs, &Quiet)?;
        let pushed = push_referrer(&registry, repository, &referrer)?;
        if !pushed.indexes_referrers {
            registry.add_fallback_referrer(repository, &entry.digest, referrer.descriptor())?;
            fallback = true;
        }
        referrers += 1;
    }
    Ok(PushReport {
        reference: entry.reference(),
        digest: entry.digest,
        destination: destination.display(),
        blobs: blobs.len(),
        blobs_uploaded: uploaded,
        bytes_uploaded: bytes,
        referrers,
        referrers_fallback: fallback,
    })
}

fn push_referrer(
    registry: &Registry,
    repository: &str,
    referrer: &StoredManifest,
) -> Result<crate::oci::PushedManifest> {
    registry.push_manifest(
        repository,
        referrer.digest.as_str(),
        &referrer.bytes,
        &referrer.media_type,
    )
}

fn push_blobs(
    store: &Store,
    registry: &Registry,
    repository: &str,
    blobs: &[Descriptor],
    progress: &dyn TransferProgress,
) -> Result<(usize, u64)> {
    let mut uploaded = 0;
    let mut bytes = 0;
    for blob in blobs {
        if registry.has_blob(repository, &blob.digest)? {
            progress.advanced(blob.size);
            continue;
        }
        registry.push_blob(
            repository,
            &blob.digest,
            blob.size,
            &store.blob_path(&blob.digest),
        )?;
        progress.advanced(blob.size);
        uploaded += 1;
        bytes += blob.size;
    }
    Ok((uploaded, bytes))
}
