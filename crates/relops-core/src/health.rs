//! Release-health statistics (DESIGN decision 7): the Wilson score interval shown beside
//! every rate, and the sequential probability ratio test (SPRT) that decides whether a
//! release's crash rate is acceptable.
//!
//! The observation is one active install: crashed in the window or not. With `k` crashed
//! of `n` active installs the log-likelihood ratio of H1 (rate = p1) against H0
//! (rate = p0) is `k·ln(p1/p0) + (n−k)·ln((1−p1)/(1−p0))`. Wald's bounds: accept H1
//! ("failing") at `ln((1−β)/α)`, accept H0 ("passing") at `ln(β/(1−α))`, keep sampling in
//! between ("undecided"). Below a minimum number of active installs the verdict is
//! "unknown" whatever the ratio says, so a handful of sessions never decides anything.
//! The windowed counting that feeds it is [`tracker`].

pub mod tracker;

use serde::{Deserialize, Serialize};

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

/// What the health gate says about a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fewer active installs than the minimum: nothing can be said yet.
    Unknown,
    /// Enough installs, but the test has not crossed either bound yet.
    Undecided,
    /// The test accepts H0: the crash rate is at most p0.
    Passing,
    /// The test accepts H1: the crash rate is above p0 (as bad as p1 or worse).
    Failing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Undecided => "undecided",
            Self::Passing => "passing",
            Self::Failing => "failing",
        }
    }
}

/// The test's parameters (`[health]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sprt {
    /// The acceptable crash rate (playbook: 2 % of active installs).
    pub p0: f64,
    /// The rate the test must tell apart from p0.
    pub p1: f64,
    /// Probability of halting a release whose true rate is p0 (false alarm).
    pub alpha: f64,
    /// Probability of passing a release whose true rate is p1 (missed bad release).
    pub beta: f64,
    /// Below this many active installs the verdict is [`Verdict::Unknown`].
    pub min_installs: u64,
}

impl Default for Sprt {
    /// p0 = 2 % (the playbook's threshold); p1 = 4 %: twice the threshold is the release we
    /// must never miss, and the gap is wide enough that a pilot of a few hundred installs
    /// decides; α = 1 % because a false halt stops a good release for a day and pages
    /// people; β = 5 % because a release missed at exactly p1 is still seen by the next
    /// stage's test, and a release at 5 % is caught with far higher probability. At least
    /// 50 active installs before any verdict.
    fn default() -> Self {
        Self {
            p0: 0.02,
            p1: 0.04,
            alpha: 0.01,
            beta: 0.05,
            min_installs: 50,
        }
    }
}

