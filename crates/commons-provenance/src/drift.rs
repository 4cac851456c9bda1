//! License drift: a model name whose newer tags carry a more restrictive
//! license than older ones (users upgrading inherit terms they did not
//! agree to), and a derived model claiming a more permissive license than its
//! base allows (terms laundered through a fine-tune).

use serde::Serialize;

use crate::licenses::{self, LicenseInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The license id is not in the knowledge base (a warning, not drift).
    UnknownLicense,
    /// No license is stated at all.
    NoLicense,
    /// A newer tag of the same name is more restrictive than an older one.
    TightenedOverTags,
    /// The model claims a more permissive license than its base.
    LooserThanBase,
    /// The base requires derivatives to keep its terms and the model does not.
    ShareAlikeBroken,
}

impl FindingKind {
    /// Drift is a problem to fix; an unknown or missing license is something
    /// to look at.
    pub fn is_drift(self) -> bool {
        matches!(
            self,
            FindingKind::TightenedOverTags
                | FindingKind::LooserThanBase
                | FindingKind::ShareAlikeBroken
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub message: String,
}

/// One version of a model name, oldest first when passed to [`tag_drift`].
#[derive(Debug, Clone)]
pub struct TaggedLicense {
    /// `name:tag`
    pub reference: String,
    pub license: Option<String>,
}

fn effective(license: Option<&str>) -> Option<LicenseInfo> {
    license.and_then(|l| licenses::assess(l).effective)
}

/// Flags every step in a name's history (oldest first) where the license got
/// more restrictive. Unknown licenses are skipped here; [`license_findings`]
/// reports them.
pub fn tag_drift(history: &[TaggedLicense]) -> Vec<Finding> {
    let known: Vec<(&TaggedLicense, LicenseInfo)> = history
        .iter()
        .filter_map(|t| effective(t.license.as_deref()).map(|l| (t, l)))
        .collect();
    known
        .windows(2)
        .filter_map(|pair| {
            let [(old, old_l), (new, new_l)] = pair else {
                return None;
            };
            (new_l.rank > old_l.rank).then(|| Finding {
                kind: FindingKind::TightenedOverTags,
                message: format!(
                    "{} is under {} but the newer {} is under {}, which {}",
                    old.reference,
                    old_l.id,
                    new.reference,
                    new_l.id,
                    licenses::stricter_because(new_l, old_l)
                ),
            })
        })
        .collect()
}

/// Findings about one license on its own: missing or unknown.
pub fn license_findings(reference: &str, license: Option<&str>) -> Vec<Finding> {
    match license.map(str::trim).filter(|l| !l.is_empty()) {
        None => vec![Finding {
            kind: FindingKind::NoLicense,
            message: format!("{reference} states no license"),
        }],
        Some(l) => {
            let a = licenses::assess(l);
            if a.known {
                Vec::new()
            } else {
                vec![Finding {
                    kind: FindingKind::UnknownLicense,
                    message: format!(
                        "{reference}: license `{l}` is unknown ({}); commons does not guess what it allows",
                        a.unknown_ids.join(", ")
                    ),
                }]
            }
        }
    }
}

/// Compares a derived model's license with its base's.
pub fn base_drift(
    reference: &str,
    license: Option<&str>,
    base: &str,
    base_license: Option<&str>,
) -> Vec<Finding> {
    let (Some(own), Some(base_l)) = (effective(license), effective(base_license)) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    if own.rank < base_l.rank {
        findings.push(Finding {
            kind: FindingKind::LooserThanBase,
            message: format!(
                "{reference} claims {} but its base {base} is under {}, which {}",
                own.id,
                base_l.id,
                licenses::stricter_because(&base_l, &own)
            ),
        });
    } else if base_l.share_alike && own.id != base_l.id {
        findings.push(Finding {
            kind: FindingKind::ShareAlikeBroken,
            message: format!(
                "{reference} is under {} but its base {base} is under the share-alike {}, whose terms derivatives must keep",
                own.id, base_l.id
            ),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(reference: &str, license: &str) -> TaggedLicense {
        TaggedLicense {
            reference: reference.into(),
            license: Some(license.into()),
        }
    }

    #[test]
    fn tightening_over_tags_is_flagged_loosening_is_not() {
        let history = [
            tagged("m:v1", "apache-2.0"),
            tagged("m:v2", "MIT"),
            tagged("m:v3", "cc-by-nc-4.0"),
            tagged("m:v4", "apache-2.0"),
        ];
        let findings = tag_drift(&history);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("m:v3"));
        assert!(findings[0].message.contains("forbids commercial use"));
    }

    #[test]
    fn derived_models_cannot_loosen_their_base() {
        let f = base_drift("ft:1", Some("apache-2.0"), "llama:3.1", Some("llama3.1"));
        assert_eq!(f[0].kind, FindingKind::LooserThanBase);
        assert!(base_drift("ft:1", Some("llama3.1"), "base", Some("apache-2.0")).is_empty());
        let f = base_drift(
            "ft:1",
            Some("openrail-m"),
            "sd",
            Some("creativeml-openrail-m"),
        );
        assert_eq!(f[0].kind, FindingKind::ShareAlikeBroken);
        assert!(base_drift("ft:1", Some("mystery"), "b", Some("MIT")).is_empty());
    }

    #[test]
    fn unknown_and_missing_licenses_are_reported() {
        assert_eq!(
            license_findings("m", Some("other"))[0].kind,
            FindingKind::UnknownLicense
        );
        assert_eq!(license_findings("m", None)[0].kind, FindingKind::NoLicense);
        assert!(license_findings("m", Some("Apache-2.0")).is_empty());
    }
}
