//! llama.cpp's sampler chain for one request.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::token::LlamaToken;

use crate::error::EngineError;
use crate::request::Grammar;
use crate::sampling::{Mirostat, SamplingParams};
use crate::scheduler::TokenSampler;

/// llama.cpp's generic JSON grammar (grammars/json.gbnf), top level an object.
const JSON_GBNF: &str = r#"
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

ws ::= | " " | "\n" [ \t]{0,20}
"#;

/// The GBNF text for a grammar request.
pub(crate) fn grammar_source(grammar: &Grammar) -> Result<String, EngineError> {
    match grammar {
        Grammar::Json => Ok(JSON_GBNF.to_string()),
        Grammar::Gbnf(source) => Ok(source.clone()),
        Grammar::JsonSchema(schema) => llama_cpp_2::json_schema_to_grammar(&schema.to_string())
            .map_err(|e| EngineError::Grammar(format!("JSON schema not supported: {e}"))),
    }
}

/// Grammar (applied first, so other samplers only see allowed tokens) + the chain.
pub(crate) struct ChainSampler {
    grammar: Option<LlamaSampler>,
    chain: LlamaSampler,
    /// Reused candidate buffer: one entry per vocabulary token.
    scratch: Vec<LlamaTokenData>,
}

impl ChainSampler {
    pub(crate) fn new(
        model: &LlamaModel,
        params: &SamplingParams,
        grammar: Option<&Grammar>,
        prompt: &[u32],
        end_of_generation: &[u32],
    ) -> Result<Self, EngineError> {
        params.validate()?;
        let seed = params.effective_seed();
        let mut samplers = Vec::new();
        // Under a grammar, ending is the grammar's call: banning EOS could leave no allowed token.
        if params.ignore_eos && grammar.is_none() && !end_of_generation.is_empty() {
            let biases: Vec<LlamaLogitBias> = end_of_generation
                .iter()
                .map(|&t| LlamaLogitBias::new(LlamaToken(t as i32), f32::NEG_INFINITY))
                .collect();
            samplers.push(LlamaSampler::logit_bias(model.n_vocab(), &biases));
        }
        if params.has_penalties() {
            samplers.push(LlamaSampler::penalties(
                model.n_vocab(),
                clamp_i32(params.repeat_last_n),
                params.repeat_penalty,
                params.frequency_penalty,
                params.presence_penalty,
            ));
        }
        match params.mirostat {
            Some(Mirostat::V1 { tau, eta }) => {
                samplers.push(LlamaSampler::temp(params.temperature.max(f32::EPSILON)));
                samplers.push(LlamaSampler::mirostat(model.n_vocab(), seed, tau, eta, 100));
            }
            Some(Mirostat::V2 { tau, eta }) => {
                samplers.push(LlamaSampler::temp(params.temperature.max(f32::EPSILON)));
                samplers.push(LlamaSampler::mirostat_v2(seed, tau, eta));
            }
            None if params.is_greedy() => samplers.push(LlamaSampler::greedy()),
            None => {
                // llama.cpp's default order: truncations first, temperature last, then draw.
                if params.top_k > 0 {
                    samplers.push(LlamaSampler::top_k(clamp_i32(params.top_k)));
                }
                if params.typical_p < 1.0 {
                    samplers.push(LlamaSampler::typical(params.typical_p, 1));
                }
                if params.top_p < 1.0 {
                    samplers.push(LlamaSampler::top_p(params.top_p, 1));
                }
                if params.min_p > 0.0 {
                    samplers.push(LlamaSampler::min_p(params.min_p, 1));
                }
                samplers.push(LlamaSampler::temp(params.temperature));
                samplers.push(LlamaSampler::dist(seed));
            }
        }
        let mut chain = LlamaSampler::chain_simple(samplers);
        if params.has_penalties() {
            // Penalties also look at the end of the prompt (as llama-server does).
            let window = params.repeat_last_n as usize;
            let recent = &prompt[prompt.len().saturating_sub(window)..];
            chain.accept_many(recent.iter().map(|&t| LlamaToken(t as i32)));
        }
        let grammar = match grammar {
            None => None,
            Some(g) => {
                let source = grammar_source(g)?;
                Some(
                    LlamaSampler::grammar(model, &source, "root")
                        .map_err(|e| EngineError::Grammar(e.to_string()))?,
                )
            }
        };
        Ok(Self {
            grammar,
            chain,
            scratch: Vec::new(),
        })
    }
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl TokenSampler for ChainSampler {
    fn sample(&mut self, logits: &[f32]) -> u32 {
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        data.extend(
            logits
                .iter()
                .enumerate()
                .map(|(id, &logit)| LlamaTokenData::new(LlamaToken(id as i32), logit, 0.0)),
        );
        let mut candidates = LlamaTokenDataArray::new(data, false);
        if let Some(grammar) = self.grammar.as_mut() {
            candidates.apply_sampler(grammar);
        }
        candidates.apply_sampler(&mut self.chain);
        let token = candidates
            .selected_token()
            .or_else(|| argmax(&candidates.data))
            .unwrap_or(LlamaToken(0));
        if let Some(grammar) = self.grammar.as_mut() {
            if let Err(error) = grammar.try_accept(token) {
                tracing::warn!(
                    ?error,
                    token = token.0,
                    "grammar rejected the sampled token"
                );
            }
        }
        self.chain.accept(token);
        self.scratch = candidates.data;
        u32::try_from(token.0).unwrap_or(0)
    }
}

fn argmax(data: &[LlamaTokenData]) -> Option<LlamaToken> {
    data.iter()
        .filter(|d| d.logit().is_finite())
        .max_by(|a, b| a.logit().total_cmp(&b.logit()))
        .map(|d| d.id())
}
