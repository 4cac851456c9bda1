//! Weight lineage: is a model identical to, derived from, or unrelated to
//! another, judged from the weights themselves rather than from what either
//! model claims.
//!
//! Two kinds of evidence: tensors whose bytes are identical (the sha256
//! recorded at import), and, for tensors with the same name and shape whose
//! bytes differ, the cosine similarity of their dequantized values on a few
//! evenly spread windows. A fine-tune, a requantization or a merge keeps its
//! base's tensors nearly parallel (cosine close to 1); independently trained
//! weights, even of the same architecture, are nearly orthogonal.

use std::collections::HashMap;

use serde::Serialize;

use commons_formats::dequant;

/// Cosine at or above which two differing tensors count as the same weights
/// changed a little (fine-tuning and 4-bit requantization stay well above).
pub const SIMILAR_COSINE: f64 = 0.9;
/// Most tensors compared by value per pair of models.
pub const MAX_TENSORS_COMPARED: usize = 48;
/// Windows sampled per tensor, and the elements in each.
const WINDOWS: usize = 16;
const WINDOW_ELEMENTS: usize = 256;

/// One tensor as recorded at import.
#[derive(Debug, Clone)]
pub struct TensorFacts {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub sha256: String,
}

/// Where a model's tensor bytes can be read from.
pub trait TensorBytes {
    /// `(dtype, raw bytes)` of the tensor named `name`.
    fn tensor(&self, name: &str) -> Option<(&str, &[u8])>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Identical,
    Derived,
    Unrelated,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorSimilarity {
    pub name: String,
    pub dtypes: [String; 2],
    pub cosine: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub verdict: Verdict,
    /// For `derived`: what kind of derivation the evidence points to.
    pub relation: Option<&'static str>,
    pub tensors: usize,
    pub base_tensors: usize,
    /// Same name, same bytes.
    pub identical_tensors: usize,
    /// Same name and shape, different bytes.
    pub differing_tensors: usize,
    /// Of those, compared by value (bounded by [`MAX_TENSORS_COMPARED`]).
    pub compared_tensors: usize,
    pub similar_tensors: usize,
    pub mean_cosine: Option<f64>,
    /// Tensors whose type could not be dequantized (skipped).
    pub skipped: Vec<String>,
    pub similarities: Vec<TensorSimilarity>,
    pub explanation: String,
}

/// Compares model `a` with a candidate base `b`.
pub fn compare(
    a: &[TensorFacts],
    a_bytes: &dyn TensorBytes,
    b: &[TensorFacts],
    b_bytes: &dyn TensorBytes,
) -> Comparison {
    let b_by_name: HashMap<&str, &TensorFacts> = b.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut identical = 0;
    let mut differing = Vec::new();
    for t in a {
        match b_by_name.get(t.name.as_str()) {
            Some(o) if o.sha256 == t.sha256 => identical += 1,
            Some(o) if o.shape == t.shape => differing.push((t, *o)),
            _ => {}
        }
    }

    // Compare a bounded, evenly spread selection of the differing tensors.
    let step = differing.len().div_ceil(MAX_TENSORS_COMPARED).max(1);
    let mut similarities = Vec::new();
    let mut skipped = Vec::new();
    for (ta, tb) in differing.iter().step_by(step) {
        match tensor_cosine(ta, a_bytes, tb, b_bytes) {
            Some(cosine) => similarities.push(TensorSimilarity {
                name: ta.name.clone(),
                dtypes: [ta.dtype.clone(), tb.dtype.clone()],
                cosine,
            }),
            None => skipped.push(ta.name.clone()),
        }
    }
    let similar = similarities
        .iter()
        .filter(|s| s.cosine >= SIMILAR_COSINE)
        .count();
    let mean_cosine = (!similarities.is_empty())
        .then(|| similarities.iter().map(|s| s.cosine).sum::<f64>() / similarities.len() as f64);

    let same_set = a.len() == b.len() && identical == a.len();
    let matched = identical + differing.len();
    // Share of a's tensors that are b's, exactly or nearly, estimated from the sample.
    let similar_share = if similarities.is_empty() {
        0.0
    } else {
        similar as f64 / similarities.len() as f64
    };
    let related = identical as f64 + differing.len() as f64 * similar_share;
    let coverage = if a.is_empty() {
        0.0
    } else {
        related / a.len() as f64
    };

    let (verdict, relation, explanation) = if same_set && !a.is_empty() {
        (
            Verdict::Identical,
            None,
            format!("all {} tensors are byte-identical", a.len()),
        )
    } else if coverage >= 0.5 {
        let requantized = similarities
            .iter()
            .filter(|s| s.dtypes[0] != s.dtypes[1])
            .count();
        let relation = if identical > 0 && differing.is_empty() {
            "subset: shares tensors unchanged (adapter merge, pruning or added layers)"
        } else if requantized * 2 > similarities.len() {
            "requantization"
        } else {
            "fine-tune or merge"
        };
        (
            Verdict::Derived,
            Some(relation),
            format!(
                "{identical} of {} tensors are byte-identical and {similar} of {} differing tensors sampled are nearly parallel (cosine >= {SIMILAR_COSINE})",
                a.len(),
                similarities.len()
            ),
        )
    } else if matched == 0 {
        (
            Verdict::Unrelated,
            None,
            "no tensor shares a name and shape with the other model".into(),
        )
    } else {
        (
            Verdict::Unrelated,
            None,
            format!(
                "{identical} identical tensors; {similar} of {} same-shaped tensors sampled are similar{}",
                similarities.len(),
                mean_cosine.map_or(String::new(), |m| format!(" (mean cosine {m:.3})"))
            ),
        )
    };
    Comparison {
        verdict,
        relation,
        tensors: a.len(),
        base_tensors: b.len(),
        identical_tensors: identical,
        differing_tensors: differing.len(),
        compared_tensors: similarities.len(),
        similar_tensors: similar,
        mean_cosine,
        skipped,
        similarities,
        explanation,
    }
}

/// Cosine similarity of the same windows of two tensors; `None` when either
/// type cannot be dequantized or the data is short.
fn tensor_cosine(
    a: &TensorFacts,
    a_bytes: &dyn TensorBytes,
    b: &TensorFacts,
    b_bytes: &dyn TensorBytes,
) -> Option<f64> {
    let (a_type, a_data) = a_bytes.tensor(&a.name)?;
    let (b_type, b_data) = b_bytes.tensor(&b.name)?;
    let (a_block, _) = dequant::block_layout(a_type)?;
    let (b_block, _) = dequant::block_layout(b_type)?;
    let elements = usize::try_from(a.shape.iter().product::<u64>()).ok()?;
    // Block sizes are 1, 32 or 256, so the larger is a multiple of the smaller.
    let window = a_block.max(b_block).max(WINDOW_ELEMENTS.min(elements));
    if window == 0 || !elements.is_multiple_of(window) {
        return None;
    }
    let windows_in_tensor = elements / window;
    let windows = WINDOWS.min(windows_in_tensor);
    let stride = windows_in_tensor / windows.max(1);
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for i in 0..windows {
        let first = i * stride * window;
        dequant::dequantize(a_type, a_data, first, window, &mut va).ok()?;
        dequant::dequantize(b_type, b_data, first, window, &mut vb).ok()?;
    }
    cosine(&va, &vb)
}

/// Cosine similarity; `None` for empty or all-zero vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        if !x.is_finite() || !y.is_finite() {
            continue;
        }
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    (na > 0.0 && nb > 0.0).then(|| dot / (na.sqrt() * nb.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(HashMap<String, (String, Vec<u8>)>);
    impl TensorBytes for Mem {
        fn tensor(&self, name: &str) -> Option<(&str, &[u8])> {
            self.0.get(name).map(|(t, b)| (t.as_str(), b.as_slice()))
        }
    }

    fn f32_model(seed: f32, noise: f32) -> (Vec<TensorFacts>, Mem) {
        let mut facts = Vec::new();
        let mut mem = HashMap::new();
        for t in 0..4 {
            let values: Vec<f32> = (0..1024)
                .map(|i| ((i * 7 + t * 13) as f32 * seed).sin() + noise * ((i as f32) * 0.37).cos())
                .collect();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let name = format!("t{t}");
            facts.push(TensorFacts {
                name: name.clone(),
                dtype: "F32".into(),
                shape: vec![32, 32],
                sha256: format!(
                    "{:x}",
                    bytes.iter().map(|&b| u64::from(b)).sum::<u64>() * 31
                        + bytes.len() as u64
                        + (noise * 1000.0) as u64
                        + (seed * 1000.0) as u64
                ),
            });
            mem.insert(name, ("F32".into(), bytes));
        }
        (facts, Mem(mem))
    }

    #[test]
    fn verdicts() {
        let (a, am) = f32_model(0.1, 0.0);
        assert_eq!(compare(&a, &am, &a, &am).verdict, Verdict::Identical);
        let (b, bm) = f32_model(0.1, 0.05);
        let c = compare(&b, &bm, &a, &am);
        assert_eq!(c.verdict, Verdict::Derived, "{c:?}");
        assert_eq!(c.relation, Some("fine-tune or merge"));
        let (u, um) = f32_model(0.7, 0.0);
        let c = compare(&u, &um, &a, &am);
        assert_eq!(c.verdict, Verdict::Unrelated, "{c:?}");
    }

    #[test]
    fn cosine_edges() {
        assert_eq!(cosine(&[], &[]), None);
        assert_eq!(cosine(&[0.0], &[1.0]), None);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]).unwrap() - 1.0).abs() < 1e-12);
    }
}
