//! The crate's deterministic random numbers: the same seed gives the same music, the same
//! users and the same faults on every platform. No dependency: a run's seed must keep its
//! meaning across crate upgrades.

/// One step of splitmix64: a well-mixed 64-bit value from any input. Used directly as a hash
/// (search noise, picking among near-equal choices) and as the generator below.
#[inline]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform value in `[0, 1)` from the top 53 bits.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// True with probability `p` given a uniform value (`p` clamped to 0..=1; NaN is 0).
fn chance_of(p: f64, draw: impl FnOnce() -> u64) -> bool {
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    unit(draw()) < p
}

/// splitmix64: the generator of the music and the virtual users. Callers salt the seed so
/// that two uses of one seed do not walk the same sequence.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(state: u64) -> Self {
        Self(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        let value = mix(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        value
    }

    /// Uniform in `0..n`; `0` (drawing nothing) when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n.max(1)) == 0
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        chance_of(p, || self.next_u64())
    }
}

/// xorshift64 seeded through splitmix64 (so that nearby seeds differ): the proxy's jitter and
/// coin flips, where speed matters more than quality.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    pub fn new(seed: u64) -> Self {
        // xorshift must not start at zero.
        Self(mix(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max {
            0 => 0,
            u64::MAX => self.next_u64(),
            _ => self.next_u64() % (max + 1),
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        chance_of(p, || self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generators' first outputs, written down: a change here changes every seeded run.
    #[test]
    fn sequences_are_fixed() {
        let mut s = SplitMix64::new(0);
        assert_eq!(s.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(s.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        let mut x = XorShift64::new(0);
        let first = x.next_u64();
        assert_ne!(first, 0);
        assert_eq!(XorShift64::new(0).next_u64(), first);
    }

    #[test]
    fn ranges_hold() {
        let mut s = SplitMix64::new(7);
        let mut x = XorShift64::new(7);
        for n in 1..200u64 {
            assert!(s.below(n) < n);
            assert!(x.up_to(n) <= n);
        }
        assert_eq!(s.below(0), 0);
        assert!(!s.chance(0.0) && s.chance(1.0) && !x.chance(f64::NAN));
    }
}
