//! Embedding-vector arithmetic shared by every backend and by the server.

/// Unit length, so a dot product is the cosine similarity. A zero or
/// non-finite vector is returned as it is rather than divided by zero.
pub fn l2_normalised(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

#[cfg(test)]
mod tests {
    use super::l2_normalised;

    #[test]
    fn normalised_vectors_have_unit_length() {
        let v = l2_normalised(vec![3.0, 4.0]);
        assert_eq!(v, vec![0.6, 0.8]);
        assert_eq!(l2_normalised(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
