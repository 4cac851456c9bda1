//! Rendering a model's Jinja chat template (`tokenizer.chat_template`) into a prompt.
//!
//! Templates are written for Hugging Face `transformers`, which renders them with Jinja2
//! (`trim_blocks`, `lstrip_blocks`) and passes `messages`, `add_generation_prompt`,
//! `bos_token`, `eos_token`, `tools` and the helpers `raise_exception` and `strftime_now`.
//! We reproduce that with `minijinja` plus the Python string methods from
//! `minijinja-contrib` (`.strip()`, `.startswith()`, `.split()`, ...), because llama.cpp's own
//! `apply_chat_template` only recognises a fixed list of built-in templates.

use minijinja::{Environment, Error as JinjaError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// A function call requested by the assistant, in the shape HF templates expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_string()
}

/// Name and arguments of a function call; `arguments` is a JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: serde_json::Value,
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
            name: None,
        }
    }
}

/// A compiled chat template with the model's BOS/EOS strings.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

const TEMPLATE_NAME: &str = "chat";

#[derive(Serialize)]
struct RenderContext<'a> {
    messages: &'a [ChatMessage],
    add_generation_prompt: bool,
    bos_token: &'a str,
    eos_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [serde_json::Value]>,
}

impl ChatTemplate {
    /// Compile `source`. Syntax errors are reported here, not at the first chat.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| EngineError::ChatTemplate(describe(&e)))?;
        Ok(Self {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// The template to use for a model: an explicit override wins, then the model's own.
    pub fn select(
        override_source: Option<&str>,
        model_template: Option<&str>,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<Self, EngineError> {
        match override_source.or(model_template) {
            Some(source) if !source.trim().is_empty() => Self::new(source, bos_token, eos_token),
            _ => Err(EngineError::NoChatTemplate),
        }
    }

    /// Render a chat. `tools` are JSON function specs (OpenAI `tools[]` entries).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tools: Option<&[serde_json::Value]>,
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| EngineError::ChatTemplate(describe(&e)))?;
        let context = RenderContext {
            messages,
            add_generation_prompt,
            bos_token: &self.bos_token,
            eos_token: &self.eos_token,
            tools: tools.filter(|t| !t.is_empty()),
        };
        template
            .render(context)
            .map_err(|e| EngineError::ChatTemplate(describe(&e)))
    }
}

/// The message and, where present, the template line, which HF errors also show.
fn describe(error: &JinjaError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn raise_exception(message: String) -> Result<String, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message))
}

fn strftime_now(format: String) -> Result<String, JinjaError> {
    use std::fmt::Write;
    let mut out = String::new();
    // chrono reports an invalid format through fmt::Error instead of panicking when written.
    write!(out, "{}", chrono::Local::now().format(&format)).map_err(|_| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("invalid strftime format {format:?}"),
        )
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    const GEMMA: &str = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

    const LLAMA3: &str = "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = strftime_now(\"%d %b %Y\") %}\n{%- endif %}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{%- if tools is not none and tools is defined %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is defined and tools is not none %}\n    {{- \"You have access to the following functions.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n    {%- if message.tool_calls is defined %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n        {{- '{\"name\": \"' + tool_call.name + '\", \"parameters\": ' }}\n        {{- tool_call.arguments | tojson }}\n        {{- \"}\" }}\n        {{- \"<|eot_id|>\" }}\n    {%- elif message.role == \"tool\" %}\n        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n        {{- message.content }}\n        {{- \"<|eot_id|>\" }}\n    {%- else %}\n        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n";

    fn chat() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("user", "Hello"),
            ChatMessage::new("assistant", "Hi there"),
        ]
    }

    #[test]
    fn smollm2_template_renders_chatml_with_default_system_prompt() {
        let t = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        let out = t.render(&chat(), None, true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn gemma_template_maps_assistant_to_model_and_folds_system() {
        let t = ChatTemplate::new(GEMMA, "<bos>", "<eos>").unwrap();
        let mut messages = vec![ChatMessage::new("system", "Be brief.")];
        messages.extend(chat());
        let out = t.render(&messages, None, true).unwrap();
        assert_eq!(
            out,
            "<bos><start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn raise_exception_becomes_a_template_error() {
        let t = ChatTemplate::new(GEMMA, "<bos>", "<eos>").unwrap();
        let messages = vec![
            ChatMessage::new("assistant", "first"),
            ChatMessage::new("user", "second"),
        ];
        let err = t.render(&messages, None, false).unwrap_err();
        assert!(
            matches!(err, EngineError::ChatTemplate(ref m) if m.contains("must alternate")),
            "{err}"
        );
    }

    #[test]
    fn llama3_template_renders_tools_tool_calls_and_date() {
        let t = ChatTemplate::new(LLAMA3, "<|begin_of_text|>", "<|eot_id|>").unwrap();
        let tools =
            vec![serde_json::json!({"name": "get_weather", "parameters": {"type": "object"}})];
        let messages = vec![
            ChatMessage::new("system", "  You are terse.  "),
            ChatMessage::new("user", "Weather in Paris?"),
            ChatMessage {
                tool_calls: Some(vec![ToolCall {
                    id: None,
                    kind: "function".into(),
                    function: FunctionCall {
                        name: "get_weather".into(),
                        arguments: serde_json::json!({"city": "Paris"}),
                    },
                }]),
                ..ChatMessage::new("assistant", "")
            },
            ChatMessage {
                tool_call_id: Some("1".into()),
                ..ChatMessage::new("tool", "18C")
            },
        ];
        let out = t.render(&messages, Some(&tools), true).unwrap();
        assert!(out.starts_with("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nToday Date: "), "{out}");
        assert!(
            out.contains("\"name\":\"get_weather\"") || out.contains("\"name\": \"get_weather\""),
            "{out}"
        );
        assert!(out.contains("You are terse.<|eot_id|>"), "{out}");
        assert!(
            out.contains("{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Paris\"}}")
                || out.contains("\"city\": \"Paris\""),
            "{out}"
        );
        assert!(
            out.contains("<|start_header_id|>ipython<|end_header_id|>\n\n18C<|eot_id|>"),
            "{out}"
        );
        assert!(
            out.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"),
            "{out}"
        );
    }

    #[test]
    fn python_string_methods_work() {
        let source = "{% for m in messages %}{{ m.content.strip().upper() }}|{{ m.role.startswith('us') }}|{{ m.content.split(',')[1] }}{% endfor %}";
        let t = ChatTemplate::new(source, "", "").unwrap();
        let out = t
            .render(&[ChatMessage::new("user", " a,b ")], None, false)
            .unwrap();
        assert_eq!(out, "A,B|True|b "); // Python-style, as Jinja2 prints it
    }

    #[test]
    fn missing_template_is_a_clear_error_with_a_hint() {
        let err = ChatTemplate::select(None, None, "", "").unwrap_err();
        assert!(matches!(err, EngineError::NoChatTemplate));
        assert!(err.hint().unwrap().contains("--template"));
        assert!(ChatTemplate::select(Some("{{ 'x' }}"), None, "", "").is_ok());
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let err = ChatTemplate::new("{% for %}", "", "").unwrap_err();
        assert!(matches!(err, EngineError::ChatTemplate(_)));
    }
}
