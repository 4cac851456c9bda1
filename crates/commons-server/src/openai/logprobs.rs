//! Log-probabilities in OpenAI's two shapes: chat (`logprobs.content[]`) and the legacy
//! completions shape (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`).

use commons_engine::{Model, TokenEvent};
use serde_json::{json, Map, Value};

/// The text of one token as clients expect to see it (lossy for partial UTF-8).
pub fn token_text(model: &dyn Model, token: u32) -> (String, Vec<u8>) {
    let bytes = model.token_bytes(token).unwrap_or_default();
    (String::from_utf8_lossy(&bytes).into_owned(), bytes)
}

/// One entry of chat `logprobs.content`.
pub fn chat_entry(model: &dyn Model, token: &TokenEvent) -> Value {
    let (text, bytes) = token_text(model, token.id);
    let top: Vec<Value> = token
        .top_logprobs
        .iter()
        .map(|alt| {
            let (text, bytes) = token_text(model, alt.id);
            json!({"token": text, "logprob": alt.logprob, "bytes": bytes})
        })
        .collect();
    json!({
        "token": text,
        "logprob": token.logprob,
        "bytes": bytes,
        "top_logprobs": top,
    })
}

/// The legacy completions `logprobs` object, built token by token.
#[derive(Debug, Default)]
pub struct LegacyLogprobs {
    tokens: Vec<String>,
    token_logprobs: Vec<Option<f32>>,
    top_logprobs: Vec<Value>,
    text_offset: Vec<usize>,
    /// Characters of text before the next token (offsets count characters, as Python does).
    offset: usize,
}

impl LegacyLogprobs {
    /// Start offsets at `offset` (characters of text before the first reported token).
    pub fn starting_at(offset: usize) -> Self {
        Self {
            offset,
            ..Self::default()
        }
    }

    pub fn push(&mut self, model: &dyn Model, token: &TokenEvent) {
        let (text, _) = token_text(model, token.id);
        self.text_offset.push(self.offset);
        self.offset += text.chars().count();
        self.tokens.push(text);
        self.token_logprobs.push(token.logprob);
        let top = if token.logprob.is_none() {
            // The first prompt token has no context, hence no distribution: OpenAI sends null.
            Value::Null
        } else {
            let mut map = Map::new();
            for alt in &token.top_logprobs {
                let (text, _) = token_text(model, alt.id);
                map.entry(text).or_insert(json!(alt.logprob));
            }
            Value::Object(map)
        };
        self.top_logprobs.push(top);
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        })
    }

    /// Take what was gathered so far (for a streamed chunk), keeping the running offset.
    pub fn drain(&mut self) -> Value {
        let value = self.to_json();
        self.tokens.clear();
        self.token_logprobs.clear();
        self.top_logprobs.clear();
        self.text_offset.clear();
        value
    }
}
