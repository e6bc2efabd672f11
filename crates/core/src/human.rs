//! Numbers as people read them in evidence and suggestions: `1m30s`, `2.5 MiB`, `93%`, `12,345`, and the round
//! values a suggestion should name (a TTL of `5m`, not `4m47s`).

use crate::event::{MICROS_PER_MILLI, MICROS_PER_SEC, Micros};

/// `850ms`, `30s`, `1m30s`, `2h5m`, `3d4h`: at most two units.
pub fn duration(micros: Micros) -> String {
    let ms = micros / MICROS_PER_MILLI;
    if ms < 1_000 {
        return if micros < MICROS_PER_MILLI { format!("{micros}µs") } else { format!("{ms}ms") };
    }
    let secs = micros / MICROS_PER_SEC;
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        } else if !parts.is_empty() {
            parts.push(String::new());
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.concat()
}

pub fn duration_ms(ms: u64) -> String {
    duration(ms.saturating_mul(MICROS_PER_MILLI))
}

/// `512 B`, `1.5 KiB`, `230 MiB`, `1.2 GiB`.
pub fn bytes(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `93%`, `4.2%`, `0.3%`, `<0.1%`.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_string()
    } else if p < 10.0 && p.fract().abs() > 1e-9 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count for a narrow column: exact below 100,000 (`12,345`), then three significant digits (`180k`, `1.64M`).
pub fn count_short(n: u64) -> String {
    if n < 100_000 {
        return count(n);
    }
    let (value, unit) = if n < 1_000_000 {
        (n as f64 / 1e3, "k")
    } else if n < 1_000_000_000 {
        (n as f64 / 1e6, "M")
    } else {
        (n as f64 / 1e9, "G")
    };
    if value >= 100.0 {
        format!("{value:.0}{unit}")
    } else if value >= 10.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.2}{unit}")
    }
}

/// The smallest round TTL at least `ms`: the values people write in configuration, no step more than twice the
/// one before (1, 2, 3, 5, 7, 10, 15, 20, 30, 45 seconds; then minutes and hours alike; then days), and whole
/// days past a month.
pub fn round_ttl_up(ms: u64) -> u64 {
    const STEPS_S: [u64; 37] = [
        1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 420, 600, 900, 1_200, 1_800, 2_700, 3_600, 5_400,
        7_200, 10_800, 14_400, 21_600, 28_800, 43_200, 64_800, 86_400, 172_800, 259_200, 432_000, 604_800, 1_209_600,
        2_592_000,
    ];
    STEPS_S
        .iter()
        .map(|s| s * 1_000)
        .find(|&step| step >= ms)
        .unwrap_or(ms.div_ceil(86_400_000).saturating_mul(86_400_000))
}

/// The smallest round memory size at least `bytes`: a power of two of MiB or one and a half times one (1, 1.5,
/// 2, 3, 4, 6, 8, 12 MiB...) up to 1 GiB, then 256 MiB steps.
pub fn round_bytes_up(bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    if bytes <= MIB {
        return MIB;
    }
    if bytes <= 1 << 30 {
        let mut size = MIB;
        loop {
            if size >= bytes {
                return size;
            }
            if size + size / 2 >= bytes {
                return size + size / 2;
            }
            size *= 2;
        }
    }
    bytes.div_ceil(256 * MIB).saturating_mul(256 * MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let check = |micros: u64, expected: &str| assert_eq!(duration(micros), expected);
        check(500, "500µs");
        check(850_000, "850ms");
        check(30 * MICROS_PER_SEC, "30s");
        check(90 * MICROS_PER_SEC, "1m30s");
        check(3_600 * MICROS_PER_SEC, "1h");
        check(3_660 * MICROS_PER_SEC, "1h1m");
        check(3_601 * MICROS_PER_SEC, "1h");
        check(90_000 * MICROS_PER_SEC, "1d1h");
    }

    #[test]
    fn sizes_percents_counts() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(230.0 * 1048576.0), "230 MiB");
        assert_eq!(percent(0.93), "93%");
        assert_eq!(percent(0.042), "4.2%");
        assert_eq!(percent(0.0004), "<0.1%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(count_short(99_999), "99,999");
        assert_eq!(count_short(180_041), "180k");
        assert_eq!(count_short(1_642_835), "1.64M");
        assert_eq!(count_short(12_616_533), "12.6M");
    }

    #[test]
    fn round_values() {
        assert_eq!(round_ttl_up(100_000), 120_000);
        assert_eq!(round_ttl_up(120_000), 120_000);
        assert_eq!(round_ttl_up(4 * 60_000 + 47_000), 300_000);
        assert_eq!(round_ttl_up(2_000_000), 2_700_000);
        assert_eq!(round_bytes_up(300 << 20), 384 << 20);
        assert_eq!(round_bytes_up(600 << 20), 768 << 20);
        assert_eq!(round_bytes_up(1), 1 << 20);
        assert_eq!(round_bytes_up((1 << 30) + 1), (1 << 30) + (256 << 20));
        assert_eq!(round_bytes_up(u64::MAX), u64::MAX, "saturates");
        assert!(round_ttl_up(u64::MAX) > 0);
    }
}
