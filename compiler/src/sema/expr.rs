//! Types and constant values of expressions, and the calendar arithmetic they use.
//!
//! Dates are days since 1970-01-01 and durations are days, the same integers the
//! Cedar lowering uses, so what the checker folds is what Cedar computes.

use jiff::{civil, SignedDuration, Span};

use crate::syntax::ast::{BinOp, Date, Duration, DurationUnit, Expr, ExprKind};

/// The type of an expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// `true`, `false`
    Bool,
    /// 64-bit integer
    Int,
    /// a count: an integer that is never negative. Only facts have it; inside an
    /// expression a `nat` is an `int` ([`Ty::widen`]), so counts compare with any number.
    Nat,
    /// string
    Str,
    /// calendar date
    Date,
    /// a number of days
    Duration,
    /// a scenario of the bundle
    Scenario,
    /// a set of values of one type
    Set(Box<Ty>),
    /// an error was already reported; matches anything
    Unknown,
}

impl Ty {
    /// The type as the docs and messages write it.
    pub fn display(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Nat => "nat".into(),
            Ty::Str => "string".into(),
            Ty::Date => "date".into(),
            Ty::Duration => "duration".into(),
            Ty::Scenario => "scenario".into(),
            Ty::Set(t) => format!("set<{}>", t.display()),
            Ty::Unknown => "unknown".into(),
        }
    }
    /// Parses a type name as `fact` declarations write it.
    pub fn from_name(name: &str) -> Option<Ty> {
        Some(match name {
            "bool" => Ty::Bool,
            "int" => Ty::Int,
            "nat" => Ty::Nat,
            "string" => Ty::Str,
            "date" => Ty::Date,
            "duration" => Ty::Duration,
            "scenario" => Ty::Scenario,
            _ => return None,
        })
    }
    /// Whether a value of type `other` fits where `self` is expected. A `nat` fits
    /// where an `int` is expected, not the other way round.
    pub fn accepts(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Unknown, _) | (_, Ty::Unknown) => true,
            (Ty::Int, Ty::Nat) => true,
            (Ty::Set(a), Ty::Set(b)) => a.accepts(b),
            (a, b) => a == b,
        }
    }
    /// The type as expressions see it: `nat` is `int` there.
    pub fn widen(self) -> Ty {
        match self {
            Ty::Nat => Ty::Int,
            Ty::Set(t) => Ty::Set(Box::new(t.widen())),
            t => t,
        }
    }
    /// Whether values of this type, or the elements of this set, are never negative.
    pub fn is_nat(&self) -> bool {
        match self {
            Ty::Nat => true,
            Ty::Set(t) => t.is_nat(),
            _ => false,
        }
    }
}

/// A constant value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Val {
    /// bool
    Bool(bool),
    /// int
    Int(i64),
    /// string
    Str(String),
    /// date, in days since 1970-01-01
    Date(i64),
    /// duration, in days
    Duration(i64),
    /// a scenario, by name
    Scenario(String),
    /// a set
    Set(Vec<Val>),
}

/// 1970-01-01, day 0.
const EPOCH: civil::Date = civil::date(1970, 1, 1);

/// Days since 1970-01-01 of a calendar date (proleptic Gregorian, jiff's calendar).
pub fn day_number(d: Date) -> i64 {
    civil_day_number(civil_clamped(d))
}

fn civil_day_number(d: civil::Date) -> i64 {
    d.duration_since(EPOCH).as_secs().div_euclid(86_400)
}

/// The calendar date of a day number. Day numbers come from saturating sums of the
/// author's numbers: one beyond jiff's calendar (years -9999 to 9999) gives its first
/// or last day, so a term too long for the calendar still has a date to name.
pub fn date_of_day(day: i64) -> Date {
    EPOCH
        .saturating_add(SignedDuration::from_secs(day.saturating_mul(86_400)))
        .into()
}

/// `d` in jiff's calendar. The parser only builds real days of years 0000–9999; a date
/// built by hand outside that calendar is brought to its nearest day, field by field,
/// so that day numbers stay total and ordered.
fn civil_clamped(d: Date) -> civil::Date {
    if let Some(c) = d.to_civil() {
        return c;
    }
    let year = i16::try_from(d.year.clamp(-9999, 9999)).unwrap_or(0);
    let month = i8::try_from(d.month.clamp(1, 12)).unwrap_or(1);
    let first = civil::Date::new(year, month, 1).unwrap_or(EPOCH);
    let day = i8::try_from(d.day.clamp(1, 31))
        .unwrap_or(1)
        .min(first.days_in_month());
    civil::Date::new(year, month, day).unwrap_or(first)
}

/// A duration in days inside expressions: a month is 30 days, a year 365.
pub fn duration_days(d: Duration) -> i64 {
    let per = match d.unit {
        DurationUnit::Days => 1,
        DurationUnit::Months => 30,
        DurationUnit::Years => 365,
    };
    d.amount.saturating_mul(per)
}

