//! Oracle values as JSON, shared by both Oracle backends so that the same
//! row renders the same way whichever path it came by.

use serde_json::{Number, Value};

/// Characters of a CLOB/NCLOB/LONG shown before it is cut with a marker.
pub const LOB_PREVIEW_CHARS: usize = 4096;
pub use crate::db::BLOB_PREVIEW_BYTES;

/// A decimal number from its exact text (`"12.50"`, `"-1e-40"`,
/// `"123456789012345678901234567890"`): a JSON number when one represents it
/// exactly (every `i64`/`u64`, and decimals whose shortest `f64` form has the
/// same value), otherwise the text itself, so no digit is ever lost.
pub fn exact_number(text: &str) -> Value {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(u) = t.parse::<u64>() {
        return Value::from(u);
    }
    let Some(wanted) = Decimal::parse(t) else {
        return Value::String(t.to_owned());
    };
    if let Ok(f) = t.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
        && Decimal::parse(&n.to_string()).as_ref() == Some(&wanted)
    {
        return Value::Number(n);
    }
    Value::String(t.to_owned())
}

/// A decimal reduced to sign, significant digits and exponent, for comparing
/// two spellings of a number by value.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(s: &str) -> Option<Self> {
        let (negative, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
            None => (s, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let all: String = format!("{int}{frac}");
        let lead = all.bytes().take_while(|&b| b == b'0').count();
        let digits = all[lead..].trim_end_matches('0').to_owned();
        if digits.is_empty() {
            return Some(Self {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        // value = 0.digits × 10^exponent
        let int_len = i64::try_from(int.len()).ok()?;
        let lead = i64::try_from(lead).ok()?;
        Some(Self {
            negative,
            digits,
            exponent: exp.checked_add(int_len)?.checked_sub(lead)?,
        })
    }
}

/// Cuts long text (CLOB, LONG) after [`LOB_PREVIEW_CHARS`] with a marker that
/// says how long it really was.
pub fn truncate_text(s: String, limit: usize) -> String {
    crate::db::text::capped_chars(s, limit)
}

/// Oracle's display form of a column type from dictionary facts, e.g.
/// `NUMBER(10,2)`, `VARCHAR2(40 CHAR)`, `TIMESTAMP(6)`.
pub fn format_type(
    data_type: &str,
    length: Option<i64>,
    precision: Option<i64>,
    scale: Option<i64>,
    char_length: Option<i64>,
    char_used: Option<&str>,
) -> String {
    let t = data_type.trim();
    match t {
        "NUMBER" => match (precision, scale) {
            (Some(p), Some(0)) => format!("NUMBER({p})"),
            (Some(p), Some(s)) => format!("NUMBER({p},{s})"),
            (Some(p), None) => format!("NUMBER({p})"),
            (None, Some(0)) => "NUMBER(*,0)".to_owned(),
            (None, _) => "NUMBER".to_owned(),
        },
        "FLOAT" => precision.map_or_else(|| "FLOAT".to_owned(), |p| format!("FLOAT({p})")),
        "VARCHAR2" | "CHAR" => match (char_used, char_length) {
            (Some("C"), Some(n)) if n > 0 => format!("{t}({n} CHAR)"),
            _ => length.map_or_else(|| t.to_owned(), |n| format!("{t}({n})")),
        },
        "NVARCHAR2" | "NCHAR" => match char_length.filter(|n| *n > 0) {
            Some(n) => format!("{t}({n})"),
            None => t.to_owned(),
        },
        "RAW" => length.map_or_else(|| t.to_owned(), |n| format!("RAW({n})")),
        _ => t.to_owned(),
    }
}

/// A whole number from a result cell (JSON number or numeric text).
pub fn cell_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text from a result cell; numbers are printed, NULL is `None`.
pub fn cell_str(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_stay_exact() {
        assert_eq!(exact_number("42"), json!(42));
        assert_eq!(exact_number("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(exact_number("18446744073709551615"), json!(u64::MAX));
        assert_eq!(exact_number("12.50"), json!(12.5));
        assert_eq!(exact_number("0.1"), json!(0.1));
        assert_eq!(exact_number("1e-5"), json!(0.00001));
        // More digits than a double holds: kept as text, every digit intact.
        assert_eq!(
            exact_number("123456789012345678901234567890"),
            json!("123456789012345678901234567890")
        );
        assert_eq!(
            exact_number("3.14159265358979323846264338327950288"),
            json!("3.14159265358979323846264338327950288")
        );
        assert_eq!(exact_number("1e400"), json!("1e400"));
        assert_eq!(exact_number("not a number"), json!("not a number"));
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(Decimal::parse("12.50"), Decimal::parse("1.25e1"));
        assert_eq!(Decimal::parse("0.00"), Decimal::parse("0"));
        assert_ne!(Decimal::parse("12.5"), Decimal::parse("-12.5"));
        assert_eq!(Decimal::parse("."), None);
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        assert_eq!(truncate_text("héllo".into(), 10), "héllo");
        assert_eq!(
            truncate_text("héllo wörld".into(), 4),
            "héll…[truncated, 11 characters total]"
        );
    }

    #[test]
    fn types_render_like_oracle() {
        let f = |t, l, p, s, c, u| format_type(t, l, p, s, c, u);
        assert_eq!(
            f("NUMBER", Some(22), Some(10), Some(2), None, None),
            "NUMBER(10,2)"
        );
        assert_eq!(
            f("NUMBER", Some(22), Some(6), Some(0), None, None),
            "NUMBER(6)"
        );
        assert_eq!(
            f("NUMBER", Some(22), None, Some(0), None, None),
            "NUMBER(*,0)"
        );
        assert_eq!(f("NUMBER", Some(22), None, None, None, None), "NUMBER");
        assert_eq!(
            f("VARCHAR2", Some(160), None, None, Some(40), Some("C")),
            "VARCHAR2(40 CHAR)"
        );
        assert_eq!(
            f("VARCHAR2", Some(40), None, None, Some(40), Some("B")),
            "VARCHAR2(40)"
        );
        assert_eq!(
            f("TIMESTAMP(6)", Some(11), None, Some(6), None, None),
            "TIMESTAMP(6)"
        );
        assert_eq!(f("DATE", Some(7), None, None, None, None), "DATE");
    }
}
