//! `POST /v1/chat/completions`: chat with tools, JSON output, logprobs, SSE streaming.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use commons_engine::{Done, Event, GenerateRequest, Grammar, Prompt};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

use super::logprobs::chat_entry;
use super::types::{
    check_max_tokens, check_n, response_format_grammar, ChatCompletionRequest, StreamOptions,
};
use super::{check_fits, finish_reason, usage};
use crate::error::{ApiError, OpenAiError};
use crate::inference::{
    extract_tool_calls, forced_tool_call, fresh_id, render_chat, tool_names, unix_now,
};
use crate::json::parse;
use crate::state::AppState;
use crate::stream::{sse, Generation};

/// How the request wants tools used.
struct ToolUse {
    /// Tools described to the model and looked for in its answer.
    tools: Vec<Value>,
    /// A grammar that forces a call (`tool_choice` `required` or a named function).
    forced: Option<Grammar>,
}

fn tool_use(request: &ChatCompletionRequest) -> Result<ToolUse, ApiError> {
    let tools = request.tools.clone().unwrap_or_default();
    let names = tool_names(&tools);
    let choice = request.tool_choice.as_ref().filter(|c| !c.is_null());
    let forced_names: Option<Vec<String>> = match choice {
        None => None,
        Some(Value::String(s)) if s == "auto" => None,
        Some(Value::String(s)) if s == "none" => {
            return Ok(ToolUse {
                tools: Vec::new(),
                forced: None,
            })
        }
        Some(Value::String(s)) if s == "required" => Some(names.clone()),
        Some(object) => {
            let name = object
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "tool_choice",
                        "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                    )
                })?;
            if !names.iter().any(|n| n == name) {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!("tool_choice names `{name}`, which is not in tools"),
                ));
            }
            Some(vec![name.to_string()])
        }
    };
    let forced = match forced_names {
        Some(names) if tools.is_empty() || names.is_empty() => {
            return Err(ApiError::invalid(
                "tool_choice",
                "tool_choice requires tools",
            ));
        }
        Some(names) => forced_tool_call(&tools, &names),
        None => None,
    };
    Ok(ToolUse { tools, forced })
}

pub async fn completions(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    let request: ChatCompletionRequest = parse(&body)?;
    check_n(request.n)?;
    let model = state.resolve(&request.model)?;
    if request.messages.is_empty() {
        return Err(ApiError::invalid("messages", "messages must not be empty").into());
    }
    let messages = request
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| m.to_engine(i))
        .collect::<Result<Vec<_>, _>>()?;
    let sampling = request.sampling().params()?;
    let (max_param, max_value) = match request.max_completion_tokens {
        Some(v) => ("max_completion_tokens", Some(v)),
        None => ("max_tokens", request.max_tokens),
    };
    let max_tokens = check_max_tokens(max_value, max_param, false)?;
    let tools = tool_use(&request)?;
    let grammar = match tools.forced.clone() {
        Some(forced) => Some(forced),
        None => response_format_grammar(&request.response_format)?,
    };
    let logprobs = match (request.logprobs, request.top_logprobs) {
        (_, Some(n)) if n > 20 => {
            return Err(ApiError::invalid("top_logprobs", "top_logprobs must be at most 20").into())
        }
        (true, n) => Some(n.unwrap_or(0)),
        (false, _) => None,
    };

    let lease = state.acquire_for_text(&model, None).await?;
    let text = render_chat(&*lease, None, &messages, &tools.tools)?;
    let tokens = lease.tokenize(&text, true)?;
    let room = check_fits(&*lease, tokens.len(), max_tokens, max_param, "messages")?;
    let engine_request = GenerateRequest {
        prompt: Prompt::Tokens(tokens),
        sampling,
        max_tokens: Some(max_tokens.unwrap_or(room) as u32),
        stop: request
            .stop
            .clone()
            .map(|s| s.into_vec())
            .unwrap_or_default(),
        grammar,
        logprobs,
        echo: false,
        echo_from: 0,
    };
    let stream = lease.generate(engine_request)?;
    let generation = Generation::new(stream, lease, started);
    let reply = Reply {
        id: fresh_id("chatcmpl-"),
        created: unix_now(),
        model: model.display_name.clone(),
        tools: tools.tools,
        logprobs: logprobs.is_some(),
    };
    if request.stream {
        let options = request.stream_options.unwrap_or_default();
        return Ok(sse(stream_chunks(generation, reply, options)));
    }
    let body = collect(generation, reply).await?;
    Ok(axum::Json(body).into_response())
}

/// What every object of one answer repeats.
struct Reply {
    id: String,
    created: u64,
    model: String,
    tools: Vec<Value>,
    logprobs: bool,
}

impl Reply {
    fn tool_calls(&self, text: &str) -> (String, Vec<Value>) {
        if self.tools.is_empty() {
            return (text.to_string(), Vec::new());
        }
        let parsed = extract_tool_calls(text, &self.tools);
        let calls = parsed
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": fresh_id("call_"),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                })
            })
            .collect();
        (parsed.content, calls)
    }

    fn chunk(&self, delta: Value, logprobs: Option<Vec<Value>>, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": super::SYSTEM_FINGERPRINT,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": logprobs.map(|content| json!({"content": content})),
                "finish_reason": finish,
            }],
        })
    }
}

