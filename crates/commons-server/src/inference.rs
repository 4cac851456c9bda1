//! What both APIs do the same way: context limits, left truncation, chat rendering with
//! tools, forcing a tool call with a grammar, and finding tool calls in the answer.

use commons_engine::{ChatMessage, Grammar, Model, ParsedOutput, ParsedToolCall};
use serde_json::{json, Value};

use crate::error::ApiError;

/// The context a request may use: `requested` (Ollama `num_ctx`) if given, else the slot.
/// Asking for more than a slot holds is an error, not a silent clamp.
pub fn context_limit(
    model: &dyn Model,
    requested: Option<i64>,
    param: &str,
) -> Result<usize, ApiError> {
    let slot = model.info().context_length as usize;
    match requested {
        None => Ok(slot),
        Some(n) if n <= 0 => Ok(slot),
        Some(n) if (n as u64) > slot as u64 => Err(ApiError::invalid(
            param,
            format!(
                "{param} {n} is larger than the {slot} tokens one request may use on this server \
                 (the model was trained with {train}); lower {param}, or start \
                 `commons serve --ctx-size N` with a larger context",
                train = model.info().context_length_train
            ),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// Keep the first `keep` tokens and the newest ones so that at most `limit` remain,
/// as Ollama does when a prompt is longer than the context. Returns how many were cut.
pub fn truncate_left(tokens: &mut Vec<u32>, limit: usize, keep: usize) -> usize {
    if tokens.len() <= limit {
        return 0;
    }
    let keep = keep.min(limit / 2);
    let cut = tokens.len() - limit;
    tokens.drain(keep..keep + cut);
    cut
}

/// Tokens left free for the answer when a prompt is truncated to fit: what the client
/// asked for (`max_tokens`), else a quarter of the context, never more than half of it.
pub fn answer_reserve(context: usize, max_tokens: Option<usize>) -> usize {
    let wanted = max_tokens.filter(|&n| n > 0).unwrap_or(context / 4);
    wanted.clamp(1, (context / 2).max(1))
}

/// Render a chat with the model's template (or `template_override`, a Jinja template).
///
/// Templates that know about tools get them as `tools`; for the others (many small models,
/// SmolLM2 among them) the tool list and the expected call format are written into the
/// system message, so any chat model can be offered tools.
pub fn render_chat(
    model: &dyn Model,
    template_override: Option<&str>,
    messages: &[ChatMessage],
    tools: &[Value],
) -> Result<String, ApiError> {
    let template = model.chat_template(template_override)?;
    let source = template_override
        .or(model.info().chat_template.as_deref())
        .unwrap_or_default();
    let template_knows_tools = source.contains("tools");
    let mut messages: Vec<ChatMessage> = if template_knows_tools {
        messages.to_vec()
    } else {
        messages.iter().map(calls_as_text).collect()
    };
    if !tools.is_empty() && !template_knows_tools {
        let instructions = tool_instructions(tools);
        match messages.iter_mut().find(|m| m.role == "system") {
            Some(system) => system.content = format!("{}\n\n{instructions}", system.content),
            None => messages.insert(0, ChatMessage::new("system", instructions)),
        }
    }
    let tools = if template_knows_tools { tools } else { &[] };
    Ok(template.render(&messages, Some(tools), true)?)
}

/// Earlier assistant calls, written the way the model is asked to write them, for
/// templates that only print `content`.
fn calls_as_text(message: &ChatMessage) -> ChatMessage {
    let mut message = message.clone();
    if let Some(calls) = &message.tool_calls {
        if message.content.trim().is_empty() {
            message.content = calls
                .iter()
                .map(|c| {
                    let call = json!({"name": c.function.name, "arguments": c.function.arguments});
                    format!("<tool_call>\n{call}\n</tool_call>")
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    message
}

/// Tools and the call format, for templates that do not render `tools` themselves. Kept
/// short: small models follow a short instruction with a concrete example best.
fn tool_instructions(tools: &[Value]) -> String {
    let functions: Vec<&Value> = tools
        .iter()
        .map(|t| t.get("function").unwrap_or(t))
        .collect();
    let listed = serde_json::to_string(&functions).unwrap_or_else(|_| "[]".into());
    let example = functions
        .first()
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("function_name");
    format!(
        "You have access to the following tools:\n<tools>{listed}</tools>\n\
         To call tools, answer only with a JSON list of calls inside <tool_call></tool_call> tags, e.g.\n\
         <tool_call>[{{\"name\": \"{example}\", \"arguments\": {{...}}}}]</tool_call>"
    )
}

/// The names of the declared functions.
pub fn tool_names(tools: &[Value]) -> Vec<String> {
    tools
        .iter()
        .filter_map(|t| {
            t.get("function")
                .unwrap_or(t)
                .get("name")
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect()
}

/// A grammar that makes the model answer with a call to one of `names` (a JSON object
/// `{"name", "arguments"}` whose arguments follow the function's parameter schema).
pub fn forced_tool_call(tools: &[Value], names: &[String]) -> Option<Grammar> {
    let variants: Vec<Value> = tools
        .iter()
        .map(|t| t.get("function").unwrap_or(t))
        .filter_map(|f| {
            let name = f.get("name")?.as_str()?;
            if !names.iter().any(|n| n == name) {
                return None;
            }
            let parameters = f
                .get("parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            Some(json!({
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": false
            }))
        })
        .collect();
    match variants.len() {
        0 => None,
        1 => variants.into_iter().next().map(Grammar::JsonSchema),
        _ => Some(Grammar::JsonSchema(json!({ "anyOf": variants }))),
    }
}

/// Tool calls in `text` that name a declared tool; otherwise the whole text is content.
pub fn extract_tool_calls(text: &str, tools: &[Value]) -> ParsedOutput {
    let names = tool_names(tools);
    let parsed = commons_engine::parse_tool_calls(text);
    let all_known = parsed
        .tool_calls
        .iter()
        .all(|c: &ParsedToolCall| names.contains(&c.name));
    if parsed.tool_calls.is_empty() || !all_known {
        return ParsedOutput {
            tool_calls: Vec::new(),
            content: text.to_string(),
        };
    }
    parsed
}

/// `format` / `response_format` JSON schemas arrive as objects (or booleans); anything else
/// is a client mistake.
pub fn schema_grammar(schema: &Value, param: &str) -> Result<Grammar, ApiError> {
    if schema.is_object() || schema.is_boolean() {
        Ok(Grammar::JsonSchema(schema.clone()))
    } else {
        Err(ApiError::invalid(
            param,
            format!("{param} must be \"json\" or a JSON schema object"),
        ))
    }
}

/// Seconds since the Unix epoch (OpenAI `created`).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A short unique id for responses (`chatcmpl-…`, `call_…`).
pub fn fresh_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{:08x}{n:06x}", nanos.wrapping_mul(2_654_435_761))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_truncation_keeps_the_head_and_the_newest_tokens() {
        let mut tokens: Vec<u32> = (0..10).collect();
        assert_eq!(truncate_left(&mut tokens, 6, 2), 4);
        assert_eq!(tokens, vec![0, 1, 6, 7, 8, 9]);
        let mut short = vec![1, 2];
        assert_eq!(truncate_left(&mut short, 6, 2), 0);
    }

    #[test]
    fn reserve_is_bounded_by_half_the_context() {
        assert_eq!(answer_reserve(100, Some(10)), 10);
        assert_eq!(answer_reserve(100, Some(90)), 50);
        assert_eq!(answer_reserve(100, None), 25);
    }

    #[test]
    fn forced_call_grammar_names_the_function() {
        let tools = vec![
            json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}),
        ];
        let Some(Grammar::JsonSchema(schema)) = forced_tool_call(&tools, &["f".into()]) else {
            panic!("expected a schema");
        };
        assert_eq!(schema["properties"]["name"]["const"], "f");
        assert!(forced_tool_call(&tools, &["g".into()]).is_none());
    }

    #[test]
    fn calls_to_unknown_tools_stay_content() {
        let tools = vec![json!({"function": {"name": "f"}})];
        let text = r#"{"name": "g", "arguments": {}}"#;
        let out = extract_tool_calls(text, &tools);
        assert!(out.tool_calls.is_empty());
        assert_eq!(out.content, text);
        let out = extract_tool_calls(r#"{"name": "f", "arguments": {"a": 1}}"#, &tools);
        assert_eq!(out.tool_calls.len(), 1);
    }
}
