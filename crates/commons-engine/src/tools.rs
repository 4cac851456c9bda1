//! Recognising tool calls in model output.
//!
//! Small open models are asked (through their chat template) to answer with
//! `{"name": ..., "arguments": {...}}`, but they wrap it in many ways: Hermes/Qwen-style
//! `<tool_call>...</tool_call>` tags, a JSON list of calls, a Markdown code fence, or prose
//! around the JSON. We accept all of these; the text outside the calls is returned as content.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedToolCall {
    pub name: String,
    /// Always a JSON object (a string that holds JSON is decoded; anything else is wrapped).
    pub arguments: Value,
}

/// Model output split into calls and the remaining text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ParsedOutput {
    pub tool_calls: Vec<ParsedToolCall>,
    /// Text outside the calls, trimmed.
    pub content: String,
}

const OPEN_TAG: &str = "<tool_call>";
const CLOSE_TAG: &str = "</tool_call>";

/// Find tool calls in `text`. Text without any recognisable call comes back as content.
pub fn parse_tool_calls(text: &str) -> ParsedOutput {
    if text.contains(OPEN_TAG) {
        return parse_tagged(text);
    }
    let (tool_calls, content) = scan_json_calls(text);
    ParsedOutput {
        tool_calls,
        content: tidy(&content),
    }
}

/// `<tool_call>{...}</tool_call>` blocks; a missing final close tag (generation cut off at
/// the stop token) is tolerated.
fn parse_tagged(text: &str) -> ParsedOutput {
    let mut calls = Vec::new();
    let mut content = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN_TAG) {
        content.push_str(&rest[..start]);
        let after = &rest[start + OPEN_TAG.len()..];
        let (inner, next) = match after.find(CLOSE_TAG) {
            Some(end) => (&after[..end], &after[end + CLOSE_TAG.len()..]),
            None => (after, ""),
        };
        let (found, leftover) = scan_json_calls(inner);
        if found.is_empty() {
            // Not a call after all: keep it as text.
            content.push_str(&rest[start..rest.len() - next.len()]);
        } else {
            calls.extend(found);
            content.push_str(&leftover);
        }
        rest = next;
    }
    content.push_str(rest);
    ParsedOutput {
        tool_calls: calls,
        content: tidy(&content),
    }
}

/// Every JSON value in `text` that describes calls, and the text around them.
fn scan_json_calls(text: &str) -> (Vec<ParsedToolCall>, String) {
    let mut calls = Vec::new();
    let mut content = String::new();
    let mut cursor = 0;
    let mut search = 0;
    while let Some(offset) = text[search..].find(['{', '[']) {
        let start = search + offset;
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                let end = start + values.byte_offset();
                let found = calls_from_value(&value);
                if found.is_empty() {
                    search = end;
                } else {
                    content.push_str(&text[cursor..start]);
                    calls.extend(found);
                    cursor = end;
                    search = end;
                }
            }
            _ => search = start + 1,
        }
    }
    content.push_str(&text[cursor..]);
    (calls, content)
}

