//! Generation, sampling, grammars, templates, tokenizer and embeddings on the real SmolLM2 GGUF.

mod common;

use commons_engine::{
    ChatMessage, EngineError, FinishReason, GenerateRequest, Grammar, Prompt, SamplingParams,
};
use serde_json::json;

fn run(request: GenerateRequest) -> commons_engine::Completion {
    run_on(&common::shared(), request)
}

/// For tests that compare two runs: the one-slot instance (see `common::quiet`).
fn run_quiet(request: GenerateRequest) -> commons_engine::Completion {
    run_on(&common::quiet(), request)
}

fn run_on(
    model: &std::sync::Arc<dyn commons_engine::Model>,
    request: GenerateRequest,
) -> commons_engine::Completion {
    let stream = model.generate(request).expect("request accepted");
    stream.collect_blocking().expect("generation succeeded")
}

fn greedy(prompt: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest::new(common::chat_prompt(prompt), max_tokens)
}

#[test]
fn greedy_generation_is_deterministic_and_non_empty() {
    let first = run_quiet(greedy("What is the capital of France?", 12));
    let second = run_quiet(greedy("What is the capital of France?", 12));
    assert!(!first.text.trim().is_empty(), "empty output");
    assert_eq!(first.text, second.text);
    assert_eq!(
        first.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        second.tokens.iter().map(|t| t.id).collect::<Vec<_>>()
    );
    assert!(first.done.completion_tokens > 0 && first.done.completion_tokens <= 12);
    assert!(first.done.prompt_tokens > 10);
}

#[test]
fn same_seed_reproduces_sampled_output() {
    let sampled = |seed| {
        let mut request = greedy("Write a short poem about the sea.", 16);
        request.sampling = SamplingParams {
            temperature: 1.0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            seed: Some(seed),
            ignore_eos: true,
            ..SamplingParams::default()
        };
        run_quiet(request).text
    };
    let a = sampled(42);
    assert_eq!(a, sampled(42));
    let others: Vec<String> = (1..=4).map(sampled).collect();
    assert!(
        others.iter().any(|o| o != &a) || others.windows(2).any(|w| w[0] != w[1]),
        "five different seeds all produced the same text: sampling ignores the seed"
    );
}

#[test]
fn stop_string_cuts_the_output_without_leaking_it() {
    let mut base = greedy("Count from one to ten in words, separated by commas.", 32);
    base.sampling.ignore_eos = true;
    let full = run_quiet(base.clone()).text;
    // Pick a stop string from the middle of the greedy output.
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() > 8, "output too short to test stops: {full:?}");
    let mid = chars.len() / 2;
    let stop: String = chars[mid..mid + 3].iter().collect();
    let expected = &full[..full.find(&stop).expect("stop occurs in output")];

    let mut request = base;
    request.stop = vec![stop.clone()];
    let cut = run(request);
    assert_eq!(
        cut.done.finish_reason,
        FinishReason::Stop,
        "full {full:?} stop {stop:?} cut {:?}",
        cut.text
    );
    assert_eq!(cut.text, expected, "stop {stop:?}");
    assert!(!cut.text.contains(&stop));
}

#[test]
fn max_tokens_finishes_with_length() {
    let mut request = greedy("Tell me a long story about a dragon.", 5);
    request.sampling.ignore_eos = true;
    let out = run(request);
    assert_eq!(out.done.finish_reason, FinishReason::Length);
    assert_eq!(out.done.completion_tokens, 5);
    assert_eq!(out.tokens.len(), 5);
}

#[test]
fn json_schema_grammar_produces_matching_json() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 16},
            "age": {"type": "integer", "minimum": 0, "maximum": 150}
        },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    let mut request = greedy("Give me a person as JSON with a name and an age.", 64);
    request.grammar = Some(Grammar::JsonSchema(schema));
    let out = run(request);
    assert_eq!(
        out.done.finish_reason,
        FinishReason::Stop,
        "grammar output did not finish: {:?}",
        out.text
    );
    let value: serde_json::Value = serde_json::from_str(out.text.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", out.text));
    assert!(value["name"].is_string(), "{value}");
    assert!(value["age"].is_u64(), "{value}");
    assert_eq!(value.as_object().map(|o| o.len()), Some(2), "{value}");
}