impl Sprt {
    /// Refuses parameters that make no test.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |x: f64| x > 0.0 && x < 1.0;
        if !(unit(self.p0) && unit(self.p1) && self.p0 < self.p1) {
            return Err(format!(
                "p0 and p1 must be rates with 0 < p0 < p1 < 1 (got p0 = {}, p1 = {})",
                self.p0, self.p1
            ));
        }
        if !(unit(self.alpha) && unit(self.beta) && self.alpha + self.beta < 1.0) {
            return Err(format!(
                "alpha and beta must be probabilities with alpha + beta < 1 (got {} and {})",
                self.alpha, self.beta
            ));
        }
        Ok(())
    }

    /// The log-likelihood ratio increments of one crashed and one healthy install.
    fn steps(&self) -> (f64, f64) {
        (
            (self.p1 / self.p0).ln(),
            ((1.0 - self.p1) / (1.0 - self.p0)).ln(),
        )
    }

    /// `(lower, upper)`: accept H0 at or below `lower`, H1 at or above `upper`.
    pub fn bounds(&self) -> (f64, f64) {
        (
            (self.beta / (1.0 - self.alpha)).ln(),
            ((1.0 - self.beta) / self.alpha).ln(),
        )
    }

    /// The log-likelihood ratio of `crashed` of `active` installs.
    pub fn llr(&self, crashed: u64, active: u64) -> f64 {
        let k = crashed.min(active) as f64;
        let (up, down) = self.steps();
        k * up + (active as f64 - k) * down
    }

    pub fn verdict(&self, crashed: u64, active: u64) -> Verdict {
        if active < self.min_installs {
            return Verdict::Unknown;
        }
        let llr = self.llr(crashed, active);
        let (lower, upper) = self.bounds();
        if llr >= upper {
            Verdict::Failing
        } else if llr <= lower {
            Verdict::Passing
        } else {
            Verdict::Undecided
        }
    }

    /// The verdict once the sample can no longer grow — at the end of a rollout stage's
    /// soak, when every install of the stage has reported: an undecided test is truncated
    /// by Wald's rule, the side of the log-likelihood ratio (above 0: the rate is nearer
    /// p1 than p0, failing; at or below: passing). `unknown` stays unknown.
    pub fn truncated_verdict(&self, crashed: u64, active: u64) -> Verdict {
        match self.verdict(crashed, active) {
            Verdict::Undecided if self.llr(crashed, active) > 0.0 => Verdict::Failing,
            Verdict::Undecided => Verdict::Passing,
            v => v,
        }
    }

    /// How many active installs the test needs in all to decide if the crash rate stays at
    /// `crashed / active`: the ratio grows by the same step per install, so it is the bound
    /// it heads for divided by that step (at least the minimum). `None` once decided,
    /// without installs, or when the rate sits where the step is about zero (the test
    /// would wander until truncated).
    pub fn installs_to_decide(&self, crashed: u64, active: u64) -> Option<u64> {
        if active == 0
            || !matches!(
                self.verdict(crashed, active),
                Verdict::Undecided | Verdict::Unknown
            )
        {
            return None;
        }
        let r = crashed.min(active) as f64 / active as f64;
        let (up, down) = self.steps();
        let drift = r * up + (1.0 - r) * down;
        let (lower, upper) = self.bounds();
        let bound = if drift > 0.0 { upper } else { lower };
        let n = bound / drift;
        if !(drift.abs() > 1e-6 && n.is_finite()) || n > 1e9 {
            return None;
        }
        Some((n.ceil() as u64).max(self.min_installs).max(active))
    }

    /// The most installs the test expects to need at any true rate between p0 and p1 (the
    /// hardest rates to tell apart): a stage with fewer installs may well end its soak
    /// undecided and be judged by truncation.
    pub fn worst_case_installs(&self) -> u64 {
        let steps = 40;
        let hardest = (0..=steps)
            .map(|i| self.p0 + (self.p1 - self.p0) * f64::from(i) / f64::from(steps))
            .map(|p| self.expected(p).1)
            .fold(0.0_f64, f64::max);
        (hardest.ceil() as u64).max(self.min_installs)
    }

    /// Wald's operating characteristic: the probability that the test accepts H0 when the
    /// true rate is `p`, together with the test's average sample number (expected installs
    /// observed before it decides). Wald's approximations, ignoring overshoot; the minimum
    /// number of installs is not included.
    pub fn expected(&self, p: f64) -> (f64, f64) {
        let (lower, upper) = self.bounds();
        let (up, down) = self.steps();
        let drift = p * up + (1.0 - p) * down;
        // p(h) = (1 − r^h) / (q^h − r^h) with q = p1/p0, r = (1−p1)/(1−p0): p(1) = p0,
        // p(−1) = p1, decreasing in h; find h for p by bisection.
        let (q, r) = (self.p1 / self.p0, (1.0 - self.p1) / (1.0 - self.p0));
        let p_of = |h: f64| (1.0 - r.powf(h)) / (q.powf(h) - r.powf(h));
        if drift.abs() < 1e-12 {
            let var = p * up * up + (1.0 - p) * down * down;
            return (upper / (upper - lower), -lower * upper / var);
        }
        let (mut lo, mut hi) = (-60.0_f64, 60.0_f64);
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if mid.abs() < 1e-9 {
                // p(0) is the drift-zero rate; step past it.
                if p > p_of(1e-6) {
                    hi = -1e-9;
                } else {
                    lo = 1e-9;
                }
                continue;
            }
            if p_of(mid) > p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let h = (lo + hi) / 2.0;
        let (a, b) = (upper.exp(), lower.exp());
        let l = (a.powf(h) - 1.0) / (a.powf(h) - b.powf(h));
        let asn = (l * lower + (1.0 - l) * upper) / drift;
        (l, asn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_known_values() {
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

    #[test]
    fn sprt_bounds_and_verdicts() {
        let t = Sprt::default();
        let (lower, upper) = t.bounds();
        assert!((upper - (0.95f64 / 0.01).ln()).abs() < 1e-12);
        assert!((lower - (0.05f64 / 0.99).ln()).abs() < 1e-12);
        // Too few installs: unknown even with every one crashed.
        assert_eq!(t.verdict(49, 49), Verdict::Unknown);
        // 10 % of 100 crashed: far above 2 % -> failing.
        assert_eq!(t.verdict(10, 100), Verdict::Failing);
        // None of 200 crashed: passing.
        assert_eq!(t.verdict(0, 200), Verdict::Passing);
        // 3 % of 100: neither bound yet.
        assert_eq!(t.verdict(3, 100), Verdict::Undecided);
        // The LLR is exactly Wald's sum.
        let want = 5.0 * (0.04f64 / 0.02).ln() + 95.0 * (0.96f64 / 0.98).ln();
        assert!((t.llr(5, 100) - want).abs() < 1e-12);
        // More crashes never make it look better.
        for n in [60, 200, 1000] {
            for k in 0..n / 10 {
                assert!(t.llr(k + 1, n) > t.llr(k, n));
            }
        }
    }

    #[test]
    fn truncation_decides_by_the_side_of_the_ratio() {
        let t = Sprt::default();
        // 18 of 519 (3.5 %): undecided while the sample may grow, failing once truncated.
        assert_eq!(t.verdict(18, 519), Verdict::Undecided);
        assert_eq!(t.truncated_verdict(18, 519), Verdict::Failing);
        // 12 of 519 (2.3 %): below the midpoint rate (about 2.9 %): passing.
        assert_eq!(t.verdict(12, 519), Verdict::Undecided);
        assert_eq!(t.truncated_verdict(12, 519), Verdict::Passing);
        // Decided and unknown verdicts are kept.
        assert_eq!(t.truncated_verdict(0, 200), Verdict::Passing);
        assert_eq!(t.truncated_verdict(10, 100), Verdict::Failing);
        assert_eq!(t.truncated_verdict(5, 20), Verdict::Unknown);
    }

    #[test]
    fn operating_characteristic_matches_wald_at_the_hypotheses() {
        let t = Sprt::default();
        let (l0, _) = t.expected(t.p0);
        let (l1, _) = t.expected(t.p1);
        // L(p0) = 1 − α and L(p1) = β under Wald's approximation.
        assert!((l0 - (1.0 - t.alpha)).abs() < 1e-6, "{l0}");
        assert!((l1 - t.beta).abs() < 1e-6, "{l1}");
        // A 5 % release is accepted as good almost never, and decided in a few hundred.
        let (l5, n5) = t.expected(0.05);
        assert!(l5 < 0.01, "{l5}");
        assert!((100.0..600.0).contains(&n5), "{n5}");
        // A 0.5 % release passes almost surely, in a couple of hundred installs.
        let (lg, ng) = t.expected(0.005);
        assert!(lg > 0.999, "{lg}");
        assert!((100.0..400.0).contains(&ng), "{ng}");
        // The drift-zero point has the largest expected sample size.
        let (_, nmid) = t.expected(0.0289);
        assert!(nmid > n5 && nmid > ng);
    }

    #[test]
    fn installs_needed_to_decide() {
        let t = Sprt::default();
        // 17 of 502 (3.4 %): undecided; the ratio heads for the upper bound and reaches it
        // near 1,000 installs at that rate.
        assert_eq!(t.verdict(17, 502), Verdict::Undecided);
        let n = t.installs_to_decide(17, 502).unwrap();
        let at = |n: u64| (n as f64 * 17.0 / 502.0).ceil() as u64;
        assert_eq!(t.verdict(at(n), n), Verdict::Failing, "{n}");
        let sooner = n - 60;
        let k = (sooner as f64 * 17.0 / 502.0).floor() as u64;
        assert_eq!(t.verdict(k, sooner), Verdict::Undecided, "not much sooner");
        // 1 of 150 (0.7 %): heads for the lower bound.
        let n = t.installs_to_decide(1, 150).unwrap();
        assert_eq!(
            t.verdict((n as f64 / 150.0).floor() as u64, n),
            Verdict::Passing
        );
        // Decided: nothing to say; no installs: nothing to project.
        assert_eq!(t.installs_to_decide(0, 200), None);
        assert_eq!(t.installs_to_decide(0, 0), None);
        // The hardest rates (between p0 and p1) need more than either hypothesis.
        let worst = t.worst_case_installs();
        assert!(worst as f64 > t.expected(t.p0).1 && worst as f64 > t.expected(t.p1).1);
        assert!((500..2000).contains(&worst), "{worst}");
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let ok = Sprt::default();
        assert!(ok.validate().is_ok());
        assert!(Sprt { p1: 0.01, ..ok }.validate().is_err());
        assert!(Sprt { alpha: 0.0, ..ok }.validate().is_err());
        assert!(
            Sprt {
                alpha: 0.6,
                beta: 0.5,
                ..ok
            }
            .validate()
            .is_err()
        );
    }
}
