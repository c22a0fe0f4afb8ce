//! Gauges: a use against its quota, drawn as an SVG bar on the server (no
//! script, no inline style: the bar's length is an attribute, its colour a
//! class) with the figures beside it as text, which is what assistive
//! technology reads.

/// One gauge.
pub(crate) struct Gauge {
    pub label: &'static str,
    /// What is used, of what: `12 KiB of 64 MiB (1%)`.
    pub text: String,
    /// The bar's length, 0 to 100.
    pub percent: u64,
    /// `ok`, `warn` (80% or more) or `full` (the quota is reached); empty
    /// when there is no quota (no bar is drawn).
    pub level: &'static str,
}

impl Gauge {
    /// `used` of `max` (0: no limit), each shown by `show`.
    pub(crate) fn new(label: &'static str, used: u64, max: u64, show: fn(u64) -> String) -> Gauge {
        if max == 0 {
            return Gauge { label, text: format!("{} (no limit)", show(used)), percent: 0, level: "" };
        }
        let percent = (u128::from(used) * 100 / u128::from(max)).min(100) as u64;
        let level = match percent {
            100.. => "full",
            80.. => "warn",
            _ => "ok",
        };
        Gauge { label, text: format!("{} of {} ({percent}%)", show(used), show(max)), percent, level }
    }

    /// A use not counted yet (`why`).
    pub(crate) fn unknown(label: &'static str, why: &str) -> Gauge {
        Gauge { label, text: why.to_string(), percent: 0, level: "" }
    }
}

/// Bytes as people read them: `512 B`, `1.5 KiB`, `64 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 || value.fract() < 0.05 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A count as is.
pub(crate) fn count(n: u64) -> String {
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_say_how_full_and_bytes_read_as_people_read_them() {
        let g = Gauge::new("Memory", 512, 1024, bytes);
        assert_eq!((g.text.as_str(), g.percent, g.level), ("512 B of 1 KiB (50%)", 50, "ok"));
        assert_eq!(Gauge::new("m", 9, 10, count).level, "warn");
        let over = Gauge::new("m", 12, 10, count);
        assert_eq!((over.percent, over.level), (100, "full"));
        let free = Gauge::new("m", 7, 0, count);
        assert_eq!((free.text.as_str(), free.level), ("7 (no limit)", ""));
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(u64::MAX), "16777216 TiB");
    }
}
