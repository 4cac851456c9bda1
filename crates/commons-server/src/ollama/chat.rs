//! `POST /api/chat`: a chat rendered with the model's own template, with tools and formats.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use commons_engine::{ChatMessage, GenerateRequest, Grammar, Model, Prompt};
use serde_json::{json, Value};

use super::respond::{chunks, respond, Shape};
use super::types::{
    format_grammar, model_name, now_timestamp, parse_keep_alive, refuse_thinking, ChatRequest,
};
use crate::error::{ApiError, OllamaError};
use crate::inference::{
    answer_reserve, context_limit, forced_tool_call, render_chat, tool_names, truncate_left,
};
use crate::json::parse;
use crate::state::AppState;
use crate::stream::Generation;

pub async fn chat(State(state): State<AppState>, body: Bytes) -> Result<Response, OllamaError> {
    let started = Instant::now();
    let request: ChatRequest = parse(&body)?;
    let name = model_name(&request.model, &request.name)?;
    let model = state.resolve(&name)?;
    refuse_thinking(&request.think, &name)?;
    if request
        .messages
        .iter()
        .any(|m| m.images.as_ref().is_some_and(|i| !i.is_empty()))
    {
        return Err(
            ApiError::invalid("messages", format!("\"{name}\" does not support images")).into(),
        );
    }
    let keep_alive = parse_keep_alive(request.keep_alive.as_ref())?;
    let sampling = request.options.sampling()?;
    let mut tools = request.tools.clone().unwrap_or_default();
    let grammar = match forced_call(&tools, request.options.tool_choice.as_deref())? {
        ToolChoice::Forced(grammar) => Some(grammar),
        ToolChoice::Offer => format_grammar(&request.format)?,
        ToolChoice::Withhold => {
            tools.clear();
            format_grammar(&request.format)?
        }
    };

    if request.messages.is_empty() {
        if keep_alive.is_some_and(|k| k.is_zero()) {
            state.models().unload(model.key());
            return Ok(load_reply(&model.display_name, "unload"));
        }
        let _lease = state.acquire(&model, keep_alive).await?;
        return Ok(load_reply(&model.display_name, "load"));
    }
    let lease = state.acquire_for_text(&model, keep_alive).await?;
    let context = context_limit(&*lease, request.options.num_ctx, "options.num_ctx")?;
    let max_tokens = request.options.max_tokens();
    let limit = context.saturating_sub(answer_reserve(context, max_tokens));
    let messages: Vec<ChatMessage> = request.messages.iter().map(|m| m.to_engine()).collect();
    let mut tokens = fit_messages(
        &*lease,
        request.template.as_deref(),
        messages,
        &tools,
        limit,
    )?;
    let cut = truncate_left(&mut tokens, limit, request.options.num_keep());
    if cut > 0 {
        tracing::info!(model = %name, cut, limit, "last message longer than the context: oldest tokens dropped");
    }
    let room = context.saturating_sub(tokens.len()).max(1);
    let engine_request = GenerateRequest {
        prompt: Prompt::Tokens(tokens),
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
    Ok(respond(
        chunks(
            generation,
            model.display_name.clone(),
            Shape::Chat { tools },
        ),
        request.stream.unwrap_or(true),
    )
    .await)
}

enum ToolChoice {
    /// Describe the tools; the model decides (Ollama's behaviour).
    Offer,
    /// `none`: do not offer the tools at all.
    Withhold,
    /// `required` or a function name: the answer is constrained to such a call.
    Forced(Grammar),
}

/// `options.tool_choice` (a commons extension; see [`super::types::Options::tool_choice`]).
fn forced_call(tools: &[Value], choice: Option<&str>) -> Result<ToolChoice, ApiError> {
    let names = tool_names(tools);
    let wanted = match choice {
        None | Some("") | Some("auto") => return Ok(ToolChoice::Offer),
        Some("none") => return Ok(ToolChoice::Withhold),
        Some("required") => names,
        Some(name) if names.iter().any(|n| n == name) => vec![name.to_string()],
        Some(name) => {
            return Err(ApiError::invalid(
                "options.tool_choice",
                format!("tool_choice names `{name}`, which is not in tools"),
            ))
        }
    };
    forced_tool_call(tools, &wanted)
        .map(ToolChoice::Forced)
        .ok_or_else(|| ApiError::invalid("options.tool_choice", "tool_choice requires tools"))
}

/// Render the chat; while it is longer than `limit` tokens, drop the oldest messages that
/// are neither system messages nor the last one, as Ollama does.
fn fit_messages(
    model: &dyn Model,
    template: Option<&str>,
    mut messages: Vec<ChatMessage>,
    tools: &[Value],
    limit: usize,
) -> Result<Vec<u32>, ApiError> {
    loop {
        let text = render_chat(model, template, &messages, tools)?;
        let tokens = model.tokenize(&text, true)?;
        let last = messages.len().saturating_sub(1);
        let droppable = messages
            .iter()
            .enumerate()
            .position(|(i, m)| i < last && m.role != "system");
        match droppable {
            Some(index) if tokens.len() > limit => {
                messages.remove(index);
            }
            _ => return Ok(tokens),
        }
    }
}

fn load_reply(model: &str, reason: &str) -> Response {
    axum::Json(json!({
        "model": model,
        "created_at": now_timestamp(),
        "message": {"role": "assistant", "content": ""},
        "done": true,
        "done_reason": reason,
    }))
    .into_response()
}
