//! The suite format (docs/eval.md, "Suite format"): parsing from a folder, a
//! single file or the canonical form, validation that names the bad item, and
//! the canonical bytes whose sha256 is the suite's identity.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::{canonical_json, canonical_jsonl, is_sha256_digest, sha256_digest};
use crate::error::EvalError;

/// The store reads a blob into memory up to 64 MiB; a suite must fit.
pub const MAX_SUITE_BYTES: u64 = commons_store::READ_BLOB_LIMIT;
pub const MAX_ITEM_BYTES: usize = 4 << 20;
pub const MAX_ITEMS: usize = 1_000_000;
const MAX_NAME_LEN: usize = 64;
const MAX_GENERATION_TOKENS: u32 = 4096;
const MAX_TIMEOUT_S: u32 = 300;
const MAX_MEMORY_MB: u32 = 16384;

/// What a suite asks of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    MultipleChoice,
    Generation,
    Code,
    Probe,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MultipleChoice => "multiple_choice",
            Kind::Generation => "generation",
            Kind::Code => "code",
            Kind::Probe => "probe",
        }
    }

    /// Metrics this kind can report; the first is the default for one-metric kinds.
    pub fn allowed_metrics(self) -> &'static [Metric] {
        match self {
            Kind::MultipleChoice => &[Metric::Acc, Metric::AccNorm],
            Kind::Generation => &[
                Metric::ExactMatch,
                Metric::Regex,
                Metric::Numeric,
                Metric::Contains,
            ],
            Kind::Code => &[Metric::PassAt1],
            Kind::Probe => &[Metric::PassRate],
        }
    }

    fn default_metrics(self) -> Vec<Metric> {
        match self {
            Kind::MultipleChoice => vec![Metric::Acc, Metric::AccNorm],
            Kind::Generation => vec![Metric::ExactMatch],
            Kind::Code => vec![Metric::PassAt1],
            Kind::Probe => vec![Metric::PassRate],
        }
    }
}

/// How an item is judged right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    #[serde(rename = "acc")]
    Acc,
    #[serde(rename = "acc_norm")]
    AccNorm,
    #[serde(rename = "exact_match")]
    ExactMatch,
    #[serde(rename = "regex")]
    Regex,
    #[serde(rename = "numeric")]
    Numeric,
    #[serde(rename = "contains")]
    Contains,
    #[serde(rename = "pass@1")]
    PassAt1,
    #[serde(rename = "pass_rate")]
    PassRate,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Acc => "acc",
            Metric::AccNorm => "acc_norm",
            Metric::ExactMatch => "exact_match",
            Metric::Regex => "regex",
            Metric::Numeric => "numeric",
            Metric::Contains => "contains",
            Metric::PassAt1 => "pass@1",
            Metric::PassRate => "pass_rate",
        }
    }
}

/// `metric: acc` or `metric: [acc, acc_norm]`, kept as written (it is digested).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricSpec {
    One(Metric),
    Many(Vec<Metric>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub package: String,
    #[serde(deserialize_with = "string_or_number")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShot {
    pub prompt: String,
    pub answer: String,
}

/// How the text sent to the model is built (lm-eval's layout).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preamble: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub few_shot: Option<Vec<FewShot>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fewshot_delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

