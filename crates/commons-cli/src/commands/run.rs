//! `commons run NAME [PROMPT]`: one answer streamed to the terminal, or an interactive chat.
//! Inference runs in this process through the engine; no server is involved.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use commons_engine::{
    ChatMessage, Done, Engine, Event, GenerateRequest, LlamaEngine, LoadOptions, Model, Prompt,
    SamplingParams, SchedulerConfig,
};
use serde_json::json;

use super::Ctx;
use crate::cli::RunArgs;
use crate::failure::hinted;
use crate::output::print_json;

pub fn run(ctx: &Ctx, args: RunArgs) -> Result<()> {
    let entry = ctx
        .store
        .resolve(&args.model)
        .with_context(|| format!("cannot run `{}`", args.model))?;
    let weights =
        commons_server::runnable::runnable_weights(&ctx.store, &entry).map_err(|reason| {
            anyhow!(hinted(
                format!("cannot run `{}`: {reason}", args.model),
                "import a GGUF model (`commons import FILE.gguf`), or a BERT embedding model folder"
            ))
        })?;
    let options = LoadOptions {
        scheduler: SchedulerConfig {
            slots: 1,
            context_per_slot: args.ctx_size,
            queue_depth: 1,
            ..SchedulerConfig::default()
        },
        embedding_context: 0,
    };
    let started = Instant::now();
    let model = LlamaEngine::new()
        .load(&weights, &options)
        .with_context(|| format!("cannot load `{}`", entry.reference()))?;
    let load_ms = started.elapsed().as_millis();
    let sampling = SamplingParams {
        temperature: args.temperature,
        seed: args.seed,
        ..SamplingParams::default()
    };
    sampling.validate().context("invalid sampling options")?;
    let session = Session {
        model,
        sampling,
        args: &args,
    };
    match args.prompt.clone() {
        Some(prompt) => session.answer_once(&prompt, ctx.json, &entry.reference(), load_ms),
        None => session.chat(),
    }
}

struct Session<'a> {
    model: Arc<dyn Model>,
    sampling: SamplingParams,
    args: &'a RunArgs,
}

impl Session<'_> {
    fn prompt_text(&self, history: &[ChatMessage]) -> Result<String> {
        if self.args.raw {
            return Ok(history
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default());
        }
        let template = self.model.chat_template(None).map_err(|e| {
            let hint = e.hint().unwrap_or_default();
            anyhow!(hinted(
                format!("cannot build the chat prompt: {e}"),
                format!("{hint}; or pass --raw to send the prompt as is")
            ))
        })?;
        Ok(template.render(history, None, true)?)
    }

    fn start(&self, history: &[ChatMessage]) -> Result<commons_engine::GenerationStream> {
        let text = self.prompt_text(history)?;
        let tokens = self.model.tokenize(&text, true)?;
        let context = self.model.info().context_length as usize;
        if tokens.len() >= context {
            return Err(anyhow!(hinted(
                format!(
                    "the conversation is {} tokens, more than the {context}-token context",
                    tokens.len()
                ),
                "start a new chat, or raise --ctx-size"
            )));
        }
        let mut request = GenerateRequest::new(Prompt::Tokens(tokens), 0);
        request.max_tokens = self.args.max_tokens;
        request.sampling = self.sampling.clone();
        Ok(self.model.generate(request)?)
    }

    fn initial_history(&self) -> Vec<ChatMessage> {
        self.args
            .system
            .iter()
            .map(|s| ChatMessage::new("system", s.clone()))
            .collect()
    }

    /// Stream the answer to stdout (unless `quiet`), returning its text and summary.
    fn stream(&self, history: &[ChatMessage], quiet: bool) -> Result<(String, Done)> {
        let mut stream = self.start(history)?;
        let mut out = std::io::stdout().lock();
        let mut text = String::new();
        loop {
            match stream.blocking_recv() {
                Some(Event::Token(token)) => {
                    text.push_str(&token.text);
                    if !quiet {
                        out.write_all(token.text.as_bytes())?;
                        out.flush()?;
                    }
                }
                Some(Event::PromptToken(_)) => {}
                Some(Event::Done(done)) => return Ok((text, done)),
                Some(Event::Error(error)) => return Err(error.into()),
                None => return Err(anyhow!("the model worker stopped")),
            }
        }
    }

    fn answer_once(&self, prompt: &str, json: bool, name: &str, load_ms: u128) -> Result<()> {
        let mut history = self.initial_history();
        history.push(ChatMessage::new("user", prompt));
        let started = Instant::now();
        let (text, done) = self.stream(&history, json)?;
        if json {
            return print_json(&json!({
                "model": name,
                "text": text,
                "finish_reason": done.finish_reason,
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "load_ms": load_ms,
                "total_ms": started.elapsed().as_millis(),
            }));
        }
        println!();
        Ok(())
    }

    fn chat(&self) -> Result<()> {
        let interactive = std::io::stdin().is_terminal();
        let mut history = self.initial_history();
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            if interactive {
                print!(">>> ");
                std::io::stdout().flush()?;
            }
            let Some(line) = lines.next() else { break };
            let line = line.context("cannot read stdin")?;
            let input = line.trim();
            if input == "/bye" {
                break;
            }
            if input.is_empty() {
                continue;
            }
            history.push(ChatMessage::new("user", input));
            let (text, _) = self.stream(&history, false)?;
            println!();
            if interactive {
                println!();
            }
            history.push(ChatMessage::new("assistant", text));
        }
        Ok(())
    }
}
