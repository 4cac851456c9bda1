//! `commons token create|list|revoke`: the scoped tokens that clients of the
//! node's HTTP APIs send (`Authorization: Bearer`, or as a Basic password).
//!
//! The rule `commons serve` applies: reads are open unless it runs with
//! `--no-anonymous-reads`; writes need a token with `push` (deletes: `delete`)
//! as soon as one token with `push` or `delete` exists, or always with
//! `--require-auth`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use commons_store::Scope;
use serde_json::json;

use super::Ctx;
use crate::failure::hinted;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once and never stored.
    Create(CreateArgs),
    /// List tokens: names, scopes, creation times (never the secrets).
    #[command(visible_alias = "ls")]
    List,
    /// Revoke a token by name; clients using it are refused at once.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name to recognise the token by, e.g. `ci` or `laptop`.
    pub name: String,
    /// What the token allows (repeatable): pull (read), push (upload, tag), delete.
    #[arg(long = "scope", value_name = "SCOPE", required = true,
          value_parser = ["pull", "push", "delete"])]
    pub scopes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's name.
    pub name: String,
}

pub fn run(ctx: &Ctx, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create(args) => create(ctx, args),
        TokenCommand::List => list(ctx),
        TokenCommand::Revoke(args) => revoke(ctx, args),
    }
}

fn create(ctx: &Ctx, args: CreateArgs) -> Result<()> {
    let scopes = args
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()?;
    let (secret, info) = ctx
        .store
        .create_token(&args.name, &scopes)
        .with_context(|| format!("cannot create token `{}`", args.name))?;
    super::audit::record(
        ctx,
        "token.create",
        &info.name,
        None,
        json!({ "scopes": info.scopes }),
    )?;
    if ctx.json {
        return output::print_json(&json!({
            "name": info.name,
            "scopes": info.scopes,
            "created_at": info.created_at,
            "token": secret,
        }));
    }
    eprintln!(
        "created token `{}` with scope {}; it is shown only now:",
        info.name,
        scope_list(&info.scopes)
    );
    println!("{secret}");
    eprintln!(
        "send it as `Authorization: Bearer <token>`, or as the password with any user name \
         (skopeo --creds, oras login, docker login)"
    );
    Ok(())
}

fn list(ctx: &Ctx) -> Result<()> {
    let tokens = ctx.store.tokens().context("cannot read the tokens")?;
    if ctx.json {
        return output::print_json(&tokens);
    }
    if tokens.is_empty() {
        println!(
            "no tokens: anyone who reaches this node can push to it; \
             `commons token create NAME --scope push` makes pushes need a token"
        );
        return Ok(());
    }
    let width = tokens
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:<width$}  {:<18}  CREATED", "NAME", "SCOPES");
    for token in &tokens {
        println!(
            "{:<width$}  {:<18}  {}",
            token.name,
            scope_list(&token.scopes),
            token.created_at
        );
    }
    Ok(())
}

fn revoke(ctx: &Ctx, args: RevokeArgs) -> Result<()> {
    let revoked = ctx
        .store
        .revoke_token(&args.name)
        .with_context(|| format!("cannot revoke token `{}`", args.name))?;
    if !revoked {
        return Err(hinted(
            format!("there is no token called `{}`", args.name),
            "`commons token list` shows the tokens of this node",
        )
        .into());
    }
    super::audit::record(ctx, "token.revoke", &args.name, None, json!({}))?;
    if ctx.json {
        return output::print_json(&json!({ "name": args.name, "revoked": true }));
    }
    println!("revoked token `{}`", args.name);
    Ok(())
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