/// The last day of a term that starts on `start` and lasts `d`, by the calendar:
/// a term of 3 years from 2026-01-01 may end on 2028-12-31 at the latest.
pub fn calendar_term_end(start: Date, d: Duration) -> i64 {
    // The amount is the author's number, up to `i64::MAX` either way: every step
    // saturates, so a term too long for the calendar ends at the end of time (and is
    // then reported as too long) instead of overflowing into a short one.
    let months = match d.unit {
        DurationUnit::Days => return day_number(start).saturating_add(d.amount).saturating_sub(1),
        DurationUnit::Months => d.amount,
        DurationUnit::Years => d.amount.saturating_mul(12),
    };
    // jiff keeps the day of the month where the month has it and takes the month's last
    // day otherwise (2026-01-31 + 1 month = 2026-02-28). Past its calendar (or its
    // spans' limits) the end is the end of time: not jiff's last day, so that a term
    // which really ends there is not one day too long.
    let end = Span::new()
        .try_months(months)
        .and_then(|span| civil_clamped(start).checked_add(span));
    match end {
        Ok(end) => civil_day_number(end).saturating_sub(1),
        Err(_) if months < 0 => i64::MIN,
        Err(_) => i64::MAX,
    }
}

/// Evaluates `e` where `lookup` gives the values of the names it knows. Returns
/// `None` when the value depends on something unknown or an operation fails.
pub fn eval(e: &Expr, lookup: &dyn Fn(&str) -> Option<Val>) -> Option<Val> {
    match &e.kind {
        ExprKind::Bool(b) => Some(Val::Bool(*b)),
        ExprKind::Int(i) => Some(Val::Int(*i)),
        ExprKind::Str(s) => Some(Val::Str(s.clone())),
        ExprKind::Date(d) => Some(Val::Date(day_number(*d))),
        ExprKind::Duration(d) => Some(Val::Duration(duration_days(*d))),
        ExprKind::Path(n) => lookup(&n.text),
        ExprKind::Paren(e) => eval(e, lookup),
        ExprKind::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(eval(i, lookup)?);
            }
            Some(Val::Set(out))
        }
        ExprKind::Not(e) => match eval(e, lookup)? {
            Val::Bool(b) => Some(Val::Bool(!b)),
            _ => None,
        },
        ExprKind::And(items) => {
            // `false` anywhere decides, even beside an unknown.
            let mut all_known = true;
            for i in items {
                match eval(i, lookup) {
                    Some(Val::Bool(false)) => return Some(Val::Bool(false)),
                    Some(Val::Bool(true)) => {}
                    _ => all_known = false,
                }
            }
            all_known.then_some(Val::Bool(true))
        }
        ExprKind::Or(items) => {
            let mut all_known = true;
            for i in items {
                match eval(i, lookup) {
                    Some(Val::Bool(true)) => return Some(Val::Bool(true)),
                    Some(Val::Bool(false)) => {}
                    _ => all_known = false,
                }
            }
            all_known.then_some(Val::Bool(false))
        }
        ExprKind::Binary(op, a, b) => {
            let (va, vb) = (eval(a, lookup), eval(b, lookup));
            match op {
                // Nothing is in an empty set, whatever the element.
                BinOp::In if vb == Some(Val::Set(Vec::new())) => Some(Val::Bool(false)),
                BinOp::Contains if va == Some(Val::Set(Vec::new())) => Some(Val::Bool(false)),
                _ => binary(*op, va?, vb?),
            }
        }
    }
}

fn binary(op: BinOp, a: Val, b: Val) -> Option<Val> {
    use Val::*;
    Some(match (op, a, b) {
        (BinOp::Eq, a, b) => Bool(a == b),
        (BinOp::Ne, a, b) => Bool(a != b),
        (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, a, b) => {
            let (x, y) = match (a, b) {
                (Int(x), Int(y)) | (Date(x), Date(y)) | (Duration(x), Duration(y)) => (x, y),
                _ => return None,
            };
            Bool(match op {
                BinOp::Lt => x < y,
                BinOp::Le => x <= y,
                BinOp::Gt => x > y,
                _ => x >= y,
            })
        }
        (BinOp::Contains, Set(items), x) => Bool(items.contains(&x)),
        (BinOp::In, x, Set(items)) => Bool(items.contains(&x)),
        (BinOp::Add, Int(x), Int(y)) => Int(x.checked_add(y)?),
        (BinOp::Add, Date(x), Duration(y)) | (BinOp::Add, Duration(y), Date(x)) => {
            Date(x.checked_add(y)?)
        }
        (BinOp::Add, Duration(x), Duration(y)) => Duration(x.checked_add(y)?),
        (BinOp::Sub, Int(x), Int(y)) => Int(x.checked_sub(y)?),
        (BinOp::Sub, Date(x), Duration(y)) => Date(x.checked_sub(y)?),
        (BinOp::Sub, Date(x), Date(y)) => Duration(x.checked_sub(y)?),
        (BinOp::Sub, Duration(x), Duration(y)) => Duration(x.checked_sub(y)?),
        _ => return None,
    })
}

