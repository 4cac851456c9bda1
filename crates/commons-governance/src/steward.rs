//! Stewards: M-of-N signed approvals for changing the policy and for
//! releasing a quarantined model.
//!
//! The node keeps a set of steward public keys (ECDSA P-256, PEM) and a
//! threshold M in `$COMMONS_HOME/stewards.json` (its `version` goes up on
//! every change). Once stewards are configured, a policy change or a release
//! is a [`Proposal`] whose id is the sha256 of its canonical content
//! (`["commons.steward.proposal.v1", kind, target, payload_sha256,
//! created_at, proposer]` as compact JSON). A steward approves by signing
//! [`approval_message`] of the id with their key; the proposal is enacted at
//! the approval that brings M distinct stewards with valid signatures.
//!
//! Every approval handed in is kept, counted or not: a signature that does
//! not verify, a key that is not a steward, or a steward who already
//! approved is not counted, with the reason. Counting is redone from the
//! kept signatures on every read, so an approval edited into the file by
//! hand does not count either. Every proposal, approval and enactment is
//! recorded in the audit log (`steward.propose`, `steward.approve`,
//! `steward.enact`; `steward.add`, `steward.threshold` for the set itself).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use commons_provenance::signing::keys;
use commons_store::audit::AuditDraft;
use commons_store::{Digest, Store};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::audit;
use crate::policy::{self, Policy};
use crate::GovernanceError;

/// The file under `$COMMONS_HOME` that keeps stewards and proposals.
pub const STEWARDS_FILE: &str = "stewards.json";

/// The actor recorded for a change enacted by the stewards.
pub const STEWARDS_ACTOR: &str = "stewards";

/// A steward's public key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Steward {
    pub name: String,
    /// Hex sha256 of the public key PEM (the key hint `commons sign` uses).
    pub key_id: String,
    pub public_key_pem: String,
    pub added_at: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    /// Make `payload` (a TOML policy) the policy in force.
    Policy,
    /// Lift the quarantine of the manifest `payload`.
    Release,
}

impl ProposalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalKind::Policy => "policy",
            ProposalKind::Release => "release",
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    Open,
    Enacted,
}

/// One approval handed in for a proposal, counted or not.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Approval {
    pub key_id: String,
    pub public_key_pem: String,
    /// Base64 DER ECDSA signature over [`approval_message`].
    pub signature: String,
    pub time: String,
    pub actor: String,
    /// Filled in when read: whether it counts towards the threshold.
    #[serde(default)]
    pub counted: bool,
    /// Filled in when read: the steward's name when counted, else why not.
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Proposal {
    pub id: String,
    pub kind: ProposalKind,
    /// `policy`, or the model's reference for a release.
    pub target: String,
    /// The policy text, or the manifest digest to release.
    pub payload: String,
    pub payload_sha256: String,
    pub created_at: String,
    pub proposer: String,
    pub state: ProposalState,
    #[serde(default)]
    pub enacted_at: Option<String>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// Filled in when read: counted approvals and the threshold.
    #[serde(default)]
    pub counted: usize,
    #[serde(default)]
    pub threshold: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StewardSet {
    /// Goes up on every change to the stewards, the threshold or a proposal.
    #[serde(default)]
    pub version: u64,
    /// M: approvals needed (1 when never set).
    #[serde(default)]
    pub threshold: usize,
    #[serde(default)]
    pub stewards: Vec<Steward>,
    #[serde(default)]
    pub proposals: Vec<Proposal>,
}

impl StewardSet {
    /// The threshold in force: at least 1.
    pub fn effective_threshold(&self) -> usize {
        self.threshold.max(1)
    }

    /// Whether changes need the stewards' approval.
    pub fn configured(&self) -> bool {
        !self.stewards.is_empty()
    }

    fn steward(&self, key_id: &str) -> Option<&Steward> {
        self.stewards.iter().find(|s| s.key_id == key_id)
    }

    /// Recomputes `counted`/`note` of every approval and each proposal's count.
    fn tally(&mut self) {
        let threshold = self.effective_threshold();
        let stewards = self.stewards.clone();
        for proposal in &mut self.proposals {
            let mut seen: Vec<String> = Vec::new();
            let message = approval_message(&proposal.id);
            for approval in &mut proposal.approvals {
                let (counted, note) = judge(&stewards, &seen, &message, approval);
                if counted {
                    seen.push(approval.key_id.clone());
                }
                approval.counted = counted;
                approval.note = note;
            }
            proposal.counted = seen.len();
            proposal.threshold = threshold;
        }
    }

    pub fn proposal(&self, id: &str) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.id == id)
    }
}

