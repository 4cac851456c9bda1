//! Ollama request bodies and the pieces of its responses, as the `ollama` clients send and
//! read them (github.com/ollama/ollama `api/types.go`).

use std::time::Duration;

use commons_engine::{ChatMessage, FunctionCall, SamplingParams, ToolCall};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// `options` of generate, chat and embed. Unknown keys (`num_gpu`, `num_thread`, …) are
/// accepted and ignored, as Ollama does.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Options {
    pub temperature: Option<f32>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub typical_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<i64>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<Vec<String>>,
    pub num_predict: Option<i64>,
    pub num_ctx: Option<i64>,
    pub num_keep: Option<i64>,
    /// commons extension (OpenAI's `tool_choice`): `"auto"`, `"none"`, `"required"` or a
    /// function name. `required` and a name force a call with a grammar, which makes tools
    /// usable with models too small to follow the prompt.
    pub tool_choice: Option<String>,
    /// commons extension (llama.cpp server's name): keep generating past end-of-generation
    /// tokens until `num_predict`, for benchmarks and load tests.
    pub ignore_eos: Option<bool>,
}

/// Ollama's defaults for what a request leaves out.
const DEFAULT_TEMPERATURE: f32 = 0.8;
const DEFAULT_TOP_K: u32 = 40;
const DEFAULT_TOP_P: f32 = 0.9;
const DEFAULT_REPEAT_PENALTY: f32 = 1.1;
const DEFAULT_NUM_KEEP: usize = 4;

impl Options {
    pub fn sampling(&self) -> Result<SamplingParams, ApiError> {
        let non_negative = |name: &str, v: i64| -> Result<u32, ApiError> {
            u32::try_from(v.max(0))
                .map_err(|_| ApiError::invalid(format!("options.{name}"), "value is too large"))
        };
        let params = SamplingParams {
            temperature: self.temperature.unwrap_or(DEFAULT_TEMPERATURE),
            top_k: match self.top_k {
                Some(k) => non_negative("top_k", k)?,
                None => DEFAULT_TOP_K,
            },
            top_p: self.top_p.unwrap_or(DEFAULT_TOP_P),
            min_p: self.min_p.unwrap_or(0.0),
            typical_p: self.typical_p.unwrap_or(1.0),
            repeat_penalty: self.repeat_penalty.unwrap_or(DEFAULT_REPEAT_PENALTY),
            repeat_last_n: match self.repeat_last_n {
                // -1 means "the whole context" in Ollama; the engine's window is what it has.
                Some(n) if n < 0 => 4096,
                Some(n) => non_negative("repeat_last_n", n)?,
                None => 64,
            },
            presence_penalty: self.presence_penalty.unwrap_or(0.0),
            frequency_penalty: self.frequency_penalty.unwrap_or(0.0),
            // Ollama: -1 (or absent) = random.
            seed: self.seed.filter(|&s| s >= 0).map(|s| s as u32),
            ignore_eos: self.ignore_eos.unwrap_or(false),
            ..SamplingParams::default()
        };
        params.validate().map_err(|e| {
            let mut error = ApiError::from(e);
            error.param = error.param.map(|p| format!("options.{p}"));
            error
        })?;
        Ok(params)
    }

    /// `num_predict`: `None` = until the context is full (Ollama's -1 and -2).
    pub fn max_tokens(&self) -> Option<usize> {
        self.num_predict
            .filter(|&n| n >= 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub fn num_keep(&self) -> usize {
        self.num_keep
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_NUM_KEEP)
    }

    pub fn stop(&self) -> Vec<String> {
        self.stop.clone().unwrap_or_default()
    }
}

/// `keep_alive`: a Go duration string (`"5m"`, `"1h30m"`, `"-1"`), or a number of seconds.
/// Negative means forever; zero means unload right after the request.
pub fn parse_keep_alive(value: Option<&Value>) -> Result<Option<Duration>, ApiError> {
    let invalid = |v: &Value| {
        ApiError::invalid(
            "keep_alive",
            format!("invalid keep_alive {v}: use a duration such as \"5m\" or a number of seconds"),
        )
    };
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| invalid(&Value::Number(n.clone())))?,
        Some(v @ Value::String(s)) => go_duration_seconds(s.trim()).ok_or_else(|| invalid(v))?,
        Some(other) => return Err(invalid(other)),
    };
    if seconds < 0.0 {
        Ok(Some(Duration::MAX))
    } else {
        Duration::try_from_secs_f64(seconds)
            .map(Some)
            .map_err(|_| invalid(value.unwrap_or(&Value::Null)))
    }
}

