//! Hugging Face model cards: the YAML front matter of a README.md.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use crate::model::{BaseModel, GeneralMetadata};
use crate::FormatError;

/// The machine-readable part of a model card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCard {
    pub license: Option<String>,
    pub base_model: Vec<String>,
    pub datasets: Vec<String>,
    pub language: Vec<String>,
    pub tags: Vec<String>,
    pub pipeline_tag: Option<String>,
    pub library_name: Option<String>,
    pub license_name: Option<String>,
    pub license_link: Option<String>,
}

/// Parses the front matter of a model card: YAML between a first line `---`
/// and the next line `---`. `Ok(None)` when there is no front matter; an
/// error when there is one but it is not a YAML mapping. Every field may be
/// a string or a list of strings.
pub fn parse_model_card(markdown: &str) -> Result<Option<ModelCard>, FormatError> {
    let Some(yaml) = front_matter(markdown) else {
        return Ok(None);
    };
    if yaml.trim().is_empty() {
        return Ok(Some(ModelCard::default()));
    }
    let value: Value = serde_yaml::from_str(yaml).map_err(|e| FormatError::InvalidModelCard {
        problem: e.to_string(),
    })?;
    let mapping = match value {
        Value::Mapping(mapping) => mapping,
        Value::Null => return Ok(Some(ModelCard::default())),
        other => {
            return Err(FormatError::InvalidModelCard {
                problem: format!("expected a mapping of fields, found {}", kind(&other)),
            })
        }
    };
    let list = |key: &str| mapping.get(key).map(strings).unwrap_or_default();
    let single = |key: &str| list(key).into_iter().next();
    Ok(Some(ModelCard {
        license: single("license"),
        base_model: list("base_model"),
        datasets: list("datasets"),
        language: list("language"),
        tags: list("tags"),
        pipeline_tag: single("pipeline_tag"),
        library_name: single("library_name"),
        license_name: single("license_name"),
        license_link: single("license_link"),
    }))
}

impl ModelCard {
    /// Fills the fields of `general` that are still empty from this card.
    pub(crate) fn fill(&self, general: &mut GeneralMetadata) {
        fill_option(&mut general.license, &self.license);
        fill_option(&mut general.license_name, &self.license_name);
        fill_option(&mut general.license_link, &self.license_link);
        if general.base_models.is_empty() {
            general.base_models = self
                .base_model
                .iter()
                .map(|name| BaseModel {
                    name: Some(name.clone()),
                    ..BaseModel::default()
                })
                .collect();
        }
        fill_list(&mut general.datasets, &self.datasets);
        fill_list(&mut general.languages, &self.language);
        fill_list(&mut general.tags, &self.tags);
    }
}

fn fill_option(target: &mut Option<String>, source: &Option<String>) {
    if target.is_none() {
        target.clone_from(source);
    }
}

fn fill_list(target: &mut Vec<String>, source: &[String]) {
    if target.is_empty() {
        target.extend_from_slice(source);
    }
}

/// The text between the opening `---` line and the closing `---` (or `...`)
/// line, if the document starts with front matter.
fn front_matter(markdown: &str) -> Option<&str> {
    let text = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next()?;
    if first.trim_end() != "---" {
        return None;
    }
    let start = first.len();
    let mut end = start;
    for line in lines {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed == "..." {
            return text.get(start..end);
        }
        end += line.len();
    }
    None
}

/// A field as a list of strings: a scalar becomes one item, a sequence its
/// scalar items; nulls, mappings and empty strings are dropped.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn scalar(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(tagged) => return scalar(&tagged.value),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_and_lists() -> Result<(), FormatError> {
        let card = parse_model_card(
            "---\nlicense: apache-2.0\nbase_model: HuggingFaceTB/SmolLM2-135M\n\
             datasets:\n- a/b\n- c/d\nlanguage: [en, fr]\ntags: transformers\n\
             pipeline_tag: text-generation\nlibrary_name: transformers\n---\n# Title\n",
        )?
        .unwrap_or_default();
        assert_eq!(card.license.as_deref(), Some("apache-2.0"));
        assert_eq!(card.base_model, ["HuggingFaceTB/SmolLM2-135M"]);
        assert_eq!(card.datasets, ["a/b", "c/d"]);
        assert_eq!(card.language, ["en", "fr"]);
        assert_eq!(card.tags, ["transformers"]);
        assert_eq!(card.pipeline_tag.as_deref(), Some("text-generation"));
        assert_eq!(card.library_name.as_deref(), Some("transformers"));
        Ok(())
    }

    #[test]
    fn license_other_with_name_and_link() -> Result<(), FormatError> {
        let card = parse_model_card(
            "---\r\nlicense: other\r\nlicense_name: llama3\r\nlicense_link: LICENSE\r\n---\r\n",
        )?
        .unwrap_or_default();
        assert_eq!(card.license.as_deref(), Some("other"));
        assert_eq!(card.license_name.as_deref(), Some("llama3"));
        assert_eq!(card.license_link.as_deref(), Some("LICENSE"));
        Ok(())
    }

    #[test]
    fn no_front_matter_is_none() -> Result<(), FormatError> {
        assert_eq!(parse_model_card("# Just a title\n---\n")?, None);
        assert_eq!(parse_model_card("")?, None);
        // An opening line without a closing one is not front matter.
        assert_eq!(parse_model_card("---\nlicense: mit\n")?, None);
        Ok(())
    }

    #[test]
    fn empty_front_matter_is_an_empty_card() -> Result<(), FormatError> {
        assert_eq!(parse_model_card("---\n---\n")?, Some(ModelCard::default()));
        Ok(())
    }

    #[test]
    fn invalid_yaml_and_non_mappings_are_errors() {
        assert!(matches!(
            parse_model_card("---\nlicense: [unclosed\n---\n"),
            Err(FormatError::InvalidModelCard { .. })
        ));
        assert!(matches!(
            parse_model_card("---\n- a\n- b\n---\n"),
            Err(FormatError::InvalidModelCard { .. })
        ));
    }

    #[test]
    fn numbers_and_nulls_are_tolerated() -> Result<(), FormatError> {
        let card =
            parse_model_card("---\nlicense: ~\ntags: [1, true, '', x]\n---\n")?.unwrap_or_default();
        assert_eq!(card.license, None);
        assert_eq!(card.tags, ["1", "true", "x"]);
        Ok(())
    }

    #[test]
    fn alias_bombs_do_not_expand_without_bound() {
        let mut yaml = String::from("---\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let prev = if level == 1 {
                "a".to_owned()
            } else {
                format!("l{}", level - 1)
            };
            yaml.push_str(&format!(
                "l{level}: &l{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        yaml.push_str("tags: *l11\n---\n");
        // 10^12 elements if expanded: must fail (or be cut short), not hang.
        assert!(parse_model_card(&yaml).is_err());
    }

    #[test]
    fn fill_keeps_what_is_already_known() {
        let card = ModelCard {
            license: Some("mit".into()),
            base_model: vec!["org/base".into()],
            ..ModelCard::default()
        };
        let mut general = GeneralMetadata {
            license: Some("apache-2.0".into()),
            ..GeneralMetadata::default()
        };
        card.fill(&mut general);
        assert_eq!(general.license.as_deref(), Some("apache-2.0"));
        assert_eq!(
            general.base_models.first().and_then(|b| b.name.as_deref()),
            Some("org/base")
        );
    }
}
