//! OpenAI request bodies (chat, completions, embeddings) and the knobs they share.

use commons_engine::{ChatMessage, FunctionCall, Grammar, SamplingParams, ToolCall};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::inference::schema_grammar;

/// `stop`: one string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Sampling fields common to chat and completions, plus the llama.cpp/vLLM extensions
/// (`top_k`, `min_p`, `repeat_penalty`) that many OpenAI-compatible clients send.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sampling {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<i64>,
}

impl Sampling {
    /// OpenAI's defaults: temperature 1, nucleus off, no penalties.
    pub fn params(&self) -> Result<SamplingParams, ApiError> {
        let params = SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            top_k: self.top_k.unwrap_or(0),
            min_p: self.min_p.unwrap_or(0.0),
            repeat_penalty: self.repeat_penalty.unwrap_or(1.0),
            presence_penalty: self.presence_penalty.unwrap_or(0.0),
            frequency_penalty: self.frequency_penalty.unwrap_or(0.0),
            seed: self.seed.map(|s| s as u32),
            ..SamplingParams::default()
        };
        if let Some(t) = self.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            return Err(ApiError::invalid(
                "temperature",
                format!("{t} is not in [0, 2]"),
            ));
        }
        params.validate()?;
        Ok(params)
    }
}

/// A message's `content`: a string, or a list of parts of which only text is understood.
pub fn content_text(content: &Value, param: &str) -> Result<String, ApiError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some(other) => {
                        return Err(ApiError::invalid(
                            format!("{param}[{i}].type"),
                            format!(
                                "content parts of type `{other}` are not supported by this model"
                            ),
                        ))
                    }
                    None => {
                        return Err(ApiError::invalid(
                            format!("{param}[{i}]"),
                            "a content part needs a `type`",
                        ))
                    }
                }
            }
            Ok(text)
        }
        _ => Err(ApiError::invalid(
            param,
            "content must be a string or a list of parts",
        )),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessageIn {
    pub role: String,
    #[serde(default)]
    pub content: Value,
    pub name: Option<String>,
    pub tool_calls: Option<Vec<ToolCallIn>>,
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ToolCallIn {
    pub id: Option<String>,
    pub function: FunctionIn,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionIn {
    pub name: String,
    /// A JSON string, as OpenAI sends it (an object is accepted too).
    #[serde(default)]
    pub arguments: Value,
}

impl ChatMessageIn {
    pub fn to_engine(&self, index: usize) -> Result<ChatMessage, ApiError> {
        let content = content_text(&self.content, &format!("messages[{index}].content"))?;
        let tool_calls = self.tool_calls.as_ref().map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c.id.clone(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: c.function.name.clone(),
                        arguments: match &c.function.arguments {
                            Value::String(s) => {
                                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                            }
                            other => other.clone(),
                        },
                    },
                })
                .collect()
        });
        Ok(ChatMessage {
            role: self.role.clone(),
            content,
            tool_calls,
            tool_call_id: self.tool_call_id.clone(),
            name: self.name.clone(),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessageIn>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<i64>,
    pub max_tokens: Option<i64>,
    pub max_completion_tokens: Option<i64>,
    pub stop: Option<Stop>,
    #[serde(default)]
    pub logprobs: bool,
    pub top_logprobs: Option<u32>,
    pub n: Option<u32>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub response_format: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: Value,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<i64>,
    pub max_tokens: Option<i64>,
    pub stop: Option<Stop>,
    pub logprobs: Option<u32>,
    #[serde(default)]
    pub echo: bool,
    pub n: Option<u32>,
    pub best_of: Option<u32>,
    pub suffix: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Value,
    pub encoding_format: Option<String>,
    pub dimensions: Option<usize>,
}

/// Only `n = 1` is produced; more choices would multiply work on a small machine.
pub fn check_n(n: Option<u32>) -> Result<(), ApiError> {
    match n {
        None | Some(1) => Ok(()),
        Some(other) => Err(ApiError::invalid(
            "n",
            format!("n = {other} is not supported: only one choice per request"),
        )),
    }
}

/// `max_tokens` must be positive when given (0 is allowed for completions scoring).
pub fn check_max_tokens(
    value: Option<i64>,
    param: &str,
    allow_zero: bool,
) -> Result<Option<usize>, ApiError> {
    match value {
        None => Ok(None),
        Some(n) if n < 0 || (n == 0 && !allow_zero) => Err(ApiError::invalid(
            param,
            format!(
                "{param} must be {} (got {n})",
                if allow_zero { ">= 0" } else { ">= 1" }
            ),
        )),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

/// `response_format`: `text`, `json_object`, or `json_schema` with `json_schema.schema`.
pub fn response_format_grammar(format: &Option<Value>) -> Result<Option<Grammar>, ApiError> {
    let Some(format) = format.as_ref().filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Grammar::Json)),
        Some("json_schema") => {
            let schema = format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "response_format.json_schema.schema",
                        "response_format of type json_schema needs json_schema.schema",
                    )
                })?;
            schema_grammar(schema, "response_format.json_schema.schema").map(Some)
        }
        Some(other) => Err(ApiError::invalid(
            "response_format.type",
            format!("unknown response_format type `{other}`: use text, json_object or json_schema"),
        )),
        None => Err(ApiError::invalid(
            "response_format.type",
            "response_format needs a `type`",
        )),
    }
}

/// The sampling fields of a request body, gathered.
macro_rules! sampling_of {
    ($request:expr) => {
        Sampling {
            temperature: $request.temperature,
            top_p: $request.top_p,
            top_k: $request.top_k,
            min_p: $request.min_p,
            repeat_penalty: $request.repeat_penalty,
            presence_penalty: $request.presence_penalty,
            frequency_penalty: $request.frequency_penalty,
            seed: $request.seed,
        }
    };
}

impl ChatCompletionRequest {
    pub fn sampling(&self) -> Sampling {
        sampling_of!(self)
    }
}

impl CompletionRequest {
    pub fn sampling(&self) -> Sampling {
        sampling_of!(self)
    }
}
