//! Address blocks in the config (`server.trusted_proxies`), as `ADDRESS` or `ADDRESS/BITS`.

use std::net::IpAddr;

/// A block of addresses: those sharing the first `bits` bits with `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBlock {
    base: IpAddr,
    bits: u8,
}

impl IpBlock {
    /// Parses `127.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text.trim(), None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address or ADDRESS/BITS block"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { base, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => prefix_eq(&b.octets(), &a.octets(), self.bits),
            (IpAddr::V6(b), IpAddr::V6(a)) => prefix_eq(&b.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = (bits / 8) as usize;
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_match_their_addresses_only() {
        let lo = IpBlock::parse("127.0.0.0/8").unwrap();
        assert!(lo.contains("127.1.2.3".parse().unwrap()));
        assert!(lo.contains("::ffff:127.0.0.9".parse().unwrap()));
        assert!(!lo.contains("128.0.0.1".parse().unwrap()));
        let one = IpBlock::parse("10.0.0.5").unwrap();
        assert!(one.contains("10.0.0.5".parse().unwrap()));
        assert!(!one.contains("10.0.0.6".parse().unwrap()));
        let v6 = IpBlock::parse("fd00::/12").unwrap();
        assert!(v6.contains("fd0f::1".parse().unwrap()));
        assert!(!v6.contains("fd10::1".parse().unwrap()));
        assert!(IpBlock::parse("10.0.0.0/33").is_err());
        assert!(IpBlock::parse("example.org").is_err());
    }
}