#[test]
fn generic_json_grammar_produces_an_object() {
    let mut request = greedy("Describe a cat as a JSON object.", 48);
    request.grammar = Some(Grammar::Json);
    let out = run(request);
    if out.done.finish_reason == FinishReason::Stop {
        let value: serde_json::Value = serde_json::from_str(out.text.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", out.text));
        assert!(value.is_object());
    } else {
        // Cut by max_tokens: it must still be a JSON object prefix.
        assert!(out.text.trim_start().starts_with('{'), "{:?}", out.text);
    }
}

#[test]
fn gbnf_grammar_constrains_output_and_bad_grammar_is_rejected() {
    let mut request = greedy("Is the sky blue? Answer yes or no.", 8);
    request.grammar = Some(Grammar::Gbnf("root ::= \"yes\" | \"no\"".into()));
    let out = run(request);
    assert!(out.text == "yes" || out.text == "no", "{:?}", out.text);

    let mut bad = greedy("x", 4);
    bad.grammar = Some(Grammar::Gbnf("root ::= (".into()));
    let err = common::shared().generate(bad).unwrap_err();
    assert!(matches!(err, EngineError::Grammar(_)), "{err:?}");
}

#[test]
fn model_chat_template_renders_role_markers() {
    let model = common::shared();
    assert!(model.info().chat_template.is_some());
    let template = model.chat_template(None).expect("template compiles");
    let text = template
        .render(
            &[
                ChatMessage::new("user", "Hi!"),
                ChatMessage::new("assistant", "Hello."),
            ],
            None,
            true,
        )
        .expect("renders");
    assert!(text.contains("<|im_start|>user\nHi!<|im_end|>"), "{text}");
    assert!(
        text.contains("<|im_start|>assistant\nHello.<|im_end|>"),
        "{text}"
    );
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text}");
    // And the rendered prompt generates.
    let out = run(GenerateRequest::new(text, 4));
    assert!(out.done.completion_tokens > 0);
}

#[test]
fn tokenize_detokenize_round_trip_and_special_tokens() {
    let model = common::shared();
    let text = "Hello, world! Ünïcödé ☃ 🙂 <|im_start|>user";
    let tokens = model.tokenize(text, false).unwrap();
    assert!(tokens.len() > 5);
    assert_eq!(model.detokenize(&tokens).unwrap(), text);
    // Special token text is parsed as one token.
    let im_start = model.tokenize("<|im_start|>", false).unwrap();
    assert_eq!(im_start.len(), 1);
    // Byte pieces of a multi-byte character reassemble when streamed.
    let mut decoder = commons_engine::text_stream::Utf8Decoder::default();
    let mut streamed = String::new();
    for &t in &tokens {
        streamed.push_str(&decoder.push(&model.token_bytes(t).unwrap()));
    }
    streamed.push_str(&decoder.finish());
    assert_eq!(streamed, text);

    let special = &model.info().special_tokens;
    let eos = special.eos.as_ref().expect("eos");
    assert!(!eos.text.is_empty());
    assert!(
        model.info().context_length > 0
            && model.info().context_length <= model.info().context_length_train
    );
    let err = model.detokenize(&[u32::MAX]).unwrap_err();
    assert!(matches!(err, EngineError::InvalidToken { .. }));
}

#[test]
fn logprobs_are_reported_for_generated_tokens() {
    let mut request = greedy("Name a color.", 4);
    request.logprobs = Some(3);
    let out = run(request);
    for token in &out.tokens {
        let lp = token.logprob.expect("logprob present");
        assert!(lp <= 0.0);
        assert_eq!(token.top_logprobs.len(), 3);
        assert!(token
            .top_logprobs
            .windows(2)
            .all(|w| w[0].logprob >= w[1].logprob));
        // Greedy: the chosen token is the most likely one.
        assert_eq!(token.top_logprobs[0].id, token.id);
        assert!((token.top_logprobs[0].logprob - lp).abs() < 1e-4);
    }
}

#[test]
fn echo_scores_prompt_tokens() {
    let model = common::shared();
    let prompt = "The quick brown fox jumps over the lazy dog";
    let tokens = model.tokenize(prompt, true).unwrap();
    let request = GenerateRequest {
        echo: true,
        logprobs: Some(1),
        ..GenerateRequest::new(Prompt::Tokens(tokens.clone()), 0)
    };
    let out = run(request);
    assert_eq!(out.done.finish_reason, FinishReason::Length);
    assert_eq!(out.done.completion_tokens, 0);
    assert_eq!(out.prompt_tokens.len(), tokens.len());
    assert_eq!(out.prompt_tokens[0].logprob, None);
    for (event, &id) in out.prompt_tokens.iter().zip(&tokens).skip(1) {
        assert_eq!(event.id, id);
        let lp = event.logprob.expect("prompt logprob");
        assert!(lp <= 0.0 && lp.is_finite());
    }
    // A natural sentence is far more likely than a scramble of the same words.
    let total = |p: &str| -> f32 {
        let toks = model.tokenize(p, true).unwrap();
        let out = run(GenerateRequest {
            echo: true,
            ..GenerateRequest::new(Prompt::Tokens(toks), 0)
        });
        out.prompt_tokens.iter().filter_map(|t| t.logprob).sum()
    };
    assert!(total(prompt) > total("dog lazy the over jumps fox brown quick The"));
}

