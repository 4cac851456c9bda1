//! `commons pull LOCATION|NAME` and `commons push NAME LOCATION`.

use anyhow::{Context, Result};
use clap::Args;
use commons_distribution::hub::pull_hub;
use commons_distribution::mirrors::mirror_location;
use commons_distribution::{
    pull_oci, push_oci, DistributionError, Location, Mirrors, OciLocation, TransferProgress,
};
use commons_store::Reference;

use super::Ctx;
use crate::output;
use crate::progress;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// oci://HOST[:PORT]/REPO[:TAG|@DIGEST], http(s)://NODE/NAME[:TAG] (another
    /// commons node), hf://ORG/REPO[@REV], or a plain NAME[:TAG] looked up on the
    /// configured mirrors.
    pub location: String,
    /// Store the model under this `name[:tag]` instead of the one pulled.
    #[arg(long, value_name = "NAME[:TAG]")]
    pub name: Option<String>,
    /// The hub for hf:// locations (default: $HF_ENDPOINT).
    #[arg(long, env = "HF_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// A token for the source (a commons token, or a registry or hub token).
    #[arg(long, env = "COMMONS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Speak plain HTTP to oci:// hosts that are not loopback.
    #[arg(long)]
    pub plain_http: bool,
    /// Do not fall back to the configured mirrors.
    #[arg(long)]
    pub no_mirrors: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The local model: `name[:tag]` or a digest.
    pub model: String,
    /// oci://HOST[:PORT]/REPO[:TAG] or http(s)://NODE/NAME[:TAG].
    pub location: String,
    /// A token with the `push` scope on the destination.
    #[arg(long, env = "COMMONS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Speak plain HTTP to oci:// hosts that are not loopback.
    #[arg(long)]
    pub plain_http: bool,
}

/// Bytes progress on a terminal.
struct Bar {
    bar: std::sync::Mutex<Option<progress::Bytes>>,
    label: String,
    json: bool,
}

impl Bar {
    fn new(label: &str, json: bool) -> Bar {
        Bar {
            bar: std::sync::Mutex::new(None),
            label: label.to_string(),
            json,
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish();
        }
    }
}

impl TransferProgress for Bar {
    fn started(&self, total: u64, _blobs: usize) {
        if let Ok(mut bar) = self.bar.lock() {
            *bar = Some(progress::Bytes::new(total, &self.label, self.json));
        }
    }
    fn advanced(&self, bytes: u64) {
        if let Some(bar) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            bar.advance(bytes);
        }
    }
}

pub fn pull(ctx: &Ctx, args: PullArgs) -> Result<()> {
    let local = args
        .name
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .context("invalid --name")?;
    let bar = Bar::new("pulling", ctx.json);
    let is_url = args.location.contains("://");
    let result = if is_url {
        match Location::parse(&args.location, args.endpoint.as_deref(), args.plain_http)? {
            Location::Hub(hub) => {
                let report = pull_hub(&ctx.store, &hub, local, args.token, &bar);
                bar.finish();
                let report = report.with_context(|| format!("cannot pull {}", args.location))?;
                super::audit::record(
                    ctx,
                    "pull",
                    &report.reference,
                    Some(&report.digest),
                    serde_json::json!({ "source": report.source, "commit": report.commit }),
                )?;
                super::policy::enforce_reference(ctx, &report.reference, "pull")?;
                if ctx.json {
                    return output::print_json(&report);
                }
                println!(
                    "pulled {} from {} (commit {}): {} files, {} downloaded",
                    report.reference,
                    report.source,
                    &report.commit[..12],
                    report.files,
                    output::human_bytes(report.bytes_downloaded)
                );
                return Ok(());
            }
            Location::Oci(location) => {
                let mut locations = vec![location.clone()];
                if !args.no_mirrors {
                    locations.extend(mirrors_for(ctx, &location)?);
                }
                pull_oci(&ctx.store, &locations, local, args.token, &bar)
            }
        }
    } else {
        let wanted = Reference::parse(&args.location)?;
        let probe = OciLocation {
            base: String::new(),
            repository: wanted.name.clone(),
            reference: wanted.tag.clone(),
        };
        let locations = mirrors_for(ctx, &probe)?;
        if locations.is_empty() {
            return Err(DistributionError::NoSource {
                name: args.location.clone(),
            }
            .into());
        }
        pull_oci(&ctx.store, &locations, local, args.token, &bar)
    };
    bar.finish();
    let report = result.with_context(|| format!("cannot pull {}", args.location))?;
    super::audit::record(
        ctx,
        "pull",
        &report.reference,
        Some(&report.digest),
        serde_json::json!({ "source": report.source, "is_model": report.is_model }),
    )?;
    if report.is_model {
        super::policy::enforce_reference(ctx, &report.reference, "pull")?;
    }
    if ctx.json {
        return output::print_json(&report);
    }
    for bad in &report.bad_sources {
        eprintln!(
            "warning: {bad} served bytes that did not match their digest; they were discarded"
        );
    }
    if let Some(why) = &report.referrers_unavailable {
        eprintln!("warning: the model is complete, but its signatures and provenance could not be pulled: {why}");
    }
    for skipped in &report.skipped_sources {
        eprintln!("note: skipped {skipped}");
    }
    println!(
        "pulled {} ({}) from {}: {} blobs, {} downloaded{}{}",
        report.reference,
        output::short_digest(report.digest.as_str()),
        report.source,
        report.blobs,
        output::human_bytes(report.bytes_downloaded),
        if report.referrers > 0 {
            format!(", {} referrers", report.referrers)
        } else {
            String::new()
        },
        if report.is_model {
            ""
        } else {
            " (not a model: stored, not listed)"
        },
    );
    Ok(())
}

/// The configured mirrors, each as a location of the same repository and reference.
fn mirrors_for(ctx: &Ctx, location: &OciLocation) -> Result<Vec<OciLocation>> {
    Mirrors::new(ctx.store.root())
        .list()?
        .iter()
        .map(|m| {
            Ok(mirror_location(
                &m.url,
                &location.repository,
                &location.reference,
            )?)
        })
        .filter(|l: &Result<OciLocation>| l.as_ref().map_or(true, |l| l.base != location.base))
        .collect()
}

pub fn push(ctx: &Ctx, args: PushArgs) -> Result<()> {
    let destination = match Location::parse(&args.location, None, args.plain_http)? {
        Location::Oci(location) => location,
        Location::Hub(_) => anyhow::bail!(DistributionError::InvalidLocation {
            input: args.location.clone(),
            reason: "pushing to a hub is not supported; push to an OCI registry or a commons node"
                .into(),
        }),
    };
    let bar = Bar::new("pushing", ctx.json);
    let report = push_oci(&ctx.store, &args.model, &destination, args.token, &bar);
    bar.finish();
    let report =
        report.with_context(|| format!("cannot push {} to {}", args.model, args.location))?;
    super::audit::record(
        ctx,
        "push",
        &report.reference,
        Some(&report.digest),
        serde_json::json!({ "destination": report.destination }),
    )?;
    if ctx.json {
        return output::print_json(&report);
    }
    println!(
        "pushed {} ({}) to {}: {} of {} blobs uploaded ({}), {} referrers{}",
        report.reference,
        output::short_digest(report.digest.as_str()),
        report.destination,
        report.blobs_uploaded,
        report.blobs,
        output::human_bytes(report.bytes_uploaded),
        report.referrers,
        if report.referrers_fallback {
            " (as the sha256-<digest> tag: the registry has no referrers API)"
        } else {
            ""
        }
    );
    Ok(())
}
