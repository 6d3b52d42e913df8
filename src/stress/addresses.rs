//! Which loopback address each part of a run speaks from.
//!
//! The server keys every per-client limit by the client's address, and every address in
//! 127.0.0.0/8 is this machine's. So each virtual user has an address of its own (as real
//! users behind different hosts would), the harness's own probes and chaos have theirs,
//! and each adversary has its own: the server tells them apart exactly as it would tell
//! apart clients on a network, and a protection that fails to isolate one from another
//! shows in the figures.

use std::net::{IpAddr, Ipv4Addr};

/// The harness's own calls: the chaos actions, readiness probes and recovery checks.
pub const HARNESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The checker's reader `k` reading back the acknowledged scores after the load: 127.3.0.k.
pub fn checker(k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 3, 0, (k % 250 + 1) as u8))
}

/// Virtual user `index` (up to 62,500 users): 127.1.x.y.
pub fn user(index: usize) -> IpAddr {
    let i = index % 62_500;
    IpAddr::V4(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// Adversary `index` of the config's list: 127.2.x.1.
pub fn adversary(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 2, (index % 250 + 1) as u8, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_loopback_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let a = user(i);
            assert!(a.is_loopback());
            assert!(seen.insert(a), "{a} twice");
        }
        for i in 0..20 {
            assert!(adversary(i).is_loopback());
            assert!(seen.insert(adversary(i)));
        }
        assert!(seen.insert(HARNESS) && seen.insert(checker(0)) && seen.insert(checker(1)));
    }
}
