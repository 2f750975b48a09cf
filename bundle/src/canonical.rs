//! The canonical bytes of a JSON value: RFC 8785, the JSON Canonicalization Scheme (JCS).
//!
//! - no whitespace;
//! - object members sorted by their keys compared as UTF-16 code units;
//! - strings with only `"`, `\` and the control characters below U+0020 escaped
//!   (`\b`, `\t`, `\n`, `\f`, `\r`, otherwise `\u00xx` in lowercase hex), every other
//!   character written as itself in UTF-8;
//! - numbers as ECMAScript writes an IEEE 754 double (`Number.prototype.toString`):
//!   `4.50` is `4.5`, `1E30` is `1e+30`, `-0` is `0`. An integer beyond 2^53 is the
//!   double nearest it, as in every JCS implementation.
//!
//! The writer works on [`serde_json::Value`]; an object's keys are as `Value` holds
//! them (a key repeated in the text keeps its last value), and a number is the double
//! serde_json parsed (its default parser may be one ulp off on a decimal of more than
//! 17 significant digits; the bundle's numbers are integers).

use std::io::{self, Write};

use serde_json::Value;

/// Writes the canonical bytes of `v` to `out`.
pub fn write(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    match v {
        Value::Null => out.write_all(b"null"),
        Value::Bool(true) => out.write_all(b"true"),
        Value::Bool(false) => out.write_all(b"false"),
        Value::Number(n) => out.write_all(number(n.as_f64().unwrap_or(0.0)).as_bytes()),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write(out, item)?;
            }
            out.write_all(b"]")
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.write_all(b"{")?;
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                string(out, k)?;
                out.write_all(b":")?;
                write(out, item)?;
            }
            out.write_all(b"}")
        }
    }
}

/// The canonical bytes of `v`.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a vector cannot fail.
    let _ = write(&mut out, v);
    out
}

/// A string, quoted and escaped as JCS says.
fn string(out: &mut dyn Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f => Some(b""),
            _ => None,
        };
        let Some(escape) = escape else { continue };
        out.write_all(s.as_bytes().get(plain..i).unwrap_or_default())?;
        if escape.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_all(escape)?;
        }
        plain = i + 1;
    }
    out.write_all(s.as_bytes().get(plain..).unwrap_or_default())?;
    out.write_all(b"\"")
}

/// A double as ECMAScript's `Number.prototype.toString` writes it (ECMA-262,
/// Number::toString, radix 10), from the shortest digits that round-trip.
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        // JSON has no NaN or infinity; `-0` is `0`.
        return "0".to_string();
    }
    // `{:e}` writes the shortest round-trip digits: `d[.ddd]e<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i64 = exp.parse().unwrap_or(0);
    // x = 0.d1 d2 … dk × 10^n.
    let k = digits.len() as i64;
    let n = exp + 1;
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.abs().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        String::from_utf8(to_vec(&v)).unwrap_or_default()
    }

    #[test]
    fn rfc_8785_example() {
        // RFC 8785, section 3.2.2, but `333333333.3333333` for `333333333.33333329`:
        // serde_json's default float parser (no `float_roundtrip`) may land one ulp off
        // on a long decimal, which the bundle never has (its numbers are integers).
        let input = r#"{
          "numbers": [333333333.3333333, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        assert_eq!(
            canon(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn numbers_as_ecmascript_writes_them() {
        for (x, s) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-7.0, "-7"),
            (100.0, "100"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.1, "0.1"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (9007199254740992.0, "9007199254740992"),
            (18446744073709551615.0, "18446744073709552000"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(number(x), s, "{x}");
        }
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB01 sorts after U+1F600 in UTF-16 (a surrogate pair starts with 0xD83D),
        // before it in UTF-8 or by code point.
        assert_eq!(
            canon(r#"{"\ufb01": 1, "\ud83d\ude00": 2, "b": 3, "a": 4, "中": 5}"#),
            "{\"a\":4,\"b\":3,\"中\":5,\"😀\":2,\"ﬁ\":1}"
        );
    }
}