fn calls_from_value(value: &Value) -> Vec<ParsedToolCall> {
    match value {
        Value::Array(items) => {
            let calls: Vec<_> = items.iter().filter_map(call_from_object).collect();
            // A list counts only if all of it is calls; otherwise it is data in the answer.
            if calls.len() == items.len() {
                calls
            } else {
                Vec::new()
            }
        }
        Value::Object(map) => {
            if let Some(Value::Array(_)) = map.get("tool_calls") {
                return map
                    .get("tool_calls")
                    .map(calls_from_value)
                    .unwrap_or_default();
            }
            call_from_object(value).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// `{"name", "arguments"|"parameters"}` or OpenAI's `{"function": {...}}`.
fn call_from_object(value: &Value) -> Option<ParsedToolCall> {
    let map = value.as_object()?;
    if let Some(function) = map.get("function").filter(|f| f.is_object()) {
        return call_from_object(function);
    }
    let name = map.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let arguments = match map.get("arguments").or_else(|| map.get("parameters")) {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::String(raw)) => match serde_json::from_str::<Value>(raw) {
            Ok(parsed @ Value::Object(_)) => parsed,
            _ => serde_json::json!({ "value": raw }),
        },
        Some(object @ Value::Object(_)) => object.clone(),
        Some(_) => return None,
    };
    Some(ParsedToolCall {
        name: name.to_string(),
        arguments,
    })
}

/// Remove the debris a call leaves behind (empty code fences, blank lines).
fn tidy(content: &str) -> String {
    let mut text = content.to_string();
    for fence in ["```json\n```", "```json```", "```\n```", "``````"] {
        text = text.replace(fence, "");
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_object_is_a_call() {
        let out = parse_tool_calls(r#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#);
        assert_eq!(
            out.tool_calls,
            vec![ParsedToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"})
            }]
        );
        assert_eq!(out.content, "");
    }

    #[test]
    fn tagged_calls_with_surrounding_text() {
        let text = "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>";
        let out = parse_tool_calls(text);
        let names: Vec<_> = out.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(out.content, "Let me check.");
    }

    #[test]
    fn unterminated_tag_is_tolerated() {
        let out = parse_tool_calls("<tool_call>{\"name\": \"a\", \"arguments\": {}}");
        assert_eq!(out.tool_calls.len(), 1);
    }

    #[test]
    fn list_of_calls_and_parameters_alias_and_string_arguments() {
        let text = r#"Sure: [{"name": "a", "parameters": {"k": "v"}}, {"name": "b", "arguments": "{\"n\": 2}"}] done"#;
        let out = parse_tool_calls(text);
        assert_eq!(out.tool_calls[0].arguments, json!({"k": "v"}));
        assert_eq!(out.tool_calls[1].arguments, json!({"n": 2}));
        assert_eq!(out.content, "Sure:  done");
    }

    #[test]
    fn openai_function_wrapper_and_code_fence() {
        let text = "```json\n{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {}}}\n```";
        let out = parse_tool_calls(text);
        assert_eq!(out.tool_calls.len(), 1);
        assert_eq!(out.tool_calls[0].name, "f");
    }

    #[test]
    fn plain_text_and_unrelated_json_are_content() {
        let out = parse_tool_calls("The answer is {\"value\": 3} and [1, 2].");
        assert!(out.tool_calls.is_empty());
        assert_eq!(out.content, "The answer is {\"value\": 3} and [1, 2].");
        let broken = parse_tool_calls("{\"name\": \"a\", \"arguments\": {");
        assert!(broken.tool_calls.is_empty());
    }

    #[test]
    fn tag_without_a_call_stays_text() {
        let out = parse_tool_calls("<tool_call>not json</tool_call>");
        assert!(out.tool_calls.is_empty());
        assert_eq!(out.content, "<tool_call>not json</tool_call>");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_and_keeps_plain_text(text in "\\PC{0,200}") {
            let out = parse_tool_calls(&text);
            if out.tool_calls.is_empty() && !text.contains(OPEN_TAG) {
                prop_assert_eq!(out.content, tidy(&text));
            }
        }

        #[test]
        fn calls_are_found_inside_arbitrary_prose(
            before in "[a-z .,]{0,30}",
            after in "[a-z .,]{0,30}",
            name in "[a-z_]{1,12}",
            value in 0i64..1000,
        ) {
            let call = format!(r#"{{"name": "{name}", "arguments": {{"x": {value}}}}}"#);
            let out = parse_tool_calls(&format!("{before}{call}{after}"));
            prop_assert_eq!(out.tool_calls.len(), 1);
            prop_assert_eq!(&out.tool_calls[0].name, &name);
            prop_assert_eq!(&out.tool_calls[0].arguments, &serde_json::json!({"x": value}));
        }
    }
}