#[test]
fn echo_from_scores_only_the_continuation_the_same_each_time() {
    let model = common::quiet();
    let context = "Question: what colour is the sky on a clear day? Answer:";
    let mut tokens = model.tokenize(context, true).unwrap();
    let context_len = tokens.len();
    tokens.extend(model.tokenize(" blue", false).unwrap());
    let score = |tokens: &[u32]| {
        run_quiet(GenerateRequest {
            echo: true,
            echo_from: context_len,
            ..GenerateRequest::new(Prompt::Tokens(tokens.to_vec()), 0)
        })
    };
    let first = score(&tokens);
    assert_eq!(first.prompt_tokens.len(), tokens.len());
    for (i, event) in first.prompt_tokens.iter().enumerate() {
        assert_eq!(event.id, tokens[i]);
        assert_eq!(event.logprob.is_some(), i >= context_len, "token {i}");
    }
    // The same context again (the scoring context keeps it): scored the same.
    let again = score(&tokens);
    let logprobs = |c: &commons_engine::Completion| -> Vec<Option<f32>> {
        c.prompt_tokens.iter().map(|t| t.logprob).collect()
    };
    assert_eq!(logprobs(&first), logprobs(&again));
}

#[test]
fn invalid_requests_fail_fast() {
    let model = common::shared();
    assert!(matches!(
        model.generate(GenerateRequest::new("", 4)).unwrap_err(),
        EngineError::EmptyPrompt
    ));
    assert!(matches!(
        model
            .generate(GenerateRequest::new(Prompt::Tokens(vec![u32::MAX]), 4))
            .unwrap_err(),
        EngineError::InvalidToken { .. }
    ));
    let long = "word ".repeat(3000);
    assert!(matches!(
        model.generate(GenerateRequest::new(long, 4)).unwrap_err(),
        EngineError::PromptTooLong { .. }
    ));
    let mut bad = GenerateRequest::new("hi", 4);
    bad.sampling.top_p = 2.0;
    assert!(matches!(
        model.generate(bad).unwrap_err(),
        EngineError::InvalidParameter { .. }
    ));
}

#[test]
fn embeddings_are_unit_norm_and_semantic() {
    let model = common::shared();
    let texts = [
        "The cat sat on the mat.",
        "A kitten was sitting on the rug.",
        "Quarterly revenue grew by eight percent in the financial report.",
    ]
    .map(String::from);
    let vectors = model.embed(&texts).expect("embeddings");
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(v.len(), model.info().embedding_length);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let similar = cos(&vectors[0], &vectors[1]);
    let unrelated = cos(&vectors[0], &vectors[2]);
    assert!(
        similar > unrelated,
        "similar {similar} <= unrelated {unrelated}"
    );
    // Deterministic.
    let again = model.embed(&texts[..1]).unwrap();
    assert!(cos(&again[0], &vectors[0]) > 0.9999);
}

#[tokio::test]
async fn async_stream_delivers_tokens_then_done() {
    let model = common::shared();
    let mut stream = model.generate(greedy("Say hello.", 6)).unwrap();
    let mut tokens = 0;
    let mut done = None;
    while let Some(event) = stream.recv().await {
        match event {
            commons_engine::Event::Token(_) => tokens += 1,
            commons_engine::Event::Done(d) => {
                done = Some(d);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let done = done.expect("done event");
    assert_eq!(done.completion_tokens, tokens);
}

#[test]
fn mirostat_sampling_runs_and_reproduces_with_a_seed() {
    let sampled = || {
        let mut request = greedy("Describe a sunset.", 10);
        request.sampling = SamplingParams {
            temperature: 0.8,
            mirostat: Some(commons_engine::Mirostat::V2 { tau: 5.0, eta: 0.1 }),
            seed: Some(3),
            ignore_eos: true,
            ..SamplingParams::default()
        };
        run_quiet(request)
    };
    let a = sampled();
    assert_eq!(a.done.completion_tokens, 10);
    assert_eq!(a.text, sampled().text);
}