/// Why an approval counts or not.
fn judge(
    stewards: &[Steward],
    seen: &[String],
    message: &str,
    approval: &Approval,
) -> (bool, String) {
    let Some(key) = keys::parse_public_key(&approval.public_key_pem) else {
        return (false, "not counted: the public key does not parse".into());
    };
    let key_id = match keys::public_key_hint(&key) {
        Ok(id) => id,
        Err(e) => return (false, format!("not counted: {e}")),
    };
    if key_id != approval.key_id {
        return (
            false,
            "not counted: the key id does not match the key".into(),
        );
    }
    let Some(steward) = stewards.iter().find(|s| s.key_id == key_id) else {
        return (
            false,
            format!("not counted: key {} is not a steward", short(&key_id)),
        );
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(approval.signature.trim())
        .ok()
        .and_then(|der| Signature::from_der(&der).ok());
    let valid = signature.is_some_and(|sig| key.verify(message.as_bytes(), &sig).is_ok());
    if !valid {
        return (
            false,
            format!(
                "not counted: the signature of {} does not verify over the proposal id",
                steward.name
            ),
        );
    }
    if seen.iter().any(|k| k == &key_id) {
        return (
            false,
            format!("not counted: duplicate, {} already approved", steward.name),
        );
    }
    (true, format!("counted: {}", steward.name))
}

fn short(key_id: &str) -> &str {
    &key_id[..key_id.len().min(12)]
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a steward signs to approve proposal `id`.
pub fn approval_message(id: &str) -> String {
    format!("commons.steward.approval.v1\n{id}\n")
}

/// A proposal's id: sha256 of its canonical content.
pub fn proposal_id(
    kind: ProposalKind,
    target: &str,
    payload_sha256: &str,
    created_at: &str,
    proposer: &str,
) -> String {
    let canonical = json!([
        "commons.steward.proposal.v1",
        kind.as_str(),
        target,
        payload_sha256,
        created_at,
        proposer
    ]);
    sha256_hex(canonical.to_string().as_bytes())
}

/// Signs the approval of proposal `id` with `key`: base64 DER.
pub fn sign_approval(key: &SigningKey, id: &str) -> String {
    let signature: Signature = key.sign(approval_message(id).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}

fn path(store: &Store) -> PathBuf {
    store.root().join(STEWARDS_FILE)
}

fn io_error(path: &Path, reason: impl std::fmt::Display) -> GovernanceError {
    GovernanceError::Stewards(format!("{}: {reason}", path.display()))
}

/// The stewards and proposals of the node at `store` (empty when none).
pub fn load(store: &Store) -> Result<StewardSet, GovernanceError> {
    let path = path(store);
    let mut set: StewardSet = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io_error(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StewardSet::default(),
        Err(e) => return Err(io_error(&path, e)),
    };
    set.tally();
    Ok(set)
}

fn save(store: &Store, set: &mut StewardSet) -> Result<(), GovernanceError> {
    set.version += 1;
    set.tally();
    let path = path(store);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(set).map_err(|e| io_error(&path, e))?;
    std::fs::write(&tmp, text + "\n").map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, e))
}

/// Adds a steward key (PEM); refused when it is one already.
pub fn add_key(
    store: &Store,
    public_key_pem: &str,
    name: Option<&str>,
    actor: &str,
) -> Result<Steward, GovernanceError> {
    let key = keys::parse_public_key(public_key_pem)
        .ok_or_else(|| GovernanceError::Stewards("not an ECDSA P-256 public key in PEM".into()))?;
    let key_id = keys::public_key_hint(&key)?;
    let mut set = load(store)?;
    if let Some(existing) = set.steward(&key_id) {
        return Err(GovernanceError::Stewards(format!(
            "key {} is already the steward {}",
            short(&key_id),
            existing.name
        )));
    }
    let steward = Steward {
        name: name.map_or_else(|| format!("steward-{}", short(&key_id)), str::to_string),
        public_key_pem: keys::public_key_pem(&key)?,
        key_id,
        added_at: commons_store::now_rfc3339(),
    };
    if set.threshold == 0 {
        set.threshold = 1;
    }
    set.stewards.push(steward.clone());
    save(store, &mut set)?;
    audit::record(
        store,
        &AuditDraft::new(actor, "steward.add")
            .subject(steward.name.clone())
            .details(json!({
                "key_id": steward.key_id,
                "stewards": set.stewards.len(),
                "threshold": set.effective_threshold(),
                "version": set.version,
            })),
    )?;
    Ok(steward)
}

/// Sets M; between 1 and the number of stewards.
pub fn set_threshold(store: &Store, m: usize, actor: &str) -> Result<StewardSet, GovernanceError> {
    let mut set = load(store)?;
    if m == 0 || m > set.stewards.len() {
        return Err(GovernanceError::Stewards(format!(
            "the threshold must be between 1 and the number of stewards ({}), not {m}",
            set.stewards.len()
        )));
    }
    set.threshold = m;
    save(store, &mut set)?;
    audit::record(
        store,
        &AuditDraft::new(actor, "steward.threshold")
            .subject("stewards")
            .details(json!({
                "threshold": m,
                "stewards": set.stewards.len(),
                "version": set.version,
            })),
    )?;
    Ok(set)
}

fn add_proposal(
    store: &Store,
    kind: ProposalKind,
    target: String,
    payload: String,
    proposer: &str,
) -> Result<Proposal, GovernanceError> {
    let mut set = load(store)?;
    if !set.configured() {
        return Err(GovernanceError::Stewards(
            "no stewards are configured (`commons steward add-key PUB.pem`)".into(),
        ));
    }
    let payload_sha256 = sha256_hex(payload.as_bytes());
    let created_at = commons_store::now_rfc3339();
    let id = proposal_id(kind, &target, &payload_sha256, &created_at, proposer);
    let proposal = Proposal {
        id,
        kind,
        target,
        payload,
        payload_sha256,
        created_at,
        proposer: proposer.to_string(),
        state: ProposalState::Open,
        enacted_at: None,
        approvals: Vec::new(),
        counted: 0,
        threshold: set.effective_threshold(),
    };
    set.proposals.push(proposal.clone());
    save(store, &mut set)?;
    audit::record(
        store,
        &AuditDraft::new(proposer, "steward.propose")
            .subject(proposal.target.clone())
            .details(json!({
                "proposal": proposal.id,
                "kind": kind.as_str(),
                "payload_sha256": proposal.payload_sha256,
                "threshold": proposal.threshold,
            })),
    )?;
    Ok(proposal)
}

/// Proposes `text` as the policy; an invalid policy is refused at once.
pub fn propose_policy(
    store: &Store,
    text: &str,
    source_name: &str,
    proposer: &str,
) -> Result<Proposal, GovernanceError> {
    Policy::parse(text, source_name)?;
    add_proposal(
        store,
        ProposalKind::Policy,
        "policy".into(),
        text.to_string(),
        proposer,
    )
}

/// Proposes releasing the quarantined model `reference`.
pub fn propose_release(
    store: &Store,
    reference: &str,
    proposer: &str,
) -> Result<Proposal, GovernanceError> {
    let entry = store.resolve(reference)?;
    if store.model_quarantine(&entry.digest)?.is_none() {
        return Err(GovernanceError::Stewards(format!(
            "{} is not quarantined",
            entry.reference()
        )));
    }
    add_proposal(
        store,
        ProposalKind::Release,
        entry.reference(),
        entry.digest.as_str().to_string(),
        proposer,
    )
}

/// What handing in an approval did.
#[derive(Clone, Debug, Serialize)]
pub struct ApproveOutcome {
    pub proposal: Proposal,
    pub counted: bool,
    /// The steward's name when counted, else why the approval is not counted.
    pub note: String,
    /// Whether this approval enacted the proposal.
    pub enacted: bool,
}

/// Hands in an approval of proposal `id` (a prefix of at least 8 characters
/// will do): the key's PEM and its signature over [`approval_message`]. Kept
/// and recorded whether it counts or not; the proposal is enacted when it
/// reaches the threshold.
pub fn approve(
    store: &Store,
    id: &str,
    public_key_pem: &str,
    signature: &str,
    actor: &str,
) -> Result<ApproveOutcome, GovernanceError> {
    let mut set = load(store)?;
    let index = find(&set, id)?;
    if set.proposals[index].state == ProposalState::Enacted {
        return Err(GovernanceError::Stewards(format!(
            "proposal {} was already enacted",
            set.proposals[index].id
        )));
    }
    let key_id = keys::parse_public_key(public_key_pem)
        .and_then(|key| keys::public_key_hint(&key).ok())
        .unwrap_or_default();
    set.proposals[index].approvals.push(Approval {
        key_id: key_id.clone(),
        public_key_pem: public_key_pem.to_string(),
        signature: signature.trim().to_string(),
        time: commons_store::now_rfc3339(),
        actor: actor.to_string(),
        counted: false,
        note: String::new(),
    });
    set.tally();
    let proposal = &set.proposals[index];
    let last = proposal.approvals.last().cloned().expect("just pushed");
    let reached = proposal.counted >= set.effective_threshold();
    let proposal_id = proposal.id.clone();
    audit::record(
        store,
        &AuditDraft::new(actor, "steward.approve")
            .subject(proposal.target.clone())
            .details(json!({
                "proposal": proposal_id,
                "key_id": key_id,
                "counted": last.counted,
                "note": last.note,
                "approvals": proposal.counted,
                "threshold": set.effective_threshold(),
            })),
    )?;
    if reached {
        enact(store, &set.proposals[index])?;
        set.proposals[index].state = ProposalState::Enacted;
        set.proposals[index].enacted_at = Some(commons_store::now_rfc3339());
    }
    save(store, &mut set)?;
    Ok(ApproveOutcome {
        proposal: set.proposals[index].clone(),
        counted: last.counted,
        note: last.note,
        enacted: reached,
    })
}

fn find(set: &StewardSet, id: &str) -> Result<usize, GovernanceError> {
    let matches: Vec<usize> = set
        .proposals
        .iter()
        .enumerate()
        .filter(|(_, p)| p.id == id || (id.len() >= 8 && p.id.starts_with(id)))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(GovernanceError::Stewards(format!(
            "no proposal {id} (`commons steward list` shows them)"
        ))),
        _ => Err(GovernanceError::Stewards(format!(
            "{id} names more than one proposal; give more of the id"
        ))),
    }
}

