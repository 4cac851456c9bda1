//! `commons serve`: every API of the node on one port, behind token auth.

use std::sync::Arc;

use anyhow::{Context, Result};
use commons_engine::{LoadOptions, ManagerConfig, SchedulerConfig};
use commons_server::{AppState, AuthPolicy, Limits};

use super::Ctx;
use crate::cli::ServeArgs;

pub fn run(ctx: Ctx, args: ServeArgs) -> Result<()> {
    let keep_alive = commons_server::ollama::types::parse_keep_alive(Some(
        &serde_json::Value::String(args.keep_alive.clone()),
    ))
    .map_err(|e| {
        anyhow::anyhow!(crate::failure::hinted(
            format!("invalid --keep-alive {:?}: {e}", args.keep_alive),
            "use a duration such as 5m, 1h30m or 30s; 0 unloads at once, -1 keeps models loaded"
        ))
    })?;
    let scheduler = SchedulerConfig {
        slots: args.parallel,
        context_per_slot: args.ctx_size,
        queue_depth: args.queue,
        threads: args.threads,
        // Serving favours speed, as llama.cpp's server and Ollama do (measured in
        // docs/benchmarks.md); evaluations load their own batch-invariant models.
        batch_invariant: args.batch_invariant,
        ..SchedulerConfig::default()
    };
    let manager = ManagerConfig {
        default_keep_alive: keep_alive.unwrap_or(std::time::Duration::from_secs(300)),
        memory_budget_bytes: None,
        load_options: LoadOptions {
            scheduler,
            embedding_context: 0,
        },
    };
    let limits = Limits {
        context_per_slot: args.ctx_size,
        ..Limits::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("commons-http")
        .build()
        .context("cannot start the async runtime")?;
    let auth = AuthPolicy {
        anonymous_reads: !args.no_anonymous_reads,
        require_auth: args.require_auth,
    };
    let access = access_summary(&ctx.store, &auth)?;
    let store = Arc::new(ctx.store);
    runtime.block_on(async move {
        let listener = commons_server::bind(&args.addr).await.map_err(|e| {
            anyhow::anyhow!(crate::failure::hinted(
                e.to_string(),
                "is another server (ollama?) using the port? pick another with --addr HOST:PORT or COMMONS_ADDR"
            ))
        })?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let state = AppState::with_auth(store, manager, limits, auth);
        println!("commons is serving on http://{addr}");
        println!("  Ollama API   http://{addr}/api");
        println!("  OpenAI API   http://{addr}/v1");
        println!("  OCI registry http://{addr}/v2");
        println!("  Hub API      http://{addr}/api/models");
        println!("  Commons API  http://{addr}/commons/v1/models");
        println!("{access}");
        println!("Press Ctrl-C to stop. RUST_LOG=debug logs more detail.");
        tracing::info!(%addr, "listening");
        commons_server::serve(listener, state, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the server stopped with an error")
    })
}

/// One line on who may read and write, so an open node never surprises its owner.
fn access_summary(store: &commons_store::Store, auth: &AuthPolicy) -> Result<String> {
    use commons_store::Scope;
    let tokens = store.tokens().context("cannot read the node's tokens")?;
    let writers = tokens
        .iter()
        .filter(|t| t.allows(Scope::Push) || t.allows(Scope::Delete))
        .count();
    let reads = if auth.anonymous_reads {
        "reads are open to anyone"
    } else {
        "reads need a token"
    };
    let writes = if auth.require_auth || writers > 0 {
        "writes need a token with push/delete".to_string()
    } else {
        "writes are open to anyone until a token exists \
         (`commons token create NAME --scope push`)"
            .to_string()
    };
    Ok(format!("Access: {reads}; {writes}."))
}
