//! One module per subcommand; each turns parsed arguments into library calls
//! and prints the outcome as text or `--json`.

pub mod audit;
pub mod eval;
mod gc;
mod health;
mod import;
pub mod license;
pub mod lineage;
mod list;
pub mod mirror;
pub mod policy;
pub mod provenance;
pub mod pull;
mod rm;
mod run;
mod serve;
mod show;
pub mod sign;
pub mod steward;
mod tag;
pub mod token;
mod verify;

use anyhow::{Context, Result};
use commons_store::Store;

use crate::cli::{Cli, Command};

/// What every command gets: how to print, and the node's store.
pub struct Ctx {
    pub json: bool,
    pub store: Store,
}

pub fn run(cli: Cli) -> Result<()> {
    let home = crate::home::resolve(cli.home)?;
    let store = Store::open(&home)
        .with_context(|| format!("cannot open the store at {}", home.display()))?;
    let ctx = Ctx {
        json: cli.json,
        store,
    };
    match cli.command {
        Command::Import(args) => import::run(&ctx, args),
        Command::List => list::run(&ctx),
        Command::Show(args) => show::run(&ctx, args),
        Command::Rm(args) => rm::run(&ctx, args),
        Command::Tag(args) => tag::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Gc => gc::run(&ctx),
        Command::Run(args) => run::run(&ctx, args),
        Command::Serve(args) => serve::run(ctx, args),
        Command::Token(command) => token::run(&ctx, command),
        Command::Provenance(command) => provenance::run(&ctx, command),
        Command::License(command) => license::run(&ctx, command),
        Command::Lineage(args) => lineage::run(&ctx, args),
        Command::Sign(args) => sign::sign(&ctx, args),
        Command::VerifySignature(args) => sign::verify(&ctx, args),
        Command::Pull(args) => pull::pull(&ctx, args),
        Command::Push(args) => pull::push(&ctx, args),
        Command::Mirror(command) => mirror::run(&ctx, command),
        Command::Eval(command) => eval::run(&ctx, command),
        Command::Audit(command) => audit::run(&ctx, command),
        Command::Policy(command) => policy::run(&ctx, command),
        Command::Health => health::run(&ctx),
        Command::Steward(command) => steward::run(&ctx, command),
    }
}
