//! Turning engine events into Ollama's response objects, streamed (NDJSON) or as one body.
//!
//! Both paths use the same chunk stream: the non-streaming answer is that stream folded into
//! one object, so the two can never disagree.

use axum::response::{IntoResponse, Response};
use commons_engine::{Done, Event, FinishReason};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Map, Value};

use super::types::{now_timestamp, Metrics};
use crate::error::{ApiError, OllamaError};
use crate::inference::extract_tool_calls;
use crate::stream::{ndjson, Generation};

/// Which endpoint's objects to build.
pub enum Shape {
    /// `/api/generate`: `response` text; the final object carries `context` (these prompt
    /// tokens followed by the generated ones).
    Generate { prompt_tokens: Vec<u32> },
    /// `/api/chat`: `message`; with tools the answer is held back and parsed for calls.
    Chat { tools: Vec<Value> },
}

struct ChunkState {
    generation: Generation,
    model: String,
    shape: Shape,
    generated: Vec<u32>,
    /// Text held back while tools may be called.
    held: String,
    finished: bool,
}

/// The chunks of one answer, ending with the `done: true` object (or an `error` object).
pub fn chunks(generation: Generation, model: String, shape: Shape) -> impl Stream<Item = Value> {
    let state = ChunkState {
        generation,
        model,
        shape,
        generated: Vec::new(),
        held: String::new(),
        finished: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        loop {
            match state.generation.next().await {
                Some(Event::Token(token)) => {
                    state.generated.push(token.id);
                    if token.text.is_empty() {
                        continue;
                    }
                    if let Shape::Chat { tools } = &state.shape {
                        if !tools.is_empty() {
                            state.held.push_str(&token.text);
                            continue;
                        }
                    }
                    let chunk = state.piece(&token.text);
                    return Some((vec![chunk], state));
                }
                Some(Event::PromptToken(_)) => continue,
                Some(Event::Done(done)) => {
                    state.finished = true;
                    let mut out = Vec::new();
                    if let Shape::Chat { tools } = &state.shape {
                        if !tools.is_empty() {
                            out.push(state.tool_answer(tools));
                        }
                    }
                    out.push(state.final_chunk(&done));
                    return Some((out, state));
                }
                Some(Event::Error(error)) => {
                    state.finished = true;
                    return Some((vec![ApiError::from(error).ollama_body()], state));
                }
                None => {
                    state.finished = true;
                    return Some((vec![json!({"error": "the model worker stopped"})], state));
                }
            }
        }
    })
    .flat_map(futures_util::stream::iter)
}

impl ChunkState {
    fn base(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("model".into(), json!(self.model));
        map.insert("created_at".into(), json!(now_timestamp()));
        map
    }

    fn piece(&self, text: &str) -> Value {
        let mut map = self.base();
        match self.shape {
            Shape::Generate { .. } => map.insert("response".into(), json!(text)),
            Shape::Chat { .. } => map.insert(
                "message".into(),
                json!({"role": "assistant", "content": text}),
            ),
        };
        map.insert("done".into(), json!(false));
        Value::Object(map)
    }

    fn tool_answer(&self, tools: &[Value]) -> Value {
        let parsed = extract_tool_calls(&self.held, tools);
        let mut message = json!({"role": "assistant", "content": parsed.content});
        if !parsed.tool_calls.is_empty() {
            message["tool_calls"] = parsed
                .tool_calls
                .iter()
                .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
        }
        let mut map = self.base();
        map.insert("message".into(), message);
        map.insert("done".into(), json!(false));
        Value::Object(map)
    }

    fn final_chunk(&self, done: &Done) -> Value {
        let mut map = self.base();
        match &self.shape {
            Shape::Generate { prompt_tokens } => {
                map.insert("response".into(), json!(""));
                map.insert("done".into(), json!(true));
                map.insert("done_reason".into(), json!(done_reason(done)));
                let context: Vec<u32> = prompt_tokens
                    .iter()
                    .chain(&self.generated)
                    .copied()
                    .collect();
                map.insert("context".into(), json!(context));
            }
            Shape::Chat { .. } => {
                map.insert(
                    "message".into(),
                    json!({"role": "assistant", "content": ""}),
                );
                map.insert("done".into(), json!(true));
                map.insert("done_reason".into(), json!(done_reason(done)));
            }
        }
        let load = if self.generation.lease.load_ns > 0 {
            self.generation.lease.load_ns
        } else {
            done.timings.load_ns
        };
        let metrics = Metrics {
            total_duration: self.generation.elapsed_ns(),
            load_duration: load,
            prompt_eval_count: done.prompt_tokens,
            prompt_eval_duration: done.timings.prompt_eval_ns,
            eval_count: done.completion_tokens,
            eval_duration: done.timings.eval_ns,
        };
        if let Ok(Value::Object(fields)) = serde_json::to_value(metrics) {
            map.extend(fields);
        }
        Value::Object(map)
    }
}

fn done_reason(done: &Done) -> &'static str {
    match done.finish_reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

/// Stream the chunks as NDJSON, or fold them into one object.
pub async fn respond(chunks: impl Stream<Item = Value> + Send + 'static, stream: bool) -> Response {
    if stream {
        return ndjson(chunks);
    }
    match fold(chunks).await {
        Ok(value) => axum::Json(value).into_response(),
        Err(error) => OllamaError(error).into_response(),
    }
}

/// One object: the text of every chunk joined, the last chunk's fields, any tool calls.
async fn fold(chunks: impl Stream<Item = Value>) -> Result<Value, ApiError> {
    let mut chunks = std::pin::pin!(chunks);
    let mut text = String::new();
    let mut tool_calls: Option<Value> = None;
    let mut last = Value::Null;
    while let Some(chunk) = chunks.next().await {
        if let Some(error) = chunk.get("error").and_then(Value::as_str) {
            return Err(ApiError::internal(error));
        }
        if let Some(piece) = chunk.get("response").and_then(Value::as_str) {
            text.push_str(piece);
        }
        if let Some(message) = chunk.get("message") {
            if let Some(piece) = message.get("content").and_then(Value::as_str) {
                text.push_str(piece);
            }
            if let Some(calls) = message.get("tool_calls") {
                tool_calls = Some(calls.clone());
            }
        }
        last = chunk;
    }
    if last.get("response").is_some() {
        last["response"] = json!(text);
    } else if last.get("message").is_some() {
        last["message"]["content"] = json!(text);
        if let Some(calls) = tool_calls {
            last["message"]["tool_calls"] = calls;
        }
    }
    Ok(last)
}
