//! Embeddings for both APIs: input length checks (or truncation), the blocking engine call,
//! and shortening vectors to `dimensions`.

use std::sync::Arc;

use commons_engine::{Model, ModelLease};

use crate::error::ApiError;
use crate::state::AppState;

/// Longest input the engine's embedding context takes. Mirrors the engine's own choice
/// (`LoadOptions::embedding_context`, 0 = min(training context, 2048)), which it does not
/// expose.
pub fn embedding_context(state: &AppState, model: &dyn Model) -> usize {
    let train = model.info().context_length_train.max(16);
    let configured = state.limits().embedding_context;
    let context = if configured == 0 {
        train.clamp(16, 2048)
    } else {
        configured.clamp(16, train)
    };
    context as usize
}

/// Vectors for `texts` and the number of tokens they held. Inputs longer than the embedding
/// context are cut at the end when `truncate`, else refused.
pub async fn embed(
    state: &AppState,
    lease: &ModelLease,
    texts: Vec<String>,
    truncate: bool,
    param: &str,
) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
    if texts.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let limit = embedding_context(state, &**lease);
    let model: Arc<dyn Model> = Arc::clone(lease.model());
    let param = param.to_string();
    tokio::task::spawn_blocking(move || {
        let mut inputs = Vec::with_capacity(texts.len());
        let mut tokens_total = 0;
        for text in texts {
            if text.is_empty() {
                return Err(ApiError::invalid(param.clone(), "input must not be empty"));
            }
            let tokens = model.tokenize(&text, true)?;
            if tokens.len() <= limit {
                tokens_total += tokens.len();
                inputs.push(text);
                continue;
            }
            if !truncate {
                return Err(ApiError::invalid(
                    param.clone(),
                    format!(
                        "input length ({}) exceeds maximum context length ({limit})",
                        tokens.len()
                    ),
                ));
            }
            let (text, count) = cut_to_fit(&*model, &tokens, limit)?;
            tokens_total += count;
            inputs.push(text);
        }
        let vectors = model.embed(&inputs)?;
        Ok((vectors, tokens_total))
    })
    .await
    .map_err(|e| ApiError::internal(format!("embedding was interrupted: {e}")))?
}

/// The longest head of `tokens` that still fits after detokenizing and tokenizing again
/// (the engine embeds text, and a cut can re-tokenize a little longer).
fn cut_to_fit(
    model: &dyn Model,
    tokens: &[u32],
    limit: usize,
) -> Result<(String, usize), ApiError> {
    let mut keep = limit;
    loop {
        let head = tokens.get(..keep).unwrap_or(tokens);
        // Skip a leading BOS: tokenizing adds it again.
        let bos = model.info().special_tokens.bos.as_ref().map(|b| b.id);
        let body = match (head.first(), bos) {
            (Some(&first), Some(bos)) if first == bos => head.get(1..).unwrap_or_default(),
            _ => head,
        };
        let text = model.detokenize(body)?;
        let count = model.tokenize(&text, true)?.len();
        if count <= limit || keep <= 1 {
            return Ok((text, count));
        }
        keep = keep.saturating_sub((count - limit).max(1)).max(1);
    }
}

/// Keep the first `dimensions` components and scale back to unit length (Matryoshka models).
pub fn shorten(mut vector: Vec<f32>, dimensions: Option<usize>) -> Vec<f32> {
    if let Some(n) = dimensions.filter(|&n| n > 0 && n < vector.len()) {
        vector.truncate(n);
        return commons_engine::l2_normalised(vector);
    }
    vector
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn shortened_vectors_are_renormalised() {
        let v = shorten(vec![3.0, 4.0, 12.0], Some(2));
        assert_eq!(v, vec![0.6, 0.8]);
        assert_eq!(shorten(vec![1.0, 0.0], None), vec![1.0, 0.0]);
        assert_eq!(shorten(vec![1.0, 0.0], Some(5)), vec![1.0, 0.0]);
    }
}
