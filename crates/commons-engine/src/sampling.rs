//! Sampling parameters, their validation, and log-probability arithmetic.
//!
//! The sampler itself is llama.cpp's sampler chain (built in `llama::sampler`); this module
//! holds what is backend-independent: the knobs a request may turn, their checks, and the
//! log-softmax used to report log-probabilities from raw logits.

use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Mirostat variants (adaptive sampling that targets a constant surprise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Mirostat {
    V1 { tau: f32, eta: f32 },
    V2 { tau: f32, eta: f32 },
}

/// How the next token is chosen. Defaults are greedy with no penalties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 ⇒ greedy (argmax).
    pub temperature: f32,
    /// 0 ⇒ disabled.
    pub top_k: u32,
    /// 1 ⇒ disabled.
    pub top_p: f32,
    /// 0 ⇒ disabled.
    pub min_p: f32,
    /// 1 ⇒ disabled.
    pub typical_p: f32,
    /// 1 ⇒ disabled.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at; 0 ⇒ penalties disabled.
    pub repeat_last_n: u32,
    /// 0 ⇒ disabled.
    pub presence_penalty: f32,
    /// 0 ⇒ disabled.
    pub frequency_penalty: f32,
    /// Same seed + same request ⇒ same output. `None` picks a random seed.
    pub seed: Option<u32>,
    pub mirostat: Option<Mirostat>,
    /// Never end on an end-of-generation token (benchmarks, fixed-length outputs).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
            mirostat: None,
            ignore_eos: false,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: always the most likely token.
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Whether sampling is deterministic argmax.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 && self.mirostat.is_none()
    }

    /// Whether any repetition penalty is active.
    pub fn has_penalties(&self) -> bool {
        self.repeat_last_n > 0
            && (self.repeat_penalty != 1.0
                || self.presence_penalty != 0.0
                || self.frequency_penalty != 0.0)
    }

    /// Reject values llama.cpp would misbehave on (NaN, negative probabilities...).
    pub fn validate(&self) -> Result<(), EngineError> {
        fn check(
            name: &'static str,
            value: f32,
            ok: bool,
            expected: &str,
        ) -> Result<(), EngineError> {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(EngineError::InvalidParameter {
                    name,
                    reason: format!("{value} is not {expected}"),
                })
            }
        }
        check(
            "temperature",
            self.temperature,
            self.temperature >= 0.0,
            ">= 0",
        )?;
        check(
            "top_p",
            self.top_p,
            (0.0..=1.0).contains(&self.top_p),
            "in [0, 1]",
        )?;
        check(
            "min_p",
            self.min_p,
            (0.0..=1.0).contains(&self.min_p),
            "in [0, 1]",
        )?;
        check(
            "typical_p",
            self.typical_p,
            (0.0..=1.0).contains(&self.typical_p),
            "in [0, 1]",
        )?;
        check(
            "repeat_penalty",
            self.repeat_penalty,
            self.repeat_penalty > 0.0,
            "> 0",
        )?;
        check("presence_penalty", self.presence_penalty, true, "finite")?;
        check("frequency_penalty", self.frequency_penalty, true, "finite")?;
        if let Some(Mirostat::V1 { tau, eta } | Mirostat::V2 { tau, eta }) = self.mirostat {
            check("mirostat_tau", tau, tau > 0.0, "> 0")?;
            check("mirostat_eta", eta, eta > 0.0, "> 0")?;
        }
        Ok(())
    }

    /// The seed to use: the requested one, or a fresh one from the clock.
    pub fn effective_seed(&self) -> u32 {
        self.seed.unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
                .unwrap_or(0x5eed);
            nanos.wrapping_mul(2_654_435_761)
        })
    }
}

/// `log(sum(exp(logits)))`, computed stably.
pub fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    max + sum.ln()
}

/// Log-probability of `token` under the softmax of `logits`.
pub fn token_logprob(logits: &[f32], token: u32, lse: f32) -> Option<f32> {
    logits.get(token as usize).map(|&l| l - lse)
}

/// The `n` most likely tokens with their log-probabilities, most likely first.
pub fn top_logprobs(logits: &[f32], n: usize, lse: f32) -> Vec<(u32, f32)> {
    if n == 0 {
        return Vec::new();
    }
    // A bounded selection keeps this O(vocab) rather than sorting the whole vocabulary.
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
    for (id, &logit) in logits.iter().enumerate() {
        if best.len() == n && best.last().is_some_and(|&(_, l)| logit <= l) {
            continue;
        }
        let at = best.partition_point(|&(_, l)| l >= logit);
        best.insert(at, (id as u32, logit));
        best.truncate(n);
    }
    best.into_iter().map(|(id, l)| (id, l - lse)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_of_uniform_logits_are_log_one_over_n() {
        let logits = [0.5f32; 4];
        let lse = log_sum_exp(&logits);
        let lp = token_logprob(&logits, 2, lse).unwrap();
        assert!((lp - (0.25f32).ln()).abs() < 1e-6);
        assert_eq!(token_logprob(&logits, 9, lse), None);
    }

    #[test]
    fn top_logprobs_are_sorted_and_bounded() {
        let logits = [1.0f32, 5.0, 3.0, 4.0, -2.0];
        let lse = log_sum_exp(&logits);
        let top = top_logprobs(&logits, 3, lse);
        let ids: Vec<u32> = top.iter().map(|t| t.0).collect();
        assert_eq!(ids, vec![1, 3, 2]);
        let total: f32 = logits.iter().map(|l| (l - lse).exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(top_logprobs(&logits, 0, lse).is_empty());
        assert_eq!(top_logprobs(&logits, 10, lse).len(), 5);
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let bad = SamplingParams {
            top_p: 1.5,
            ..SamplingParams::default()
        };
        assert!(bad.validate().is_err());
        let nan = SamplingParams {
            temperature: f32::NAN,
            ..SamplingParams::default()
        };
        assert!(nan.validate().is_err());
        assert!(SamplingParams::default().validate().is_ok());
    }

    #[test]
    fn greedy_is_detected() {
        assert!(SamplingParams::greedy().is_greedy());
        let warm = SamplingParams {
            temperature: 0.7,
            ..SamplingParams::default()
        };
        assert!(!warm.is_greedy());
    }
}
