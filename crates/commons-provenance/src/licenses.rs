//! The license knowledge base (`data/licenses/licenses.json`, embedded) and
//! the comparisons license checks make with it.
//!
//! Ids are matched case-insensitively, with aliases (GGUF files say
//! `apache-2.0`, model cards `llama3.1`). An id the base does not know is
//! reported as unknown, never mapped to a near match: a wrong guess about a
//! license is worse than no answer.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const LICENSES_JSON: &str = include_str!("../../../data/licenses/licenses.json");

/// What a license allows and requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseInfo {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `software`, `content`, `data` or `model`.
    pub kind: String,
    pub osi_approved: bool,
    /// Use, study, modification and redistribution for any purpose (OSI or
    /// open content/data license): the Model Openness Framework's "open".
    pub open: bool,
    pub commercial_use: bool,
    /// Field-of-use or behavioural restrictions (RAIL clauses, acceptable-use
    /// policies, non-commercial, no-derivatives).
    pub use_restrictions: bool,
    pub attribution: bool,
    /// Derivatives must be released under the same (or these) terms.
    pub share_alike: bool,
    /// Users (monthly active) above which a separate license is needed.
    pub user_limit: Option<u64>,
    /// Restrictiveness: higher allows less (0 public domain … 8 NC-ND).
    pub rank: u8,
}

#[derive(Deserialize)]
struct Book {
    licenses: Vec<LicenseInfo>,
}

/// Every license the base knows; empty only if the embedded data is broken,
/// which a unit test rules out.
pub fn known_licenses() -> &'static [LicenseInfo] {
    static BOOK: OnceLock<Vec<LicenseInfo>> = OnceLock::new();
    BOOK.get_or_init(|| {
        serde_json::from_str::<Book>(LICENSES_JSON)
            .map(|b| b.licenses)
            .unwrap_or_default()
    })
}

/// The license a single id (or alias) names, case-insensitively.
pub fn lookup(id: &str) -> Option<&'static LicenseInfo> {
    let id = id.trim();
    known_licenses().iter().find(|l| {
        l.id.eq_ignore_ascii_case(id) || l.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    })
}

/// What a license id or simple SPDX expression amounts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The text as given.
    pub given: String,
    /// Whether every id in it is known.
    pub known: bool,
    /// The license that decides (for `A OR B` the least restrictive choice,
    /// for `A AND B` the most restrictive part); `None` when unknown.
    pub effective: Option<LicenseInfo>,
    /// Ids the base does not know.
    pub unknown_ids: Vec<String>,
}

/// Assesses an id or an SPDX expression of `OR` / `AND` (`WITH` exceptions
/// and parentheses are read as part of the id they follow, so they make the
/// expression unknown rather than misread).
pub fn assess(given: &str) -> Assessment {
    let text = given.trim();
    let mut unknown_ids = Vec::new();
    // `A OR B AND C` binds as `A OR (B AND C)` in SPDX.
    let alternatives: Vec<Option<&LicenseInfo>> = split_word(text, "OR")
        .iter()
        .map(|alt| {
            let mut most: Option<&LicenseInfo> = None;
            let mut all_known = true;
            for part in split_word(alt, "AND") {
                match lookup(&part) {
                    Some(l) => {
                        if most.is_none_or(|m| l.rank > m.rank) {
                            most = Some(l);
                        }
                    }
                    None => {
                        all_known = false;
                        unknown_ids.push(part.trim().to_string());
                    }
                }
            }
            if all_known {
                most
            } else {
                None
            }
        })
        .collect();
    let known = !text.is_empty() && alternatives.iter().all(Option::is_some);
    let effective = if known {
        alternatives
            .into_iter()
            .flatten()
            .min_by_key(|l| l.rank)
            .cloned()
    } else {
        None
    };
    if text.is_empty() {
        unknown_ids.push(String::new());
    }
    Assessment {
        given: given.to_string(),
        known,
        effective,
        unknown_ids,
    }
}

/// Splits on a whole-word operator, case-insensitively.
fn split_word(text: &str, op: &str) -> Vec<String> {
    let mut parts = vec![Vec::new()];
    for token in text.split_whitespace() {
        if token.eq_ignore_ascii_case(op) {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(token);
        }
    }
    parts.into_iter().map(|p| p.join(" ")).collect()
}

/// Why a license is more restrictive than another, in words.
pub fn stricter_because(stricter: &LicenseInfo, than: &LicenseInfo) -> String {
    let mut reasons = Vec::new();
    if !stricter.commercial_use && than.commercial_use {
        reasons.push("forbids commercial use".to_string());
    }
    if stricter.use_restrictions && !than.use_restrictions {
        reasons.push("adds use restrictions".to_string());
    }
    if stricter.share_alike && !than.share_alike {
        reasons.push("requires share-alike".to_string());
    }
    if let (Some(limit), None) = (stricter.user_limit, than.user_limit) {
        reasons.push(format!("limits use above {limit} monthly users"));
    }
    if stricter.open != than.open && !stricter.open {
        reasons.push("is not an open license".to_string());
    }
    if reasons.is_empty() {
        format!("rank {} vs {}", stricter.rank, than.rank)
    } else {
        reasons.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_base_parses_and_ids_are_unique() {
        let all = known_licenses();
        assert!(all.len() >= 40, "{}", all.len());
        let mut names: Vec<String> = all
            .iter()
            .flat_map(|l| std::iter::once(l.id.clone()).chain(l.aliases.clone()))
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total, "an id or alias appears twice");
    }

    #[test]
    fn ids_match_case_insensitively() {
        assert_eq!(lookup("apache-2.0").unwrap().id, "Apache-2.0");
        assert_eq!(lookup("LLAMA3.1").unwrap().id, "Llama3.1");
        assert_eq!(lookup("creativeml-openrail-m").unwrap().rank, 4);
        assert!(lookup("apache").is_none(), "no guessing");
        assert!(lookup("other").is_none());
    }

    #[test]
    fn attributes_are_what_the_licenses_say() {
        let cc_nc = lookup("cc-by-nc-4.0").unwrap();
        assert!(!cc_nc.commercial_use && !cc_nc.open);
        let llama = lookup("llama3.2").unwrap();
        assert_eq!(llama.user_limit, Some(700_000_000));
        assert!(llama.use_restrictions && !llama.osi_approved);
        let mit = lookup("MIT").unwrap();
        assert!(mit.osi_approved && mit.open && mit.commercial_use);
        assert!(lookup("cc-by-sa-4.0").unwrap().share_alike);
        assert!(lookup("CC0-1.0").unwrap().rank < mit.rank);
        assert!(mit.rank < lookup("gemma").unwrap().rank);
    }

    #[test]
    fn expressions() {
        let a = assess("MIT OR Apache-2.0");
        assert!(a.known);
        assert_eq!(a.effective.unwrap().rank, 1);
        let a = assess("mit AND cc-by-nc-4.0");
        assert_eq!(a.effective.unwrap().id, "CC-BY-NC-4.0");
        let a = assess("MIT OR cc-by-nc-4.0");
        assert_eq!(a.effective.unwrap().id, "MIT");
        let a = assess("MIT OR mystery-1.0");
        assert!(!a.known);
        assert_eq!(a.unknown_ids, vec!["mystery-1.0"]);
        assert!(!assess("").known);
        assert!(!assess("other").known);
    }
}
