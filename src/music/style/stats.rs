//! Statistics that compare a drawn melody with its sources and with a uniform random walk:
//! interval and rhythm histograms, and the distances between them.

use std::collections::BTreeMap;

use super::{generator, TICKS_PER_QUARTER};

/// Interval histograms run from an octave down to an octave up (wider leaps are counted at
/// the ends).
pub const MAX_STEP: i32 = 7;

/// A normalised histogram over labelled bins (in a stable order).
pub type Histogram = BTreeMap<String, f64>;

/// Steps clamped to an octave either way.
pub fn clamp_step(step: i32) -> i32 {
    step.clamp(-MAX_STEP, MAX_STEP)
}

/// Interval histogram over steps from -7 to 7 (all bins present).
pub fn interval_histogram(steps: &[i32]) -> Vec<f64> {
    let mut counts = vec![0.0; (2 * MAX_STEP + 1) as usize];
    for s in steps {
        counts[(clamp_step(*s) + MAX_STEP) as usize] += 1.0;
    }
    normalise(&mut counts);
    counts
}

/// The uniform random walk's interval histogram: every step from an octave down to an
/// octave up equally likely.
pub fn uniform_histogram() -> Vec<f64> {
    vec![1.0 / (2 * MAX_STEP + 1) as f64; (2 * MAX_STEP + 1) as usize]
}

/// The steps of a uniform random walk of `n` intervals (seeded).
pub fn random_walk_steps(n: usize, seed: u64) -> Vec<i32> {
    let mut rng = generator(seed ^ 0xDEAD_BEEF);
    (0..n)
        .map(|_| rng.below((2 * MAX_STEP + 1) as u64) as i32 - MAX_STEP)
        .collect()
}

pub fn normalise(v: &mut [f64]) {
    let total: f64 = v.iter().sum();
    if total > 0.0 {
        for x in v.iter_mut() {
            *x /= total;
        }
    }
}

/// Jensen-Shannon divergence in bits (0 identical, 1 disjoint).
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).log2())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    (0.5 * kl(p, &m) + 0.5 * kl(q, &m)).clamp(0.0, 1.0)
}

/// Sum of absolute differences (0 identical, 2 disjoint).
pub fn l1(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum()
}

/// Durations in quarter notes as histogram labels (`1`, `0.5`, `1.5`).
pub fn duration_label(ticks: u32) -> String {
    let q = f64::from(ticks) / f64::from(TICKS_PER_QUARTER);
    let s = format!("{q:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Two label histograms over the union of their labels, as aligned vectors.
pub fn align(a: &Histogram, b: &Histogram) -> (Vec<f64>, Vec<f64>) {
    let mut labels: Vec<&String> = a.keys().chain(b.keys()).collect();
    labels.sort();
    labels.dedup();
    (
        labels
            .iter()
            .map(|l| a.get(*l).copied().unwrap_or(0.0))
            .collect(),
        labels
            .iter()
            .map(|l| b.get(*l).copied().unwrap_or(0.0))
            .collect(),
    )
}

pub fn label_histogram(labels: impl IntoIterator<Item = String>) -> Histogram {
    let mut h = Histogram::new();
    let mut total = 0.0;
    for l in labels {
        *h.entry(l).or_insert(0.0) += 1.0;
        total += 1.0;
    }
    if total > 0.0 {
        for v in h.values_mut() {
            *v /= total;
        }
    }
    h
}

/// The value at a fraction (0-1) of sorted data.
pub fn percentile(sorted: &[i32], fraction: f64) -> i32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let u = uniform_histogram();
        assert!(jensen_shannon(&u, &u) < 1e-12);
        let peaked = interval_histogram(&[1, 1, -1, -1, 1, 2]);
        assert!(jensen_shannon(&peaked, &u) > 0.3);
        assert!((l1(&[1.0, 0.0], &[0.0, 1.0]) - 2.0).abs() < 1e-12);
        assert!((jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
        assert_eq!(duration_label(12), "1.5");
        assert_eq!(duration_label(8), "1");
        let w = random_walk_steps(1000, 1);
        assert!(w.iter().all(|s| (-7..=7).contains(s)));
        assert!(jensen_shannon(&interval_histogram(&w), &u) < 0.02);
    }
}
