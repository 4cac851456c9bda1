//! `POST /api/generate`: a completion of one prompt, templated as a user turn unless `raw`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use commons_engine::{ChatMessage, GenerateRequest, Prompt};
use serde_json::json;

use super::respond::{chunks, respond, Shape};
use super::types::{
    format_grammar, model_name, now_timestamp, parse_keep_alive, refuse_thinking,
    GenerateRequest as Request,
};
use crate::error::{ApiError, OllamaError};
use crate::inference::{answer_reserve, context_limit, render_chat, truncate_left};
use crate::json::parse;
use crate::state::AppState;
use crate::stream::Generation;

pub async fn generate(State(state): State<AppState>, body: Bytes) -> Result<Response, OllamaError> {
    let started = Instant::now();
    let request: Request = parse(&body)?;
    let name = model_name(&request.model, &request.name)?;
    let model = state.resolve(&name)?;
    refuse_thinking(&request.think, &name)?;
    if request.images.as_ref().is_some_and(|i| !i.is_empty()) {
        return Err(
            ApiError::invalid("images", format!("\"{name}\" does not support images")).into(),
        );
    }
    if request.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(
            ApiError::invalid("suffix", format!("\"{name}\" does not support insert")).into(),
        );
    }
    let keep_alive = parse_keep_alive(request.keep_alive.as_ref())?;
    let sampling = request.options.sampling()?;
    let grammar = format_grammar(&request.format)?;

    let nothing_to_do = request.prompt.is_empty() && request.context.is_none();
    if nothing_to_do && keep_alive.is_some_and(|k| k.is_zero()) {
        state.models().unload(model.key());
        return Ok(load_reply(&model.display_name, "unload"));
    }
    let lease = state.acquire_for_text(&model, keep_alive).await?;
    if nothing_to_do {
        return Ok(load_reply(&model.display_name, "load"));
    }

    let context = context_limit(&*lease, request.options.num_ctx, "options.num_ctx")?;
    let text = if request.raw {
        request.prompt.clone()
    } else {
        let mut messages = Vec::new();
        if let Some(system) = request.system.as_ref().filter(|s| !s.is_empty()) {
            messages.push(ChatMessage::new("system", system.clone()));
        }
        messages.push(ChatMessage::new("user", request.prompt.clone()));
        render_chat(&*lease, request.template.as_deref(), &messages, &[])?
    };
    // `context` continues an earlier exchange: its tokens already start with BOS.
    let mut tokens = request.context.clone().unwrap_or_default();
    tokens.extend(lease.tokenize(&text, tokens.is_empty())?);
    let max_tokens = request.options.max_tokens();
    let limit = context.saturating_sub(answer_reserve(context, max_tokens));
    let cut = truncate_left(&mut tokens, limit, request.options.num_keep());
    if cut > 0 {
        tracing::info!(model = %name, cut, limit, "prompt longer than the context: oldest tokens dropped");
    }
    let room = context.saturating_sub(tokens.len()).max(1);
    let engine_request = GenerateRequest {
        prompt: Prompt::Tokens(tokens.clone()),
        sampling,
        max_tokens: Some(max_tokens.unwrap_or(room).min(room) as u32),
        stop: request.options.stop(),
        grammar,
        logprobs: None,
        echo: false,
        echo_from: 0,
    };
    let stream = lease.generate(engine_request)?;
    let generation = Generation::new(stream, lease, started);
    let shape = Shape::Generate {
        prompt_tokens: tokens,
    };
    Ok(respond(
        chunks(generation, model.display_name.clone(), shape),
        request.stream.unwrap_or(true),
    )
    .await)
}

/// The reply to a request that only loads (or unloads) a model.
pub fn load_reply(model: &str, reason: &str) -> Response {
    axum::Json(json!({
        "model": model,
        "created_at": now_timestamp(),
        "response": "",
        "done": true,
        "done_reason": reason,
    }))
    .into_response()
}
