//! Instants for the log: records keep milliseconds since the epoch; people read and write
//! RFC 3339 in the bundle's zone (UTC+8) or dates, and spans such as `90d`.

use charter_runtime::time::{self as rt, format_day, DateOrInstant};

/// The zone the log prints times in: the regulation's, UTC+8.
const OFFSET_MINUTES: i64 = 8 * 60;

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `2026-06-01T09:00:00.123+08:00`.
pub fn format_ms(ms: i64) -> String {
    let local = ms + OFFSET_MINUTES * 60_000;
    let day = local.div_euclid(86_400_000);
    let rem = local.rem_euclid(86_400_000);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{}T{h:02}:{m:02}:{s:02}.{milli:03}+08:00", format_day(day))
}

/// Parses an instant: RFC 3339 with an offset (fractions allowed), or a date, meaning
/// the start of that day in UTC+8. Milliseconds since the epoch. The shape check is the
/// runtime's ([`rt::parse_instant`]), so the log reads times as requests' `at` is read.
pub fn parse_instant(s: &str) -> Option<i64> {
    Some(match rt::parse_instant(s)? {
        DateOrInstant::Date(day) => day * 86_400_000 - OFFSET_MINUTES * 60_000,
        DateOrInstant::Instant(ms) => ms,
    })
}

/// Parses a span: `90d`, `12h`, `30m`, `45s`, or `N days|hours|minutes`. Milliseconds.
pub fn parse_span(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: i64 = s.get(..digits)?.parse().ok()?;
    let unit = match s.get(digits..)?.trim() {
        "d" | "day" | "days" => 86_400_000,
        "h" | "hour" | "hours" => 3_600_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "s" | "second" | "seconds" => 1000,
        _ => return None,
    };
    n.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip() {
        let t = parse_instant("2026-06-01T09:00:00.123+08:00");
        assert_eq!(
            t.map(format_ms).as_deref(),
            Some("2026-06-01T09:00:00.123+08:00")
        );
        assert_eq!(parse_instant("2026-06-01T01:00:00.123Z"), t);
        assert_eq!(
            parse_instant("2026-06-01").map(format_ms).as_deref(),
            Some("2026-06-01T00:00:00.000+08:00")
        );
        assert_eq!(parse_instant("2026-06-01T09:00:00"), None);
        assert_eq!(parse_instant("2026-06-01T09:00:00++1:00"), None);
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_span("90d"), Some(90 * 86_400_000));
        assert_eq!(parse_span("12 hours"), Some(12 * 3_600_000));
        assert_eq!(parse_span("d"), None);
        assert_eq!(parse_span("5 fortnights"), None);
    }
}
