//! Time: a request's `at` becomes a day number in the bundle's time zone, the unit the
//! compiler lowers every date to. The calendar is jiff's; this module only checks the
//! shape of the text (RFC 3339 with an offset, or a date), so that exactly the inputs
//! the runtime always accepted are accepted.

use jiff::civil::Date;
use jiff::SignedDuration;

/// 1970-01-01, day 0.
const EPOCH: Date = jiff::civil::date(1970, 1, 1);

/// Days since 1970-01-01 of a calendar date.
pub fn day_number(d: Date) -> i64 {
    d.duration_since(EPOCH).as_secs().div_euclid(86_400)
}

/// The calendar date of a day number, if jiff's calendar (years -9999 to 9999) has it.
pub fn date_of_day(day: i64) -> Option<Date> {
    EPOCH
        .checked_add(SignedDuration::from_secs(day.checked_mul(86_400)?))
        .ok()
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let year: i16 = digits(s.get(0..4)?)?;
    let month: i8 = digits(s.get(5..7)?)?;
    let day: i8 = digits(s.get(8..10)?)?;
    Date::new(year, month, day).ok().map(day_number)
}

/// What [`parse_instant`] read: a date alone, or an instant with its offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrInstant {
    /// `YYYY-MM-DD`: days since 1970-01-01; which zone's day is for the caller to say.
    Date(i64),
    /// RFC 3339 with an offset: milliseconds since the epoch (digits of the fraction
    /// past the millisecond are dropped).
    Instant(i64),
}

/// Parses RFC 3339 with an offset (`2026-06-01T09:00:00+08:00`, `…Z`, fractions
/// allowed) or a date. The one shape check of times the runtime and the log read: it
/// accepts exactly the inputs the runtime always accepted (no offset without a colon,
/// no time without an offset).
pub fn parse_instant(s: &str) -> Option<DateOrInstant> {
    let s = s.trim();
    let date = parse_date(s.get(0..10)?)?;
    if s.len() == 10 {
        return Some(DateOrInstant::Date(date));
    }
    let rest = s.get(10..)?;
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let hh: i64 = digits(rest.get(0..2)?)?;
    let mm: i64 = digits(rest.get(3..5)?)?;
    let ss: i64 = digits(rest.get(6..8)?)?;
    if rest.get(2..3) != Some(":") || rest.get(5..6) != Some(":") || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut tail = rest.get(8..)?;
    let mut millis = 0;
    if let Some(frac) = tail.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        // The first three digits, padded: `.5` is 500 ms, `.123456` 123 ms.
        let padded: String = frac
            .get(..n)?
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = digits(&padded)?;
        tail = frac.get(n..)?;
    }
    let offset_secs: i64 = match tail {
        "Z" | "z" => 0,
        _ => {
            let sign = match tail.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if tail.len() != 6 || tail.get(3..4) != Some(":") {
                return None;
            }
            let oh: i64 = digits(tail.get(1..3)?)?;
            let om: i64 = digits(tail.get(4..6)?)?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let utc_secs = date * 86_400 + hh * 3600 + mm * 60 + ss - offset_secs;
    Some(DateOrInstant::Instant(utc_secs * 1000 + millis))
}

/// Parses `at` ([`parse_instant`]): a date means that day in the bundle's zone. Returns
/// the day in the zone `utc_offset_minutes` east of UTC.
pub fn parse_at(s: &str, utc_offset_minutes: i32) -> Option<i64> {
    Some(match parse_instant(s)? {
        DateOrInstant::Date(day) => day,
        DateOrInstant::Instant(ms) => day_of(ms.div_euclid(1000), utc_offset_minutes),
    })
}

/// The day, in the zone `utc_offset_minutes` east of UTC, of a UTC instant in seconds.
pub fn day_of(utc_secs: i64, utc_offset_minutes: i32) -> i64 {
    (utc_secs + i64::from(utc_offset_minutes) * 60).div_euclid(86_400)
}

/// Today in the bundle's zone, by the clock.
pub fn today(utc_offset_minutes: i32) -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    day_of(secs, utc_offset_minutes)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    match date_of_day(day) {
        Some(d) => d.strftime("%Y-%m-%d").to_string(),
        None => format!("day {day}"),
    }
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        let d = parse_date("2026-06-01");
        assert_eq!(d.map(format_day).as_deref(), Some("2026-06-01"));
        assert_eq!(parse_at("2026-06-01T09:00:00+08:00", 480), d);
        // 23:30 UTC on May 31st is June 1st in Zhenjiang.
        assert_eq!(parse_at("2026-05-31T23:30:00Z", 480), d);
        assert_eq!(parse_at("2026-05-31T23:30:00.123Z", 480), d);
        assert_eq!(parse_at("2026-06-01T00:30:00+09:00", 480), d.map(|x| x - 1));
        assert_eq!(parse_at("2026-06-01", 480), d);
        assert_eq!(
            parse_instant("1970-01-01T08:00:00.5+08:00"),
            Some(DateOrInstant::Instant(500))
        );
        assert_eq!(
            parse_instant("1970-01-01T00:00:01.123456Z"),
            Some(DateOrInstant::Instant(1123))
        );
        assert_eq!(parse_instant(" 1970-01-02 "), Some(DateOrInstant::Date(1)));
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(
            parse_date("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            parse_date("0000-03-01").map(format_day).as_deref(),
            Some("0000-03-01")
        );
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(
            parse_date("2000-02-29").map(|d| d - 1),
            parse_date("2000-02-28")
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "2026-06-01T25:00:00Z",
            "2026-06-01T09:00:00",
            "2026-06-01T09:00:00+0800",
            "2026-06-01T09:00:00++1:00",
            "2026-06-01T09:00:00.Z",
            "yesterday",
            "２０２６-06-01",
        ] {
            assert_eq!(parse_at(bad, 480), None, "{bad}");
        }
    }
}