fn enact(store: &Store, proposal: &Proposal) -> Result<(), GovernanceError> {
    let details = match proposal.kind {
        ProposalKind::Policy => {
            let current = policy::set(
                store,
                &proposal.payload,
                &format!("proposal {}", proposal.id),
                STEWARDS_ACTOR,
            )?;
            json!({ "policy_version": current.version, "policy_sha256": current.sha256 })
        }
        ProposalKind::Release => {
            let digest = proposal.payload.parse::<Digest>()?;
            let released = store.release_model(&digest)?;
            json!({ "released": released })
        }
    };
    let mut draft = AuditDraft::new(STEWARDS_ACTOR, "steward.enact")
        .subject(proposal.target.clone())
        .details(json!({
            "proposal": proposal.id,
            "kind": proposal.kind.as_str(),
            "approvals": proposal.counted,
            "result": details,
        }));
    if proposal.kind == ProposalKind::Release {
        draft = draft.digest(&proposal.payload.parse::<Digest>()?);
    }
    audit::record(store, &draft)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn pem(key: &SigningKey) -> String {
        keys::public_key_pem(key.verifying_key()).unwrap()
    }

    const POLICY: &str = "description = \"proposed\"\n[size]\nmax_bytes = 1000\n";

    #[test]
    fn two_of_three_enacts_at_the_second_valid_approval() {
        let (_dir, store) = store();
        let k: Vec<SigningKey> = (0..3).map(|_| keys::generate()).collect();
        for (i, key) in k.iter().enumerate() {
            add_key(&store, &pem(key), Some(&format!("s{i}")), "local").unwrap();
        }
        set_threshold(&store, 2, "local").unwrap();
        let p = propose_policy(&store, POLICY, "p.toml", "local").unwrap();
        let outsider = keys::generate();
        let forged = approve(
            &store,
            &p.id,
            &pem(&outsider),
            &sign_approval(&outsider, &p.id),
            "x",
        )
        .unwrap();
        assert!(!forged.counted && forged.note.contains("not a steward"));
        let bad_sig = approve(
            &store,
            &p.id,
            &pem(&k[0]),
            &sign_approval(&k[0], "other"),
            "x",
        )
        .unwrap();
        assert!(!bad_sig.counted && bad_sig.note.contains("does not verify"));
        let first = approve(
            &store,
            &p.id,
            &pem(&k[0]),
            &sign_approval(&k[0], &p.id),
            "x",
        )
        .unwrap();
        assert!(first.counted && !first.enacted);
        let dup = approve(
            &store,
            &p.id,
            &pem(&k[0]),
            &sign_approval(&k[0], &p.id),
            "x",
        )
        .unwrap();
        assert!(!dup.counted && dup.note.contains("duplicate"));
        assert_eq!(policy::current(&store).unwrap().version, None);
        let second = approve(
            &store,
            &p.id[..12],
            &pem(&k[2]),
            &sign_approval(&k[2], &p.id),
            "x",
        )
        .unwrap();
        assert!(second.counted && second.enacted);
        assert_eq!(second.proposal.state, ProposalState::Enacted);
        assert_eq!(policy::current(&store).unwrap().text, POLICY);
        assert!(approve(
            &store,
            &p.id,
            &pem(&k[1]),
            &sign_approval(&k[1], &p.id),
            "x"
        )
        .is_err());
        let actions: Vec<String> = store
            .audit_tail(100)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions
                .iter()
                .filter(|a| a.as_str() == "steward.approve")
                .count(),
            5
        );
        assert!(actions.iter().any(|a| a == "steward.enact"));
        assert!(actions.iter().any(|a| a == "policy.change"));
    }

    #[test]
    fn an_approval_edited_into_the_file_is_not_counted() {
        let (_dir, store) = store();
        let key = keys::generate();
        add_key(&store, &pem(&key), None, "local").unwrap();
        let p = propose_policy(&store, POLICY, "p.toml", "local").unwrap();
        let mut set = load(&store).unwrap();
        set.proposals[0].approvals.push(Approval {
            key_id: set.stewards[0].key_id.clone(),
            public_key_pem: pem(&key),
            signature: sign_approval(&keys::generate(), &p.id),
            time: String::new(),
            actor: "forger".into(),
            counted: true,
            note: String::new(),
        });
        save(&store, &mut set).unwrap();
        let read = load(&store).unwrap();
        assert_eq!(read.proposals[0].counted, 0);
        assert!(!read.proposals[0].approvals[0].counted);
    }

    #[test]
    fn thresholds_and_proposals_are_checked() {
        let (_dir, store) = store();
        assert!(propose_policy(&store, POLICY, "p.toml", "local").is_err());
        let key = keys::generate();
        add_key(&store, &pem(&key), Some("a"), "local").unwrap();
        assert!(add_key(&store, &pem(&key), Some("a"), "local").is_err());
        assert!(set_threshold(&store, 2, "local").is_err());
        assert!(set_threshold(&store, 0, "local").is_err());
        assert!(propose_policy(&store, "nope = 1\n", "p.toml", "local").is_err());
    }
}