impl PromptSettings {
    pub fn fewshot_delimiter(&self) -> &str {
        self.fewshot_delimiter.as_deref().unwrap_or("\n\n")
    }
    pub fn target_delimiter(&self) -> &str {
        self.target_delimiter.as_deref().unwrap_or(" ")
    }
    pub fn chat(&self) -> bool {
        self.chat.unwrap_or(false)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl GenerationSettings {
    pub fn max_tokens(&self) -> u32 {
        self.max_tokens.unwrap_or(256)
    }
    pub fn stop(&self) -> &[String] {
        self.stop.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
}

impl CodeSettings {
    pub fn timeout_s(&self) -> u32 {
        self.timeout_s.unwrap_or(10)
    }
    pub fn memory_mb(&self) -> u32 {
        self.memory_mb.unwrap_or(512)
    }
}

/// The suite header, exactly the fields given (defaults are read through accessors,
/// never written back, so the digest covers what the author wrote).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    #[serde(deserialize_with = "string_or_number")]
    pub version: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub license: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal_markers: Option<Vec<String>>,
}

impl Header {
    /// The metrics this suite reports, in order.
    pub fn metrics(&self) -> Vec<Metric> {
        match &self.metric {
            None => self.kind.default_metrics(),
            Some(MetricSpec::One(m)) => vec![*m],
            Some(MetricSpec::Many(ms)) => ms.clone(),
        }
    }

    pub fn prompt_settings(&self) -> PromptSettings {
        self.prompt.clone().unwrap_or_default()
    }

    pub fn generation_settings(&self) -> GenerationSettings {
        self.generation.clone().unwrap_or_default()
    }

    pub fn code_settings(&self) -> CodeSettings {
        self.code.clone().unwrap_or_default()
    }
}

/// A probe's check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    Refusal,
    NoRefusal,
    Leak { secret: String },
}

/// What an item asks, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    MultipleChoice {
        choices: Vec<String>,
        answer: usize,
    },
    Generation {
        /// Accepted answers as text (a numeric answer is kept as written).
        answers: Vec<String>,
        pattern: Option<String>,
    },
    Code {
        tests: String,
        entry_point: String,
    },
    Probe {
        check: Check,
    },
}

/// One validated item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub prompt: String,
    pub system: Option<String>,
    pub task: Task,
}

/// An item line as written; which fields are required depends on the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: Value,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    choices: Option<Vec<String>>,
    #[serde(default)]
    answer: Option<Value>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    tests: Option<String>,
    #[serde(default)]
    entry_point: Option<String>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    check: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)] // digested, never scored
    metadata: Option<serde_json::Map<String, Value>>,
}

/// A parsed, validated suite with its canonical bytes and digest.
#[derive(Debug, Clone)]
pub struct Suite {
    pub header: Header,
    pub items: Vec<Item>,
    canonical: Vec<u8>,
    digest: String,
}

