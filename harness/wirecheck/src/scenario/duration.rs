//! Durations in scenario files: a number and a unit, `250ms`, `5s`, `2m`, `1.5s`.

use std::time::Duration;

/// The hint of every bad-duration error.
pub(super) const DURATION_HINT: &str = "write a number followed by ms, s or m, e.g. 250ms or 5s";

/// Parses `250ms`, `5s`, `2m`, `1.5s`, `0s`.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit_nanos): (&str, u128) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000_000_000)
    } else {
        return None;
    };
    let (int, frac) = match number.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || int.len() + frac.len() > 30 {
        return None;
    }
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        digits = digits.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    let scale = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let nanos = digits.checked_mul(unit_nanos)? / scale;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25ms"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in [
            "5",
            "5 seconds",
            "s",
            "1.s",
            ".5s",
            "-1s",
            "5h",
            "5S",
            "",
            "ms",
            "1e3s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("99999999999999999999999999999s"), None);
        assert_eq!(parse_duration(&format!("{}s", "9".repeat(40))), None);
    }
}
