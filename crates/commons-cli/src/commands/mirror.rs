//! `commons mirror add|list|rm`: the registries and nodes a pull falls back to.

use anyhow::Result;
use clap::Subcommand;
use commons_distribution::Mirrors;

use super::Ctx;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Add a mirror (tried in the order added): oci://HOST[:PORT][/PREFIX] or http(s)://NODE.
    Add { url: String },
    /// List the mirrors in the order pulls try them.
    #[command(visible_alias = "ls")]
    List,
    /// Remove a mirror.
    Rm { url: String },
}

pub fn run(ctx: &Ctx, command: MirrorCommand) -> Result<()> {
    let mirrors = Mirrors::new(ctx.store.root());
    match command {
        MirrorCommand::Add { url } => {
            let list = mirrors.add(&url)?;
            if ctx.json {
                return output::print_json(&list);
            }
            println!("mirrors ({}):", list.len());
            for (i, m) in list.iter().enumerate() {
                println!("  {}. {}", i + 1, m.url);
            }
        }
        MirrorCommand::List => {
            let list = mirrors.list()?;
            if ctx.json {
                return output::print_json(&list);
            }
            if list.is_empty() {
                println!("no mirrors configured (add one with `commons mirror add URL`)");
            }
            for (i, m) in list.iter().enumerate() {
                println!("{}. {}  (added {})", i + 1, m.url, m.added_at);
            }
        }
        MirrorCommand::Rm { url } => {
            if !mirrors.remove(&url)? {
                anyhow::bail!("`{url}` is not a configured mirror (see `commons mirror list`)");
            }
            if ctx.json {
                return output::print_json(&serde_json::json!({"removed": url}));
            }
            println!("removed mirror {url}");
        }
    }
    Ok(())
}