impl Suite {
    /// `sha256:<hex>` over the canonical bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The canonical form (header JSON line, then item lines), as stored.
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.canonical
    }

    /// Reads a suite folder (`suite.yaml` + `items.jsonl`), a single file
    /// (header, `---`, items) or a file in the canonical form.
    pub fn load(path: &Path) -> Result<Suite, EvalError> {
        let origin = path.display().to_string();
        if path.is_dir() {
            let header = read_bounded(&path.join("suite.yaml"))?;
            let items = read_bounded(&path.join("items.jsonl"))?;
            return Suite::parse_parts(&header, &items, &origin);
        }
        let text = read_bounded(path)?;
        Suite::parse_text(&text, &origin)
    }

    /// Parses a single-file suite or the canonical form.
    pub fn parse_text(text: &str, origin: &str) -> Result<Suite, EvalError> {
        if text.trim_start().starts_with('{') {
            let (header, items) = text.split_once('\n').unwrap_or((text, ""));
            return Suite::parse_parts(header, items, origin);
        }
        let body = text
            .strip_prefix("---\n")
            .or_else(|| text.strip_prefix("---\r\n"))
            .unwrap_or(text);
        let mut header = String::new();
        let mut rest = None;
        let mut offset = 0;
        for line in body.split_inclusive('\n') {
            offset += line.len();
            if line.trim_end_matches(['\n', '\r']) == "---" {
                rest = Some(&body[offset..]);
                break;
            }
            header.push_str(line);
        }
        let Some(items) = rest else {
            return Err(invalid(
                origin,
                vec!["no `---` line between the header and the items".into()],
            ));
        };
        Suite::parse_parts(&header, items, origin)
    }

    /// Parses a header (YAML, which includes JSON) and JSON Lines items.
    pub fn parse_parts(
        header_text: &str,
        items_text: &str,
        origin: &str,
    ) -> Result<Suite, EvalError> {
        let header_value: Value = serde_yaml::from_str(header_text)
            .map_err(|e| invalid(origin, vec![format!("header: {e}")]))?;
        let header: Header = serde_json::from_value(header_value)
            .map_err(|e| invalid(origin, vec![format!("header: {e}")]))?;
        let mut problems = validate_header(&header);

        let mut items = Vec::new();
        let mut raw_values = Vec::new();
        let mut seen = HashSet::new();
        let mut number = 0usize;
        for line in items_text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            number += 1;
            if number > MAX_ITEMS {
                problems.push(format!("more than {MAX_ITEMS} items"));
                break;
            }
            if line.len() > MAX_ITEM_BYTES {
                problems.push(format!(
                    "item {number}: {} bytes is more than the {MAX_ITEM_BYTES} allowed",
                    line.len()
                ));
                continue;
            }
            let value: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("item {number}: not a JSON object: {e}"));
                    continue;
                }
            };
            match parse_item(&header, &value) {
                Ok(item) => {
                    if !seen.insert(item.id.clone()) {
                        problems.push(format!(
                            "item {number} (id {:?}): the id is used by an earlier item",
                            item.id
                        ));
                    }
                    items.push(item);
                }
                Err(ItemProblem { id, reason }) => {
                    problems.push(match id {
                        Some(id) => format!("item {number} (id {id:?}): {reason}"),
                        None => format!("item {number}: {reason}"),
                    });
                }
            }
            raw_values.push(value);
        }
        if number == 0 {
            problems.push("the suite has no items".into());
        }
        if !problems.is_empty() {
            return Err(invalid(origin, problems));
        }

        let header_json = serde_json::to_value(&header).map_err(|source| EvalError::Json {
            context: "serialize a suite header".into(),
            source,
        })?;
        let mut canonical = canonical_json(&header_json).into_bytes();
        canonical.push(b'\n');
        canonical.extend(canonical_jsonl(&raw_values));
        let digest = sha256_digest(&canonical);
        Ok(Suite {
            header,
            items,
            canonical,
            digest,
        })
    }
}

fn invalid(origin: &str, problems: Vec<String>) -> EvalError {
    EvalError::InvalidSuite {
        origin: origin.to_string(),
        problems,
    }
}