async fn collect(mut generation: Generation, reply: Reply) -> Result<Value, ApiError> {
    let mut text = String::new();
    let mut entries = Vec::new();
    let done: Done = loop {
        match generation.next().await {
            Some(Event::Token(token)) => {
                text.push_str(&token.text);
                if reply.logprobs {
                    entries.push(chat_entry(&*generation.lease, &token));
                }
            }
            Some(Event::PromptToken(_)) => {}
            Some(Event::Done(done)) => break done,
            Some(Event::Error(error)) => return Err(error.into()),
            None => return Err(ApiError::internal("the model worker stopped")),
        }
    };
    let (content, calls) = reply.tool_calls(&text);
    let mut message = json!({"role": "assistant", "content": content});
    let mut finish = finish_reason(&done);
    if !calls.is_empty() {
        if content.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
        finish = "tool_calls";
    }
    let logprobs = if reply.logprobs {
        json!({ "content": entries })
    } else {
        Value::Null
    };
    Ok(json!({
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "system_fingerprint": super::SYSTEM_FINGERPRINT,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
        "usage": usage(&done),
    }))
}

struct StreamState {
    generation: Generation,
    reply: Reply,
    options: StreamOptions,
    started: bool,
    held: String,
    pending_logprobs: Vec<Value>,
    finished: bool,
}

fn stream_chunks(
    generation: Generation,
    reply: Reply,
    options: StreamOptions,
) -> impl Stream<Item = Value> {
    let state = StreamState {
        generation,
        reply,
        options,
        started: false,
        held: String::new(),
        pending_logprobs: Vec::new(),
        finished: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        let mut out = Vec::new();
        if !state.started {
            state.started = true;
            out.push(state.with_usage(state.reply.chunk(
                json!({"role": "assistant", "content": ""}),
                None,
                None,
            )));
            return Some((out, state));
        }
        loop {
            match state.generation.next().await {
                Some(Event::Token(token)) => {
                    if state.reply.logprobs {
                        let entry = chat_entry(&*state.generation.lease, &token);
                        state.pending_logprobs.push(entry);
                    }
                    if !state.reply.tools.is_empty() {
                        state.held.push_str(&token.text);
                        continue;
                    }
                    if token.text.is_empty() {
                        continue;
                    }
                    let logprobs = state.take_logprobs();
                    let chunk = state
                        .reply
                        .chunk(json!({"content": token.text}), logprobs, None);
                    out.push(state.with_usage(chunk));
                    return Some((out, state));
                }
                Some(Event::PromptToken(_)) => continue,
                Some(Event::Done(done)) => {
                    state.finished = true;
                    let mut finish = finish_reason(&done);
                    let logprobs = state.take_logprobs();
                    if !state.reply.tools.is_empty() {
                        let (content, calls) = state.reply.tool_calls(&state.held);
                        let delta = if calls.is_empty() {
                            json!({"content": content})
                        } else {
                            finish = "tool_calls";
                            let indexed: Vec<Value> = calls
                                .into_iter()
                                .enumerate()
                                .map(|(i, mut c)| {
                                    c["index"] = json!(i);
                                    c
                                })
                                .collect();
                            let content = if content.is_empty() {
                                Value::Null
                            } else {
                                json!(content)
                            };
                            json!({"content": content, "tool_calls": indexed})
                        };
                        out.push(state.with_usage(state.reply.chunk(delta, logprobs, None)));
                    } else if logprobs.is_some() {
                        out.push(state.with_usage(state.reply.chunk(json!({}), logprobs, None)));
                    }
                    out.push(state.with_usage(state.reply.chunk(json!({}), None, Some(finish))));
                    if state.options.include_usage {
                        out.push(json!({
                            "id": state.reply.id,
                            "object": "chat.completion.chunk",
                            "created": state.reply.created,
                            "model": state.reply.model,
                            "system_fingerprint": super::SYSTEM_FINGERPRINT,
                            "choices": [],
                            "usage": usage(&done),
                        }));
                    }
                    return Some((out, state));
                }
                Some(Event::Error(error)) => {
                    state.finished = true;
                    out.push(ApiError::from(error).openai_body());
                    return Some((out, state));
                }
                None => {
                    state.finished = true;
                    out.push(ApiError::internal("the model worker stopped").openai_body());
                    return Some((out, state));
                }
            }
        }
    })
    .flat_map(futures_util::stream::iter)
}

impl StreamState {
    fn take_logprobs(&mut self) -> Option<Vec<Value>> {
        self.reply
            .logprobs
            .then(|| std::mem::take(&mut self.pending_logprobs))
    }

    /// With `include_usage`, every chunk but the last carries `"usage": null`.
    fn with_usage(&self, mut chunk: Value) -> Value {
        if self.options.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }
}
