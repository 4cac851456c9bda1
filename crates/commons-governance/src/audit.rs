//! The tamper-evident audit log: record, checkpoint, verify, export.
//!
//! The store keeps the chain (each entry holds the hash of the one before,
//! see `commons_store::audit`). The chain alone shows a *careless* edit; a
//! careful forger could rewrite every hash after an edit. Checkpoints stop
//! that: every [`CHECKPOINT_EVERY`] entries (and on `commons audit
//! checkpoint`) the head hash is signed with the node key, so rewriting
//! history before a checkpoint needs the node's private key. Entries after
//! the newest checkpoint can still be cut off the end unnoticed; the report
//! says how many there are (`unanchored`).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use commons_provenance::signing::{keys, trust};
use commons_store::audit::{AuditCheckpoint, AuditDraft, AuditEntry, GENESIS_HASH};
use commons_store::Store;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;

use crate::GovernanceError;

/// A checkpoint is signed when this many entries follow the last one.
pub const CHECKPOINT_EVERY: u64 = 100;

/// The actor of changes made by the node's own command line.
pub const LOCAL_ACTOR: &str = "local";

/// Appends `draft`, then signs a checkpoint with the node key when one is due.
/// A due checkpoint over a chain that no longer verifies is skipped (signing
/// it would vouch for the tampering); `commons audit verify` reports why.
pub fn record(store: &Store, draft: &AuditDraft) -> Result<AuditEntry, GovernanceError> {
    let entry = store.append_audit(draft)?;
    let last = store
        .audit_checkpoints()?
        .last()
        .map_or(0, |checkpoint| checkpoint.seq);
    if entry.seq.saturating_sub(last) >= CHECKPOINT_EVERY {
        match checkpoint(store) {
            Ok(_) => {}
            Err(GovernanceError::BrokenLog(reason)) => {
                tracing::warn!(%reason, "audit checkpoint skipped: the log does not verify");
            }
            Err(other) => return Err(other),
        }
    }
    Ok(entry)
}

/// What a checkpoint's signature covers.
fn checkpoint_message(seq: u64, hash: &str, time: &str) -> String {
    format!("commons.audit.checkpoint.v1\n{seq}\n{hash}\n{time}\n")
}

/// Verifies the chain, then signs its head with the node key (created on
/// first use). `None` when the log is empty.
pub fn checkpoint(store: &Store) -> Result<Option<AuditCheckpoint>, GovernanceError> {
    let report = verify(store)?;
    if let Some(bad) = report.first_bad {
        return Err(GovernanceError::BrokenLog(bad.message));
    }
    let Some(head) = store.audit_tail(1)?.pop() else {
        return Ok(None);
    };
    let (key, _) = keys::node_key(&store.root().join("keys"))?;
    Ok(Some(sign_checkpoint(store, &key, &head)?))
}

fn sign_checkpoint(
    store: &Store,
    key: &SigningKey,
    head: &AuditEntry,
) -> Result<AuditCheckpoint, GovernanceError> {
    let time = commons_store::now_rfc3339();
    let signature: Signature = key.sign(checkpoint_message(head.seq, &head.hash, &time).as_bytes());
    let checkpoint = AuditCheckpoint {
        seq: head.seq,
        hash: head.hash.clone(),
        time,
        key_hint: keys::public_key_hint(key.verifying_key())?,
        signature: base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes()),
    };
    store.add_audit_checkpoint(&checkpoint)?;
    Ok(checkpoint)
}

/// What went wrong first, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// An entry's contents no longer match its hash, or a whole prefix was rewritten.
    Edited,
    /// Entries are missing from the chain (or cut off before a checkpoint).
    Removed,
    /// An entry sits at another place than the one it was recorded at.
    Reordered,
    /// A checkpoint's signature does not verify, or its key is not trusted.
    Checkpoint,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    /// The first entry that is not what was recorded.
    pub seq: u64,
    pub problem: Problem,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub entries: u64,
    /// The newest entry's hash.
    pub head: Option<String>,
    pub checkpoints: usize,
    /// Entries after the newest checkpoint (their removal from the end would not show).
    pub unanchored: u64,
    pub first_bad: Option<BadEntry>,
}

fn bad(seq: u64, problem: Problem, message: String) -> Option<BadEntry> {
    Some(BadEntry {
        seq,
        problem,
        message,
    })
}

/// Walks the chain from the first entry and checks every checkpoint against
/// it; names the first entry that is not what was recorded.
pub fn verify(store: &Store) -> Result<VerifyReport, GovernanceError> {
    let entries = store.audit_entries(0, None)?;
    let checkpoints = store.audit_checkpoints()?;
    let mut first_bad = check_chain(&entries);
    if first_bad.is_none() {
        first_bad = check_checkpoints(store.root(), &entries, &checkpoints)?;
    }
    let last_seq = entries.last().map_or(0, |e| e.seq);
    let anchored = checkpoints.last().map_or(0, |c| c.seq);
    Ok(VerifyReport {
        ok: first_bad.is_none(),
        entries: entries.len() as u64,
        head: entries.last().map(|e| e.hash.clone()),
        checkpoints: checkpoints.len(),
        unanchored: last_seq.saturating_sub(anchored),
        first_bad,
    })
}

