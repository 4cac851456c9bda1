//! The provenance record, version 1: who made a model, from what base and
//! data, how, under which license, how it was evaluated and what it is for.
//!
//! `docs/schemas/provenance-v1.json` is the same contract as a JSON Schema;
//! the types here are what commons reads and writes. Parsing is strict
//! (unknown keys are refused) so a typo is reported instead of silently
//! dropped; free-form additions go under `extensions`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The value of a record's `schema` key.
pub const SCHEMA_ID: &str = "commons.provenance.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceRecord {
    #[serde(default = "schema_id")]
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Publisher>,
    /// Where the model can be obtained (a URL or repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_models: Vec<BaseModelRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<Training>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Dataset>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evaluation: Vec<Evaluation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitations: Option<String>,
    /// Anything else the publisher wants to say; not interpreted.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extensions: Map<String, Value>,
}

fn schema_id() -> String {
    SCHEMA_ID.to_string()
}

impl Default for ProvenanceRecord {
    /// An empty record of the current schema.
    fn default() -> Self {
        Self {
            schema: schema_id(),
            name: None,
            version: None,
            description: None,
            publisher: None,
            source: None,
            license: None,
            base_models: Vec::new(),
            training: None,
            datasets: Vec::new(),
            evaluation: Vec::new(),
            intended_use: None,
            limitations: None,
            extensions: Map::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// An SPDX id or expression, or a named model license (`llama3.1`, `gemma`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// `sha256:<hex>` of the license text the model ships, when it ships one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    FineTune,
    Quantization,
    Merge,
    Adapter,
    Distillation,
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseModelRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Manifest digest of the base model (`sha256:<hex>`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    /// The base model's license, as its publisher states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// e.g. `pretraining`, `sft`, `dpo`, `rlhf`, `distillation`, `merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// Hardware and amount, e.g. `64 H100 for 2 days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// Where the training code is (repository URL, commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetRole {
    Pretraining,
    FineTuning,
    Preference,
    Eval,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// `sha256:<hex>` of the data as used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Where the data can be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<DatasetRole>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Digest or URL of an evaluation attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Why a JSON value is not a valid provenance record; `field` is the path of
/// the offending key (`datasets[0].role`), empty for the whole record.
#[derive(Debug, thiserror::Error)]
#[error("provenance field `{field}`: {reason}")]
pub struct RecordError {
    pub field: String,
    pub reason: String,
}

impl RecordError {
    pub fn hint(&self) -> Option<String> {
        Some(
            "see docs/provenance.md for the record's fields; docs/schemas/provenance-v1.json is its JSON Schema"
                .into(),
        )
    }
}

impl ProvenanceRecord {
    /// Reads a record written by a person: shorthands are expanded first
    /// (`"license": "MIT"`, `"publisher": "Org"`, `"datasets": ["name"]`),
    /// then every key is checked; an error names the first bad field.
    pub fn from_json(value: &Value) -> Result<Self, RecordError> {
        let mut value = value.clone();
        expand_shorthands(&mut value)?;
        let record: ProvenanceRecord =
            serde_path_to_error::deserialize(&value).map_err(|e| RecordError {
                field: display_path(&e.path().to_string()),
                reason: e.inner().to_string(),
            })?;
        if record.schema != SCHEMA_ID {
            return Err(RecordError {
                field: "schema".into(),
                reason: format!("expected `{SCHEMA_ID}`, found `{}`", record.schema),
            });
        }
        Ok(record)
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Sets `key` (a dotted path such as `training.method` or `license.id`)
    /// to `value` and checks the result; the record is unchanged on error.
    /// `value` is tried as JSON first (lists, objects, numbers), then as a
    /// plain string, so `set version 3` and `set datasets '["d"]'` both work.
    pub fn set(&self, key: &str, value: &str) -> Result<Self, RecordError> {
        let as_string = Value::String(value.to_string());
        match serde_json::from_str::<Value>(value) {
            // Structured values are meant as JSON; a scalar may be a string
            // that happens to look like a number (`version 3`).
            Ok(json @ (Value::Array(_) | Value::Object(_))) => self.set_value(key, json),
            Ok(json) if json != as_string => self
                .set_value(key, json)
                .or_else(|first| self.set_value(key, as_string).map_err(|_| first)),
            _ => self.set_value(key, as_string),
        }
    }

    fn set_value(&self, key: &str, value: Value) -> Result<Self, RecordError> {
        let mut json = self.to_json();
        if key.split('.').any(str::is_empty) {
            return Err(RecordError {
                field: key.into(),
                reason: "empty key segment".into(),
            });
        }
        let mut slot = &mut json;
        for part in key.split('.') {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(map) = slot else {
                return Err(RecordError {
                    field: key.into(),
                    reason: "internal error: expected an object".into(),
                });
            };
            slot = map.entry(part.to_string()).or_insert(Value::Null);
        }
        *slot = value;
        Self::from_json(&json).map_err(|mut e| {
            if e.field.is_empty() {
                e.field = key.into();
            }
            e
        })
    }

    /// Fields of `overlay` that are set replace those of `self`; lists replace
    /// lists when not empty; extensions are merged key by key.
    pub fn merged_with(&self, overlay: &ProvenanceRecord) -> ProvenanceRecord {
        fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        fn pick_list<T: Clone>(over: &[T], base: &[T]) -> Vec<T> {
            if over.is_empty() { base } else { over }.to_vec()
        }
        let mut extensions = self.extensions.clone();
        extensions.extend(overlay.extensions.clone());
        ProvenanceRecord {
            schema: SCHEMA_ID.into(),
            name: pick(&overlay.name, &self.name),
            version: pick(&overlay.version, &self.version),
            description: pick(&overlay.description, &self.description),
            publisher: pick(&overlay.publisher, &self.publisher),
            source: pick(&overlay.source, &self.source),
            license: match (&overlay.license, &self.license) {
                // Keep the digest of the shipped text when the overlay only names the id.
                (Some(over), Some(base))
                    if over.text_digest.is_none() && over.id.eq_ignore_ascii_case(&base.id) =>
                {
                    Some(License {
                        text_digest: base.text_digest.clone(),
                        ..over.clone()
                    })
                }
                (over, base) => pick(over, base),
            },
            base_models: pick_list(&overlay.base_models, &self.base_models),
            training: pick(&overlay.training, &self.training),
            datasets: pick_list(&overlay.datasets, &self.datasets),
            evaluation: pick_list(&overlay.evaluation, &self.evaluation),
            intended_use: pick(&overlay.intended_use, &self.intended_use),
            limitations: pick(&overlay.limitations, &self.limitations),
            extensions,
        }
    }

    pub fn license_id(&self) -> Option<&str> {
        self.license
            .as_ref()
            .map(|l| l.id.trim())
            .filter(|id| !id.is_empty())
    }
}

/// `.` is what serde_path_to_error prints for the root.
fn display_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_string()
    }
}

/// Expands the shorthands people write into the record's full form.
fn expand_shorthands(value: &mut Value) -> Result<(), RecordError> {
    let Value::Object(map) = value else {
        return Err(RecordError {
            field: String::new(),
            reason: "a provenance record is a JSON object".into(),
        });
    };
    let wrap = |v: &mut Value, key: &str| {
        if let Value::String(s) = v {
            *v = serde_json::json!({ key: s.clone() });
        }
    };
    if let Some(v) = map.get_mut("publisher") {
        wrap(v, "name");
    }
    if let Some(v) = map.get_mut("license") {
        wrap(v, "id");
    }
    for (list, key) in [
        ("base_models", "name"),
        ("datasets", "name"),
        ("evaluation", "attestation"),
    ] {
        if let Some(v) = map.get_mut(list) {
            // A single item may be given without the list around it.
            if v.is_string() || v.is_object() {
                *v = Value::Array(vec![v.take()]);
            }
            if let Value::Array(items) = v {
                for item in items {
                    wrap(item, key);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shorthands_expand() {
        let r = ProvenanceRecord::from_json(&json!({
            "publisher": "HuggingFaceTB",
            "license": "apache-2.0",
            "datasets": ["smoltalk", {"name": "fineweb-edu", "role": "pretraining"}],
            "base_models": "SmolLM2-135M",
        }))
        .unwrap();
        assert_eq!(r.publisher.unwrap().name, "HuggingFaceTB");
        assert_eq!(r.license.unwrap().id, "apache-2.0");
        assert_eq!(r.datasets.len(), 2);
        assert_eq!(r.datasets[1].role, Some(DatasetRole::Pretraining));
        assert_eq!(r.base_models[0].name.as_deref(), Some("SmolLM2-135M"));
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            ProvenanceRecord::from_json(&json!({"datasets": [{"name": "x", "role": "pretrain"}]}))
                .unwrap_err();
        assert_eq!(e.field, "datasets[0].role");
        assert!(e.reason.contains("pretrain"), "{e}");

        let e = ProvenanceRecord::from_json(&json!({"trained_by": "x"})).unwrap_err();
        assert!(e.reason.contains("trained_by"), "{e}");

        let e = ProvenanceRecord::from_json(&json!({"training": {"method": 3}})).unwrap_err();
        assert_eq!(e.field, "training.method");

        let e = ProvenanceRecord::from_json(&json!({"schema": "other"})).unwrap_err();
        assert_eq!(e.field, "schema");

        let e = ProvenanceRecord::from_json(&json!([1])).unwrap_err();
        assert!(e.reason.contains("object"));
    }

    #[test]
    fn set_takes_dotted_keys_and_validates() {
        let r = ProvenanceRecord::default();
        let r = r.set("training.method", "sft").unwrap();
        let r = r.set("license", "MIT").unwrap();
        let r = r.set("license.text_digest", "sha256:00").unwrap();
        let r = r
            .set("datasets", r#"[{"name":"d","role":"fine-tuning"}]"#)
            .unwrap();
        assert_eq!(r.training.as_ref().unwrap().method.as_deref(), Some("sft"));
        assert_eq!(r.license.as_ref().unwrap().id, "MIT");
        assert_eq!(
            r.license.as_ref().unwrap().text_digest.as_deref(),
            Some("sha256:00")
        );
        assert_eq!(r.datasets[0].role, Some(DatasetRole::FineTuning));
        let e = r
            .set("datasets", r#"[{"name":"d","role":"x"}]"#)
            .unwrap_err();
        assert_eq!(e.field, "datasets[0].role");
        assert!(r.set("nonsense", "1").is_err());
        // A number-looking value for a string field stays a string.
        let r = r.set("version", "3").unwrap();
        assert_eq!(r.version.as_deref(), Some("3"));
        assert_eq!(r.set("training", "5").unwrap_err().field, "training");
    }

    #[test]
    fn overlay_wins_and_keeps_the_license_text_digest() {
        let base = ProvenanceRecord::from_json(&json!({
            "license": {"id": "Apache-2.0", "text_digest": "sha256:aa"},
            "datasets": ["a"], "publisher": "P"
        }))
        .unwrap();
        let over =
            ProvenanceRecord::from_json(&json!({"license": "apache-2.0", "intended_use": "chat"}))
                .unwrap();
        let m = base.merged_with(&over);
        assert_eq!(
            m.license.as_ref().unwrap().text_digest.as_deref(),
            Some("sha256:aa")
        );
        assert_eq!(m.license.as_ref().unwrap().id, "apache-2.0");
        assert_eq!(m.datasets.len(), 1);
        assert_eq!(m.publisher.unwrap().name, "P");
        assert_eq!(m.intended_use.as_deref(), Some("chat"));
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    const SCHEMA: &str = include_str!("../../../docs/schemas/provenance-v1.json");

    /// The JSON Schema and the types must name the same fields: every
    /// property the schema lists is accepted, and a full record uses only
    /// properties the schema lists.
    #[test]
    fn the_json_schema_and_the_types_agree() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let full = serde_json::json!({
            "schema": SCHEMA_ID, "name": "n", "version": "1", "description": "d",
            "publisher": {"name": "p", "url": "u"}, "source": "s",
            "license": {"id": "MIT", "name": "MIT", "link": "l", "text_digest": "sha256:00"},
            "base_models": [{"name": "b", "digest": "sha256:00", "organization": "o",
                             "source": "s", "relation": "fine-tune", "license": "MIT"}],
            "training": {"method": "sft", "objective": "o", "compute": "c", "code": "c"},
            "datasets": [{"name": "d", "version": "1", "license": "MIT", "digest": "sha256:00",
                          "reference": "r", "role": "eval"}],
            "evaluation": [{"name": "e", "attestation": "a", "summary": "s"}],
            "intended_use": "i", "limitations": "l", "extensions": {"x": 1}
        });
        let record = ProvenanceRecord::from_json(&full).unwrap();
        assert_eq!(record.to_json(), full, "every field round-trips");
        fn check(schema: &Value, value: &Value, at: &str) {
            let (Some(props), Value::Object(map)) = (schema.get("properties"), value) else {
                return;
            };
            let schema_keys: Vec<&String> = props.as_object().unwrap().keys().collect();
            let value_keys: Vec<&String> = map.keys().collect();
            let mut a = schema_keys.clone();
            let mut b = value_keys.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "properties of {at}");
            for (k, v) in map {
                let sub = &props[k];
                match v {
                    Value::Array(items) => check(&sub["items"], &items[0], &format!("{at}.{k}[]")),
                    _ => check(sub, v, &format!("{at}.{k}")),
                }
            }
        }
        check(&schema, &full, "record");
    }
}
