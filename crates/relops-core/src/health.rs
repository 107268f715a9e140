//! Release-health statistics (DESIGN decision 7). This slice: the Wilson score interval
//! shown beside every rate; the sequential test that decides comes with the alert rules.

/// The Wilson score interval of `k` successes in `n` trials at `z` standard deviations
/// (1.96 for 95 %). `None` when `n` is 0.
pub fn wilson(k: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    Some((
        ((centre - spread) / denom).max(0.0),
        ((centre + spread) / denom).min(1.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // 2 crashed of 100 at 95 %: [0.55 %, 7.0 %] (e.g. Newcombe 1998, method 3).
        let (lo, hi) = wilson(2, 100, 1.96).unwrap();
        assert!((lo - 0.00550).abs() < 1e-4, "{lo}");
        assert!((hi - 0.07001).abs() < 1e-4, "{hi}");
        // No crashes is not "0 % for sure".
        let (lo, hi) = wilson(0, 50, 1.96).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.07135).abs() < 1e-4, "{hi}");
        assert_eq!(wilson(0, 0, 1.96), None);
        let (lo, hi) = wilson(10, 10, 1.96).unwrap();
        assert!(hi <= 1.0 && lo > 0.69, "{lo}");
    }
}