fn check_chain(entries: &[AuditEntry]) -> Option<BadEntry> {
    let seq_of_hash: HashMap<&str, u64> =
        entries.iter().map(|e| (e.hash.as_str(), e.seq)).collect();
    let mut prev_seq = 0u64;
    let mut prev_hash = GENESIS_HASH;
    for entry in entries {
        let seq = entry.seq;
        if seq != prev_seq + 1 {
            let missing = if seq > prev_seq + 2 {
                format!("entries {} to {}", prev_seq + 1, seq - 1)
            } else {
                format!("entry {}", prev_seq + 1)
            };
            return bad(
                prev_seq + 1,
                Problem::Removed,
                format!("{missing} removed: entry {seq} follows entry {prev_seq}"),
            );
        }
        // An entry that chains to a different predecessor was moved here.
        let follows = seq_of_hash
            .get(entry.prev_hash.as_str())
            .copied()
            .or((entry.prev_hash == GENESIS_HASH).then_some(0));
        if entry.prev_hash != prev_hash {
            if let Some(original) = follows.filter(|&j| j != prev_seq) {
                return bad(
                    seq,
                    Problem::Reordered,
                    format!(
                        "entry {seq} was recorded after entry {original}, not after entry {prev_seq}: the log was reordered"
                    ),
                );
            }
            if entry.computed_hash() == entry.hash && prev_seq > 0 {
                // This entry is intact, so its predecessor was rewritten
                // together with its own hash.
                return bad(
                    prev_seq,
                    Problem::Edited,
                    format!(
                        "entry {prev_seq} was rewritten: entry {seq} chains to a different hash"
                    ),
                );
            }
            return bad(
                seq,
                Problem::Edited,
                format!("entry {seq} was edited: it does not chain to entry {prev_seq}"),
            );
        }
        if entry.computed_hash() != entry.hash {
            return bad(
                seq,
                Problem::Edited,
                format!("entry {seq} was edited: its contents no longer match its hash"),
            );
        }
        prev_seq = seq;
        prev_hash = &entry.hash;
    }
    None
}

