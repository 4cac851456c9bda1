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
    /// How long it works: a number with s, m, h, d or w (`30d`, `12h`); default: until revoked.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires: Option<u64>,
}

/// `30d` → seconds; `s`, `m`, `h`, `d`, `w`.
fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{text}` is not a duration like 30d, 12h, 45m, 2w")),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30d, 12h, 45m, 2w"))?;
    if number == 0 {
        return Err("a token that expires at once is of no use; give a positive duration".into());
    }
    number
        .checked_mul(unit_secs)
        .filter(|secs| *secs < 100 * 365 * 86_400)
        .ok_or_else(|| format!("`{text}` is too long; leave --expires out for a token that lasts"))
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
    let expires_at = args.expires.map(|secs| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        commons_store::rfc3339_from_unix(now + secs)
    });
    let (secret, info) = ctx
        .store
        .create_token_expiring(&args.name, &scopes, expires_at.as_deref())
        .with_context(|| format!("cannot create token `{}`", args.name))?;
    super::audit::record(
        ctx,
        "token.create",
        &info.name,
        None,
        match &info.expires_at {
            Some(end) => json!({ "scopes": info.scopes, "expires_at": end }),
            None => json!({ "scopes": info.scopes }),
        },
    )?;
    if ctx.json {
        return output::print_json(&json!({
            "name": info.name,
            "scopes": info.scopes,
            "created_at": info.created_at,
            "expires_at": info.expires_at,
            "token": secret,
        }));
    }
    let until = info
        .expires_at
        .as_deref()
        .map_or_else(String::new, |end| format!(", until {end}"));
    eprintln!(
        "created token `{}` with scope {}{until}; it is shown only now:",
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
    let now = commons_store::now_rfc3339();
    println!(
        "{:<width$}  {:<18}  {:<20}  EXPIRES",
        "NAME", "SCOPES", "CREATED"
    );
    for token in &tokens {
        let expires = match token.expires_at.as_deref() {
            None => "never".to_string(),
            Some(end) if token.expired_at(&now) => format!("{end} (expired)"),
            Some(end) => end.to_string(),
        };
        println!(
            "{:<width$}  {:<18}  {:<20}  {expires}",
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
