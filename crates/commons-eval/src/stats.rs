//! Proportions with confidence intervals.
//!
//! Every metric here is a proportion `k/n` (items right out of items scored).
//! Its 95% interval is the Wilson score interval: unlike the normal
//! approximation it stays inside [0, 1] and is sensible at `k = 0`, `k = n` and
//! small `n` — which is where small evaluation samples live.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion and its Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    pub correct: u64,
    pub n: u64,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Proportion {
    pub fn new(correct: u64, n: u64) -> Self {
        let (low, high) = wilson(correct, n, Z95);
        let value = if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        };
        Self {
            correct,
            n,
            value,
            low,
            high,
        }
    }

    /// Whether the two intervals share no point (the evaluators disagree beyond chance).
    pub fn disjoint(&self, other: &Proportion) -> bool {
        self.high < other.low || other.high < self.low
    }
}

/// Wilson score interval for `k` successes in `n` trials; `(0, 1)` when `n = 0`.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = k.min(n) as f64 / n_f;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn wilson_matches_reference_values() {
        // statsmodels.stats.proportion.proportion_confint(count, nobs, method="wilson")
        let (low, high) = wilson(7, 10, Z95);
        assert!(
            close(low, 0.396_78) && close(high, 0.892_21),
            "{low} {high}"
        );
        let (low, high) = wilson(50, 100, Z95);
        assert!(
            close(low, 0.403_83) && close(high, 0.596_17),
            "{low} {high}"
        );
    }

    #[test]
    fn wilson_stays_in_the_unit_interval_at_the_edges() {
        let (low, high) = wilson(0, 5, Z95);
        assert_eq!(low, 0.0);
        assert!(close(high, 0.434_48), "{high}");
        let (low, high) = wilson(5, 5, Z95);
        assert!(close(low, 0.565_52), "{low}");
        assert!((high - 1.0).abs() < 1e-12);
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    }

    #[test]
    fn disjoint_intervals() {
        let a = Proportion::new(9, 10);
        let b = Proportion::new(1, 10);
        let c = Proportion::new(7, 10);
        assert!(a.disjoint(&b));
        assert!(!a.disjoint(&c));
    }
}
