//! Throughput of the llama.cpp backend on a GGUF model.
//!
//! ```text
//! cargo run --release -p commons-engine --example engine_bench -- [MODEL.gguf] [THREADS]
//! ```
//! MODEL defaults to `$COMMONS_TEST_GGUF`; THREADS to 2. Prints single-stream decode speed
//! (greedy, 128 tokens), prompt speed, and aggregate decode speed with 4 slots × 4 requests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use commons_engine::{
    Engine, GenerateRequest, LlamaEngine, LoadOptions, Model, Prompt, SchedulerConfig,
};

const TOKENS: u32 = 128;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("COMMONS_TEST_GGUF").map(PathBuf::from));
    let Some(path) = path else {
        eprintln!("error: no model given\nhint: pass a GGUF path or set COMMONS_TEST_GGUF");
        std::process::exit(2);
    };
    let threads: u32 = args.next().and_then(|t| t.parse().ok()).unwrap_or(2);
    let load = |slots: usize, batch_invariant: bool| -> Arc<dyn Model> {
        let options = LoadOptions {
            scheduler: SchedulerConfig {
                slots,
                context_per_slot: 1024,
                threads,
                batch_invariant,
                ..SchedulerConfig::default()
            },
            ..LoadOptions::default()
        };
        match LlamaEngine::new().load(&path, &options) {
            Ok(model) => model,
            Err(error) => {
                eprintln!("error: {error}");
                std::process::exit(1);
            }
        }
    };
    let request = |prompt: Prompt, max_tokens: u32| {
        let mut request = GenerateRequest::new(prompt, max_tokens);
        request.sampling.ignore_eos = true;
        request
    };
    let run = |model: &Arc<dyn Model>, request: GenerateRequest| match model
        .generate(request)
        .and_then(|s| s.collect_blocking())
    {
        Ok(completion) => completion,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let chat = |q: &str| {
        Prompt::Text(format!(
            "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
        ))
    };

    println!("model: {}  threads: {threads}", path.display());
    for batch_invariant in [true, false] {
        println!("-- batch_invariant: {batch_invariant}");
        let single = load(1, batch_invariant);
        // Warm-up (page in the weights).
        run(&single, request(chat("Hello"), 4));

        let out = run(
            &single,
            request(chat("Tell me a story about a lighthouse keeper."), TOKENS),
        );
        let decode_tps = (out.done.completion_tokens.saturating_sub(1)) as f64
            / (out.done.timings.eval_ns as f64 / 1e9);
        println!(
            "single stream greedy: {} tokens, {decode_tps:.1} tok/s decode",
            out.done.completion_tokens
        );

        // Prompt: a ~500-token text, new to the cache.
        let text =
            "The history of open models is a history of shared work: datasets, weights, evaluations. "
                .repeat(28);
        let out = run(&single, request(Prompt::Text(text), 1));
        let prompt_tps =
            out.done.prompt_tokens as f64 / (out.done.timings.prompt_eval_ns as f64 / 1e9);
        println!(
            "prompt: {} tokens, {prompt_tps:.1} tok/s",
            out.done.prompt_tokens
        );
        drop(single);

        let batched = load(4, batch_invariant);
        run(&batched, request(chat("Hello"), 4));
        let questions = [
            "Tell me a story about a lighthouse keeper.",
            "Explain how bread rises.",
            "Describe a walk through a forest in autumn.",
            "Write a letter to a friend about a trip to the sea.",
        ];
        let started = Instant::now();
        let streams: Vec<_> = questions
            .iter()
            .map(|q| batched.generate(request(chat(q), TOKENS)))
            .collect();
        let mut generated = 0;
        for stream in streams {
            match stream.and_then(|s| s.collect_blocking()) {
                Ok(out) => generated += out.done.completion_tokens,
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::exit(1);
                }
            }
        }
        let wall = started.elapsed().as_secs_f64();
        println!(
            "4 slots x 4 requests: {generated} tokens in {wall:.2}s, {:.1} tok/s aggregate (prompts included in the wall time)",
            generated as f64 / wall
        );
        let stats = batched.stats();
        println!(
            "decode calls: {}  prompt tokens evaluated: {}",
            stats.decode_calls, stats.prompt_tokens_evaluated
        );
    }
}