/// Whether a condition can never hold: it folds to `false`, or a conjunction bounds
/// one name from both sides with no room between (`x > 5 and x < 3`). `non_negative`
/// tells the names that are never below zero (`nat` facts), so `x < 0` never holds.
pub fn never_holds(
    e: &Expr,
    constants: &dyn Fn(&str) -> Option<Val>,
    non_negative: &dyn Fn(&str) -> bool,
) -> bool {
    if eval(e, constants) == Some(Val::Bool(false)) {
        return true;
    }
    let mut conjuncts = Vec::new();
    flatten_and(e, &mut conjuncts);
    let mut bounds: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for c in conjuncts {
        let ExprKind::Binary(op, a, b) = &c.kind else {
            continue;
        };
        let (name, op, k) = match (&strip(a).kind, &strip(b).kind) {
            (ExprKind::Path(n), _) => match eval(b, constants).and_then(as_number) {
                Some(k) => (n.text.as_str(), *op, k),
                None => continue,
            },
            (_, ExprKind::Path(n)) => match eval(a, constants).and_then(as_number) {
                Some(k) => (n.text.as_str(), flip(*op), k),
                None => continue,
            },
            _ => continue,
        };
        if constants(name).is_some() {
            continue;
        }
        let floor = if non_negative(name) { 0 } else { i64::MIN };
        let entry = bounds.entry(name).or_insert((floor, i64::MAX));
        match op {
            BinOp::Lt => entry.1 = entry.1.min(k.saturating_sub(1)),
            BinOp::Le => entry.1 = entry.1.min(k),
            BinOp::Gt => entry.0 = entry.0.max(k.saturating_add(1)),
            BinOp::Ge => entry.0 = entry.0.max(k),
            BinOp::Eq => {
                entry.0 = entry.0.max(k);
                entry.1 = entry.1.min(k);
            }
            _ => {}
        }
    }
    bounds.values().any(|(lo, hi)| lo > hi)
}

fn strip(mut e: &Expr) -> &Expr {
    while let ExprKind::Paren(inner) = &e.kind {
        e = inner;
    }
    e
}

/// The conjuncts of `e`, through nested conjunctions and parentheses, in order.
fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::And(items) => stack.extend(items.iter().rev()),
            ExprKind::Paren(inner) => stack.push(inner),
            _ => out.push(e),
        }
    }
}

fn as_number(v: Val) -> Option<i64> {
    match v {
        Val::Int(x) | Val::Date(x) | Val::Duration(x) => Some(x),
        _ => None,
    }
}

fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(year: i32, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn day_number_round_trip() {
        assert_eq!(day_number(d(1970, 1, 1)), 0);
        assert_eq!(day_number(d(2026, 1, 1)), 20454);
        for z in [-800_000, -1, 0, 59, 60, 20454, 50_000, 2_932_896] {
            assert_eq!(day_number(date_of_day(z)), z);
        }
    }

    #[test]
    fn calendar_terms_saturate() {
        // Terms as long as an i64 allows end after any ordinary term, never before.
        let start = d(2026, 1, 1);
        let three = calendar_term_end(
            start,
            Duration {
                amount: 3,
                unit: DurationUnit::Years,
            },
        );
        for unit in [
            DurationUnit::Days,
            DurationUnit::Months,
            DurationUnit::Years,
        ] {
            let end = calendar_term_end(
                start,
                Duration {
                    amount: i64::MAX,
                    unit,
                },
            );
            assert!(end > three, "{unit:?}: {end} <= {three}");
            let before = calendar_term_end(
                start,
                Duration {
                    amount: i64::MIN,
                    unit,
                },
            );
            assert!(before < day_number(start), "{unit:?}: {before}");
            // And the day numbers of either end still have a calendar date.
            assert!(date_of_day(end).year > 2028);
            assert!(date_of_day(before).year < 2026);
        }
    }

    #[test]
    fn calendar_terms() {
        // 3 years from 2026-01-01 ends on 2028-12-31.
        let three = Duration {
            amount: 3,
            unit: DurationUnit::Years,
        };
        assert_eq!(
            calendar_term_end(d(2026, 1, 1), three),
            day_number(d(2028, 12, 31))
        );
        let m = Duration {
            amount: 1,
            unit: DurationUnit::Months,
        };
        assert_eq!(
            calendar_term_end(d(2026, 1, 31), m),
            day_number(d(2026, 2, 27))
        );
        // A term whose end falls just past jiff's calendar may still end on its last day.
        let one = Duration {
            amount: 1,
            unit: DurationUnit::Years,
        };
        assert!(calendar_term_end(d(9999, 1, 1), one) >= day_number(d(9999, 12, 31)));
        assert_eq!(
            calendar_term_end(d(9998, 1, 1), one),
            day_number(d(9998, 12, 31))
        );
    }
}