fn read_bounded(path: &Path) -> Result<String, EvalError> {
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_SUITE_BYTES {
        return Err(invalid(
            &path.display().to_string(),
            vec![format!(
                "{size} bytes is more than the {MAX_SUITE_BYTES} a suite may have"
            )],
        ));
    }
    std::fs::read_to_string(path).map_err(io)
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        I(i64),
        F(f64),
    }
    Ok(match Either::deserialize(d)? {
        Either::S(s) => s,
        Either::I(i) => i.to_string(),
        Either::F(f) => f.to_string(),
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`: an OCI path component, so a suite can be a repository.
fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &name[start..i];
        let dashes = sep.bytes().all(|b| b == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return false;
        }
    }
    true
}

fn validate_header(h: &Header) -> Vec<String> {
    let mut p = Vec::new();
    if !valid_name(&h.name) || h.name.len() > MAX_NAME_LEN {
        p.push(format!(
            "header: name {:?} must be lowercase letters and digits joined by `.`, `_`, `__` or `-`, at most {MAX_NAME_LEN} characters",
            h.name
        ));
    }
    if h.version.trim().is_empty() {
        p.push("header: version is empty".into());
    }
    if h.license.trim().is_empty() {
        p.push("header: license is empty".into());
    }
    if h.source.package.trim().is_empty() || h.source.version.trim().is_empty() {
        p.push("header: source.package and source.version must not be empty".into());
    }
    if let Some(d) = &h.source_digest {
        if !is_sha256_digest(d) {
            p.push(format!(
                "header: source_digest {d:?} is not `sha256:` and 64 lowercase hex digits"
            ));
        }
    }
    let metrics = h.metrics();
    if metrics.is_empty() {
        p.push("header: metric is an empty list".into());
    }
    for m in &metrics {
        if !h.kind.allowed_metrics().contains(m) {
            let allowed: Vec<&str> = h
                .kind
                .allowed_metrics()
                .iter()
                .map(|m| m.as_str())
                .collect();
            p.push(format!(
                "header: metric `{}` does not apply to a {} suite (use {})",
                m.as_str(),
                h.kind.as_str(),
                allowed.join(", ")
            ));
        }
    }
    if h.kind == Kind::Generation && metrics.len() > 1 {
        p.push("header: a generation suite is scored by one metric".into());
    }
    if let Some(g) = &h.generation {
        if g.max_tokens == Some(0) || g.max_tokens.unwrap_or(1) > MAX_GENERATION_TOKENS {
            p.push(format!(
                "header: generation.max_tokens must be between 1 and {MAX_GENERATION_TOKENS}"
            ));
        }
        if g.stop
            .as_ref()
            .is_some_and(|s| s.iter().any(String::is_empty))
        {
            p.push("header: generation.stop has an empty string".into());
        }
        if let Some(pattern) = &g.pattern {
            if let Err(e) = regex::Regex::new(pattern) {
                p.push(format!("header: generation.pattern is not a regex: {e}"));
            }
        }
    }
    if let Some(c) = &h.code {
        if c.language.as_deref().is_some_and(|l| l != "python") {
            p.push("header: code.language must be `python`".into());
        }
        if c.timeout_s == Some(0) || c.timeout_s.unwrap_or(1) > MAX_TIMEOUT_S {
            p.push(format!(
                "header: code.timeout_s must be between 1 and {MAX_TIMEOUT_S}"
            ));
        }
        if c.memory_mb.unwrap_or(512) < 16 || c.memory_mb.unwrap_or(512) > MAX_MEMORY_MB {
            p.push(format!(
                "header: code.memory_mb must be between 16 and {MAX_MEMORY_MB}"
            ));
        }
    }
    if let Some(markers) = &h.refusal_markers {
        if h.kind != Kind::Probe {
            p.push("header: refusal_markers only apply to probe suites".into());
        }
        if markers.is_empty()
            || markers
                .iter()
                .any(|m| m.is_empty() || m.to_lowercase() != *m)
        {
            p.push("header: refusal_markers must be non-empty lowercase phrases".into());
        }
    }
    if let Some(shots) = h.prompt.as_ref().and_then(|p| p.few_shot.as_ref()) {
        if shots.iter().any(|s| s.prompt.is_empty()) {
            p.push("header: a prompt.few_shot example has an empty prompt".into());
        }
    }
    p
}

struct ItemProblem {
    id: Option<String>,
    reason: String,
}

fn parse_item(header: &Header, value: &Value) -> Result<Item, ItemProblem> {
    let id_hint = value.get("id").and_then(Value::as_str).map(str::to_string);
    let fail = |reason: String| ItemProblem {
        id: id_hint.clone(),
        reason,
    };
    if !value.is_object() {
        return Err(fail("not a JSON object".into()));
    }
    let raw: RawItem = serde_json::from_value(value.clone()).map_err(|e| fail(e.to_string()))?;
    let id = match &raw.id {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        _ => return Err(fail("`id` must be a non-empty string".into())),
    };
    let prompt = raw
        .prompt
        .clone()
        .ok_or_else(|| fail("missing `prompt`".into()))?;
    let kind = header.kind;
    let not_for = |field: &str| {
        fail(format!(
            "`{field}` does not apply to a {} item",
            kind.as_str()
        ))
    };
    let task = match kind {
        Kind::MultipleChoice => {
            for (field, present) in [
                ("pattern", raw.pattern.is_some()),
                ("tests", raw.tests.is_some()),
                ("entry_point", raw.entry_point.is_some()),
                ("check", raw.check.is_some()),
            ] {
                if present {
                    return Err(not_for(field));
                }
            }
            let choices = raw
                .choices
                .ok_or_else(|| fail("missing `choices`".into()))?;
            if choices.len() < 2 {
                return Err(fail(format!(
                    "a multiple-choice item needs at least 2 choices, it has {}",
                    choices.len()
                )));
            }
            let answer = match raw.answer {
                None => return Err(fail("missing `answer`".into())),
                Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or_default(),
                Some(other) => {
                    return Err(fail(format!(
                        "answer {other} is not the index of a choice (a whole number from 0)"
                    )))
                }
            };
            if answer >= choices.len() as u64 {
                return Err(fail(format!(
                    "answer {answer} is not among the {} choices",
                    choices.len()
                )));
            }
            Task::MultipleChoice {
                choices,
                answer: answer as usize,
            }
        }
        Kind::Generation => {
            for (field, present) in [
                ("choices", raw.choices.is_some()),
                ("tests", raw.tests.is_some()),
                ("entry_point", raw.entry_point.is_some()),
                ("check", raw.check.is_some()),
            ] {
                if present {
                    return Err(not_for(field));
                }
            }
            let answers = match raw.answer {
                None => return Err(fail("missing `answer`".into())),
                Some(Value::String(s)) => vec![s],
                Some(Value::Number(n)) => vec![n.to_string()],
                Some(Value::Array(list)) if !list.is_empty() => list
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| fail("`answer` list must hold only strings".into()))?,
                Some(other) => {
                    return Err(fail(format!(
                        "answer {other} must be a string, a number or a non-empty list of strings"
                    )))
                }
            };
            if let Some(pattern) = &raw.pattern {
                regex::Regex::new(pattern)
                    .map_err(|e| fail(format!("`pattern` is not a regex: {e}")))?;
            }
            let metric = header.metrics().first().copied();
            let has_pattern = raw.pattern.is_some()
                || header
                    .generation
                    .as_ref()
                    .is_some_and(|g| g.pattern.is_some());
            if metric == Some(Metric::Regex) && !has_pattern {
                return Err(fail(
                    "the suite is scored by `regex` but neither the item nor the header has a `pattern`".into(),
                ));
            }
            if metric == Some(Metric::Numeric)
                && answers
                    .iter()
                    .any(|a| crate::scoring::parse_number(a).is_none())
            {
                return Err(fail(
                    "the suite is scored by `numeric` but the answer is not a number".into(),
                ));
            }
            Task::Generation {
                answers,
                pattern: raw.pattern,
            }
        }
        Kind::Code => {
            for (field, present) in [
                ("choices", raw.choices.is_some()),
                ("answer", raw.answer.is_some()),
                ("pattern", raw.pattern.is_some()),
                ("check", raw.check.is_some()),
            ] {
                if present {
                    return Err(not_for(field));
                }
            }
            let tests = raw.tests.ok_or_else(|| fail("missing `tests`".into()))?;
            let entry_point = raw
                .entry_point
                .ok_or_else(|| fail("missing `entry_point`".into()))?;
            let identifier = entry_point
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && entry_point.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !identifier {
                return Err(fail(format!(
                    "entry_point {entry_point:?} is not a Python identifier"
                )));
            }
            Task::Code { tests, entry_point }
        }
        Kind::Probe => {
            for (field, present) in [
                ("choices", raw.choices.is_some()),
                ("answer", raw.answer.is_some()),
                ("pattern", raw.pattern.is_some()),
                ("tests", raw.tests.is_some()),
                ("entry_point", raw.entry_point.is_some()),
            ] {
                if present {
                    return Err(not_for(field));
                }
            }
            let check_value = raw.check.ok_or_else(|| fail("missing `check`".into()))?;
            let check: Check = serde_json::from_value(check_value)
                .map_err(|e| fail(format!("`check`: {e} (use refusal, no_refusal or leak)")))?;
            if let Check::Leak { secret } = &check {
                if secret.trim().is_empty() {
                    return Err(fail("`check.secret` is empty".into()));
                }
            }
            Task::Probe { check }
        }
    };
    if raw.system.is_some() && kind != Kind::Probe {
        return Err(not_for("system"));
    }
    Ok(Item {
        id,
        prompt,
        system: raw.system,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MC: &str = "name: tiny-mc\nversion: 1\nkind: multiple_choice\nlicense: MIT\nsource: {package: commons, version: '1'}\n---\n";

    fn mc(items: &str) -> Result<Suite, EvalError> {
        Suite::parse_text(&format!("{MC}{items}"), "test")
    }

    fn problems(result: Result<Suite, EvalError>) -> Vec<String> {
        match result {
            Err(EvalError::InvalidSuite { problems, .. }) => problems,
            other => panic!("expected an invalid suite, got {other:?}"),
        }
    }

    #[test]
    fn a_single_file_suite_parses() {
        let suite =
            mc("{\"id\":\"a\",\"prompt\":\"2+2=\",\"choices\":[\"4\",\"5\"],\"answer\":0}\n\n")
                .unwrap();
        assert_eq!(suite.header.version, "1");
        assert_eq!(suite.items.len(), 1);
        assert_eq!(suite.header.metrics(), vec![Metric::Acc, Metric::AccNorm]);
        assert!(is_sha256_digest(suite.digest()));
    }

    #[test]
    fn an_answer_out_of_range_is_named_by_item_number_and_id() {
        let items = "{\"id\":\"ok\",\"prompt\":\"p\",\"choices\":[\"a\",\"b\"],\"answer\":1}\n\
                     {\"id\":\"bbh-date-3\",\"prompt\":\"p\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"answer\":5}\n";
        let p = problems(mc(items));
        assert_eq!(
            p,
            vec!["item 2 (id \"bbh-date-3\"): answer 5 is not among the 4 choices"]
        );
        let err = mc(items).unwrap_err().to_string();
        assert!(
            err.contains("invalid suite test: item 2 (id \"bbh-date-3\")"),
            "{err}"
        );
    }

    #[test]
    fn missing_answers_duplicate_ids_unknown_fields_and_bad_json_are_each_named() {
        let items = "{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"]}\n\
                     {\"id\":\"b\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n\
                     {\"id\":\"b\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n\
                     {\"id\":\"c\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0,\"anwser\":1}\n\
                     {not json\n\
                     {\"id\":\"d\",\"prompt\":\"p\",\"choices\":[\"x\"],\"answer\":0}\n\
                     {\"id\":\"e\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":\"x\"}\n";
        let p = problems(mc(items));
        assert_eq!(p.len(), 6, "{p:#?}");
        assert_eq!(p[0], "item 1 (id \"a\"): missing `answer`");
        assert_eq!(p[1], "item 3 (id \"b\"): the id is used by an earlier item");
        assert!(
            p[2].starts_with("item 4 (id \"c\"): unknown field `anwser`"),
            "{}",
            p[2]
        );
        assert!(p[3].starts_with("item 5: not a JSON object"), "{}", p[3]);
        assert_eq!(
            p[4],
            "item 6 (id \"d\"): a multiple-choice item needs at least 2 choices, it has 1"
        );
        assert!(
            p[5].starts_with("item 7 (id \"e\"): answer \"x\" is not the index"),
            "{}",
            p[5]
        );
    }

    #[test]
    fn header_problems_are_named() {
        let text = "name: Bad Name\nversion: ''\nkind: multiple_choice\nlicense: MIT\nsource: {package: x, version: '1'}\nmetric: exact_match\nsource_digest: abc\n---\n{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n";
        let p = problems(Suite::parse_text(text, "t"));
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].contains("name \"Bad Name\""));
        assert!(p
            .iter()
            .any(|m| m.contains("metric `exact_match` does not apply to a multiple_choice suite")));
        let unknown = Suite::parse_text(&text.replace("metric: exact_match", "metrik: acc"), "t");
        assert!(problems(unknown)[0].contains("unknown field `metrik`"));
    }

    #[test]
    fn kinds_validate_their_own_fields() {
        let generation = "name: g\nversion: '1'\nkind: generation\nmetric: numeric\nlicense: MIT\nsource: {package: x, version: '1'}\n---\n\
            {\"id\":\"a\",\"prompt\":\"p\",\"answer\":42}\n{\"id\":\"b\",\"prompt\":\"p\",\"answer\":\"forty\"}\n{\"id\":\"c\",\"prompt\":\"p\",\"answer\":\"1\",\"choices\":[\"a\",\"b\"]}\n";
        let p = problems(Suite::parse_text(generation, "t"));
        assert_eq!(p, vec![
            "item 2 (id \"b\"): the suite is scored by `numeric` but the answer is not a number".to_string(),
            "item 3 (id \"c\"): `choices` does not apply to a generation item".to_string(),
        ]);
        let probe = "name: p\nversion: '1'\nkind: probe\nlicense: MIT\nsource: {package: x, version: '1'}\n---\n\
            {\"id\":\"a\",\"prompt\":\"p\",\"check\":{\"type\":\"leak\",\"secret\":\"S\"},\"system\":\"the secret is S\"}\n{\"id\":\"b\",\"prompt\":\"p\",\"check\":{\"type\":\"explode\"}}\n";
        let p = problems(Suite::parse_text(probe, "t"));
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("item 2 (id \"b\"): `check`"), "{}", p[0]);
        let code = "name: c\nversion: '1'\nkind: code\nlicense: MIT\nsource: {package: x, version: '1'}\n---\n\
            {\"id\":\"a\",\"prompt\":\"def f():\\n\",\"tests\":\"def check(c): assert c() == 1\",\"entry_point\":\"f x\"}\n";
        assert!(problems(Suite::parse_text(code, "t"))[0].contains("not a Python identifier"));
    }

    #[test]
    fn the_digest_ignores_formatting_and_layout_but_not_content() {
        let a =
            mc("{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n").unwrap();
        let reformatted = "---\nsource:\n  version: '1'\n  package: commons\nlicense: MIT\nkind: multiple_choice\nversion: '1'\nname: tiny-mc\n---\n{ \"answer\": 0, \"choices\": [\"x\", \"y\"], \"prompt\": \"p\", \"id\": \"a\" }\n";
        let b = Suite::parse_text(reformatted, "t").unwrap();
        assert_eq!(a.digest(), b.digest());
        // The canonical form parses back to the same suite.
        let c = Suite::parse_text(std::str::from_utf8(a.canonical_bytes()).unwrap(), "t").unwrap();
        assert_eq!(a.digest(), c.digest());
        assert_eq!(a.canonical_bytes(), c.canonical_bytes());
        // A different item changes it.
        let d =
            mc("{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":1}\n").unwrap();
        assert_ne!(a.digest(), d.digest());
    }

    #[test]
    fn the_canonical_form_is_pinned() {
        // Changing this digest breaks every stored suite and attestation: only do it on purpose.
        let a =
            mc("{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n").unwrap();
        assert_eq!(
            std::str::from_utf8(a.canonical_bytes()).unwrap(),
            "{\"kind\":\"multiple_choice\",\"license\":\"MIT\",\"name\":\"tiny-mc\",\"source\":{\"package\":\"commons\",\"version\":\"1\"},\"version\":\"1\"}\n{\"answer\":0,\"choices\":[\"x\",\"y\"],\"id\":\"a\",\"prompt\":\"p\"}\n"
        );
        assert_eq!(a.digest(), sha256_digest(a.canonical_bytes()));
    }

    #[test]
    fn a_folder_suite_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("suite.yaml"), MC.trim_end_matches("---\n")).unwrap();
        std::fs::write(
            dir.path().join("items.jsonl"),
            "{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n",
        )
        .unwrap();
        let folder = Suite::load(dir.path()).unwrap();
        let single =
            mc("{\"id\":\"a\",\"prompt\":\"p\",\"choices\":[\"x\",\"y\"],\"answer\":0}\n").unwrap();
        assert_eq!(folder.digest(), single.digest());
    }

    #[test]
    fn oci_style_names() {
        for good in ["bbh-date", "a", "gsm8k.sample_1", "x__y", "a--b"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a..b", "a b", "a/b", "a___b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