fn check_checkpoints(
    home: &Path,
    entries: &[AuditEntry],
    checkpoints: &[AuditCheckpoint],
) -> Result<Option<BadEntry>, GovernanceError> {
    if checkpoints.is_empty() {
        return Ok(None);
    }
    let trusted = trust::load(home)?;
    let last_seq = entries.last().map_or(0, |e| e.seq);
    for cp in checkpoints {
        let Some(key) = trusted.iter().find(|t| t.hint == cp.key_hint) else {
            return Ok(bad(
                cp.seq,
                Problem::Checkpoint,
                format!(
                    "checkpoint at entry {} is signed by key {}, which this node does not trust",
                    cp.seq, cp.key_hint
                ),
            ));
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&cp.signature)
            .ok()
            .and_then(|der| Signature::from_der(&der).ok());
        let valid = signature.is_some_and(|sig| {
            key.key
                .verify(
                    checkpoint_message(cp.seq, &cp.hash, &cp.time).as_bytes(),
                    &sig,
                )
                .is_ok()
        });
        if !valid {
            return Ok(bad(
                cp.seq,
                Problem::Checkpoint,
                format!(
                    "the checkpoint at entry {} does not verify with {}: it was edited",
                    cp.seq, key.name
                ),
            ));
        }
        match entries.iter().find(|e| e.seq == cp.seq) {
            None => {
                return Ok(bad(
                    last_seq + 1,
                    Problem::Removed,
                    format!(
                        "entries {} to {} removed: a signed checkpoint vouches for entry {}",
                        last_seq + 1,
                        cp.seq,
                        cp.seq
                    ),
                ))
            }
            Some(entry) if entry.hash != cp.hash => {
                return Ok(bad(
                    cp.seq,
                    Problem::Edited,
                    format!(
                        "the log up to entry {} was rewritten: its hash differs from the one signed at {}",
                        cp.seq, cp.time
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// One line of `commons audit export`: the entry with its details as JSON and
/// the checkpoint that signs it, if any.
#[derive(Debug, Serialize)]
pub struct ExportLine {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub digest: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<AuditCheckpoint>,
}

impl ExportLine {
    pub fn new(entry: AuditEntry, checkpoint: Option<AuditCheckpoint>) -> Self {
        ExportLine {
            details: serde_json::from_str(&entry.details_json)
                .unwrap_or(serde_json::Value::String(entry.details_json.clone())),
            seq: entry.seq,
            time: entry.time,
            actor: entry.actor,
            action: entry.action,
            subject: entry.subject,
            digest: entry.digest,
            prev_hash: entry.prev_hash,
            hash: entry.hash,
            checkpoint,
        }
    }
}

/// Every entry as an [`ExportLine`], oldest first.
pub fn export(store: &Store) -> Result<Vec<ExportLine>, GovernanceError> {
    let mut checkpoints: HashMap<u64, AuditCheckpoint> = store
        .audit_checkpoints()?
        .into_iter()
        .map(|c| (c.seq, c))
        .collect();
    Ok(store
        .audit_entries(0, None)?
        .into_iter()
        .map(|e| {
            let checkpoint = checkpoints.remove(&e.seq);
            ExportLine::new(e, checkpoint)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_with(n: u64) -> (tempfile::TempDir, Store) {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        for i in 1..=n {
            record(
                &store,
                &AuditDraft::new(LOCAL_ACTOR, "tag")
                    .subject(format!("m:{i}"))
                    .details(json!({ "i": i })),
            )
            .unwrap();
        }
        (home, store)
    }

    fn sql(home: &Path, statements: &str) {
        let conn = rusqlite::Connection::open(home.join("catalog.db")).unwrap();
        conn.execute_batch(statements).unwrap();
    }

    fn first_bad(store: &Store) -> BadEntry {
        let report = verify(store).unwrap();
        assert!(!report.ok);
        report.first_bad.unwrap()
    }

    #[test]
    fn an_intact_log_verifies() {
        let (_home, store) = store_with(5);
        let report = verify(&store).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!((report.entries, report.unanchored), (5, 5));
        assert!(checkpoint(&store).unwrap().is_some());
        let report = verify(&store).unwrap();
        assert!(report.ok && report.checkpoints == 1 && report.unanchored == 0);
        assert_eq!(
            export(&store).unwrap()[4].checkpoint.as_ref().unwrap().seq,
            5
        );
    }

    #[test]
    fn an_edited_entry_is_named() {
        let (home, store) = store_with(5);
        sql(
            home.path(),
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3",
        );
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (3, Problem::Edited), "{bad:?}");
    }

    #[test]
    fn a_rewritten_entry_with_a_fresh_hash_is_named() {
        let (home, store) = store_with(5);
        let mut entry = store.audit_entries(1, Some(1)).unwrap().remove(0);
        entry.actor = "mallory".into();
        let hash = entry.computed_hash();
        sql(
            home.path(),
            &format!("UPDATE audit_log SET actor = 'mallory', hash = '{hash}' WHERE seq = 2"),
        );
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (2, Problem::Edited), "{bad:?}");
    }

    #[test]
    fn a_removed_entry_is_named() {
        let (home, store) = store_with(5);
        sql(home.path(), "DELETE FROM audit_log WHERE seq = 2");
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (2, Problem::Removed), "{bad:?}");
    }

    #[test]
    fn reordered_entries_are_named() {
        let (home, store) = store_with(6);
        sql(
            home.path(),
            "UPDATE audit_log SET seq = -1 WHERE seq = 3;
             UPDATE audit_log SET seq = 3 WHERE seq = 5;
             UPDATE audit_log SET seq = 5 WHERE seq = -1;",
        );
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (3, Problem::Reordered), "{bad:?}");
    }

    #[test]
    fn a_cut_off_tail_is_caught_by_the_checkpoint() {
        let (home, store) = store_with(4);
        checkpoint(&store).unwrap();
        sql(home.path(), "DELETE FROM audit_log WHERE seq >= 3");
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (3, Problem::Removed), "{bad:?}");
    }

    #[test]
    fn a_consistently_rewritten_log_fails_its_checkpoint() {
        let (home, store) = store_with(3);
        checkpoint(&store).unwrap();
        // Rewrite entry 1 and recompute every hash after it, as a careful forger would.
        let mut entries = store.audit_entries(0, None).unwrap();
        entries[0].actor = "mallory".into();
        let mut prev = GENESIS_HASH.to_string();
        let mut statements = String::new();
        for e in &mut entries {
            e.prev_hash = prev.clone();
            e.hash = e.computed_hash();
            prev = e.hash.clone();
            statements.push_str(&format!(
                "UPDATE audit_log SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {};",
                e.actor, e.prev_hash, e.hash, e.seq
            ));
        }
        sql(home.path(), &statements);
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (3, Problem::Edited), "{bad:?}");
        // And a broken log is not signed again.
        assert!(matches!(
            checkpoint(&store),
            Err(GovernanceError::BrokenLog(_))
        ));
    }

    #[test]
    fn a_forged_checkpoint_is_refused() {
        let (home, store) = store_with(2);
        checkpoint(&store).unwrap();
        sql(
            home.path(),
            "UPDATE audit_checkpoints SET time = '2000-01-01T00:00:00Z'",
        );
        let bad = first_bad(&store);
        assert_eq!((bad.seq, bad.problem), (2, Problem::Checkpoint), "{bad:?}");
    }

    #[test]
    fn checkpoints_are_signed_every_hundred_entries() {
        let (_home, store) = store_with(CHECKPOINT_EVERY + 1);
        let checkpoints = store.audit_checkpoints().unwrap();
        assert_eq!(checkpoints.len(), 1);
        assert_eq!(checkpoints[0].seq, CHECKPOINT_EVERY);
        assert_eq!(verify(&store).unwrap().unanchored, 1);
    }
}