/// Seconds in a Go duration (`"300ms"`, `"1h2m3s"`, `"-1m"`) or a bare number.
fn go_duration_seconds(text: &str) -> Option<f64> {
    if let Ok(n) = text.parse::<f64>() {
        return Some(n);
    }
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(sign * total)
}

/// The model a request names: `model`, or the older `name`.
pub fn model_name(model: &Option<String>, name: &Option<String>) -> Result<String, ApiError> {
    model
        .as_ref()
        .filter(|m| !m.trim().is_empty())
        .or(name.as_ref())
        .filter(|m| !m.trim().is_empty())
        .cloned()
        .ok_or_else(|| ApiError::invalid("model", "model is required"))
}

#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    pub model: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub prompt: String,
    pub suffix: Option<String>,
    pub system: Option<String>,
    pub template: Option<String>,
    pub context: Option<Vec<u32>>,
    pub stream: Option<bool>,
    #[serde(default)]
    pub raw: bool,
    pub format: Option<Value>,
    pub images: Option<Vec<String>>,
    #[serde(default)]
    pub options: Options,
    pub keep_alive: Option<Value>,
    pub think: Option<Value>,
}

/// A chat message as Ollama sends it (`tool_calls[].function.arguments` is an object).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<OllamaToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OllamaToolCall {
    pub function: OllamaFunction,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OllamaFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

impl Message {
    pub fn to_engine(&self) -> ChatMessage {
        ChatMessage {
            role: self.role.clone(),
            content: self.content.clone(),
            tool_calls: self.tool_calls.as_ref().map(|calls| {
                calls
                    .iter()
                    .map(|c| ToolCall {
                        id: None,
                        kind: "function".into(),
                        function: FunctionCall {
                            name: c.function.name.clone(),
                            arguments: c.function.arguments.clone(),
                        },
                    })
                    .collect()
            }),
            tool_call_id: None,
            name: self.tool_name.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub messages: Vec<Message>,
    pub tools: Option<Vec<Value>>,
    pub stream: Option<bool>,
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Options,
    pub keep_alive: Option<Value>,
    pub template: Option<String>,
    pub think: Option<Value>,
}

/// `think: true` asks for a reasoning trace, which no model here produces separately.
pub fn refuse_thinking(think: &Option<Value>, model: &str) -> Result<(), ApiError> {
    match think {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "think",
            format!("\"{model}\" does not support thinking"),
        )),
    }
}

/// `format`: `"json"`, a JSON schema object, or nothing.
pub fn format_grammar(format: &Option<Value>) -> Result<Option<commons_engine::Grammar>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(commons_engine::Grammar::Json)),
        Some(schema) => crate::inference::schema_grammar(schema, "format").map(Some),
    }
}

/// Timing and count fields of a final response.
#[derive(Debug, Serialize)]
pub struct Metrics {
    pub total_duration: u64,
    pub load_duration: u64,
    pub prompt_eval_count: usize,
    pub prompt_eval_duration: u64,
    pub eval_count: usize,
    pub eval_duration: u64,
}

/// `created_at` as Ollama writes it (RFC 3339 with nanoseconds, UTC).
pub fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_alive_accepts_go_durations_and_seconds() {
        let parse = |v: Value| parse_keep_alive(Some(&v)).unwrap();
        assert_eq!(parse(json!("5m")), Some(Duration::from_secs(300)));
        assert_eq!(parse(json!("1h30m")), Some(Duration::from_secs(5400)));
        assert_eq!(parse(json!("250ms")), Some(Duration::from_millis(250)));
        assert_eq!(parse(json!(10)), Some(Duration::from_secs(10)));
        assert_eq!(parse(json!(0)), Some(Duration::ZERO));
        assert_eq!(parse(json!("-1")), Some(Duration::MAX));
        assert_eq!(parse(json!(-1)), Some(Duration::MAX));
        assert!(parse_keep_alive(Some(&json!("soon"))).is_err());
        assert!(parse_keep_alive(Some(&json!([1]))).is_err());
    }

    #[test]
    fn options_default_like_ollama_and_validate() {
        let params = Options::default().sampling().unwrap();
        assert_eq!(params.temperature, 0.8);
        assert_eq!(params.top_k, 40);
        let bad = Options {
            top_p: Some(2.0),
            ..Options::default()
        };
        let error = bad.sampling().unwrap_err();
        assert_eq!(error.param.as_deref(), Some("options.top_p"));
    }
}
