//! Parameters of declarative tools: their types and constraints, the JSON
//! Schema they publish, and the check every value passes before it is bound.
//! Everything here is built once at load time; a call only compares values.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use regex::Regex;
use serde_json::{Map, Value};

/// The value types a parameter can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD`, bound as that text.
    Date,
    /// ISO 8601 date and time, bound as `YYYY-MM-DDTHH:MM:SS[.fff]` in UTC.
    Timestamp,
    /// One of a fixed list of strings.
    Enum,
}

impl ParamType {
    pub(super) const NAMES: &'static str =
        "string, integer, number, boolean, date, timestamp, enum";

    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "timestamp" => Self::Timestamp,
            "enum" => Self::Enum,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Timestamp => "timestamp",
            Self::Enum => "enum",
        }
    }

    fn ordered(self) -> bool {
        matches!(
            self,
            Self::Integer | Self::Number | Self::Date | Self::Timestamp
        )
    }

    fn textual(self) -> bool {
        matches!(self, Self::String)
    }
}

/// Where a claim-bound parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ClaimSource {
    /// The token's subject (`sub`).
    Subject,
    /// The OAuth client (`client_id`, `azp` or `appid`).
    ClientId,
    /// Any other claim of the access token, by name.
    Claim(String),
}

impl ClaimSource {
    pub(super) fn parse(s: &str) -> Self {
        match s {
            "sub" => Self::Subject,
            "client_id" => Self::ClientId,
            other => Self::Claim(other.to_owned()),
        }
    }

    pub(super) fn name(&self) -> &str {
        match self {
            Self::Subject => "sub",
            Self::ClientId => "client_id",
            Self::Claim(c) => c,
        }
    }
}

/// A lower or upper bound, in the canonical form of its type.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Bound {
    Int(i64),
    Num(f64),
    /// Canonical date or timestamp text: these order correctly as strings.
    Text(String),
}

impl Bound {
    pub(super) fn of(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .map(Bound::Int)
                .or_else(|| n.as_f64().map(Bound::Num)),
            Value::String(s) => Some(Bound::Text(s.clone())),
            _ => None,
        }
    }

    /// Order of two bounds of one parameter (min against max).
    pub(super) fn order(&self, other: &Bound) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Bound::Int(x), Bound::Int(y)) => Some(x.cmp(y)),
            (Bound::Text(x), Bound::Text(y)) => Some(x.cmp(y)),
            (Bound::Text(_), _) | (_, Bound::Text(_)) => None,
            (x, y) => x.float()?.partial_cmp(&y.float()?),
        }
    }

    fn float(&self) -> Option<f64> {
        match self {
            Bound::Int(i) => Some(*i as f64),
            Bound::Num(f) => Some(*f),
            Bound::Text(_) => None,
        }
    }

    fn json(&self) -> Value {
        match self {
            Bound::Int(i) => Value::from(*i),
            Bound::Num(f) => Value::from(*f),
            Bound::Text(s) => Value::String(s.clone()),
        }
    }

    fn show(&self) -> String {
        match self {
            Bound::Int(i) => i.to_string(),
            Bound::Num(f) => f.to_string(),
            Bound::Text(s) => s.clone(),
        }
    }

    /// `value` compared to `self`; values were made canonical first.
    fn cmp_value(&self, value: &Value) -> Option<std::cmp::Ordering> {
        match (self, value) {
            (Bound::Text(b), Value::String(v)) => Some(v.as_str().cmp(b.as_str())),
            (b, Value::Number(n)) => {
                let v = n.as_f64()?;
                let b = match b {
                    Bound::Int(i) => *i as f64,
                    Bound::Num(f) => *f,
                    Bound::Text(_) => return None,
                };
                // Compare integers exactly when both are integers.
                match (self, n.as_i64()) {
                    (Bound::Int(bi), Some(vi)) => Some(vi.cmp(bi)),
                    _ => v.partial_cmp(&b),
                }
            }
            _ => None,
        }
    }
}

/// A fully checked parameter, ready to validate call arguments.
#[derive(Debug, Clone)]
pub(super) struct Param {
    pub name: String,
    pub ty: ParamType,
    pub description: Option<String>,
    pub required: bool,
    /// Canonical value bound when the argument is absent.
    pub default: Option<Value>,
    pub min: Option<Bound>,
    pub max: Option<Bound>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<Regex>,
    /// Allowed values (canonical), for `enum` and optionally string/integer.
    pub allowed: Option<Vec<Value>>,
    /// Set from the caller's token instead of the arguments.
    pub claim: Option<ClaimSource>,
}

/// How a value is shown back in an error: short, and never a wall of text.
pub(super) fn show(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => return "an array".into(),
        Value::Object(_) => return "an object".into(),
    };
    let mut text = v.to_string();
    if text.chars().count() > 60 {
        text = text.chars().take(57).collect::<String>() + "…";
    }
    format!("{kind} {text}")
}

/// Why a value does not fit a parameter (or a tool file's constraint
/// does not fit its type); the message names the rule, the caller adds the
/// parameter's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ParamError(String);

impl Param {
    /// Checks one value and returns what is bound (canonical dates and
    /// timestamps, integral floats as integers). The message names the
    /// constraint; the caller prefixes the parameter.
    pub(super) fn check(&self, v: &Value) -> Result<Value, ParamError> {
        let value = self.coerce(v)?;
        if let Some(allowed) = &self.allowed
            && !allowed.contains(&value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(ParamError(format!(
                "must be one of {}, got {}",
                list.join(", "),
                show(v)
            )));
        }
        if let Some(min) = &self.min
            && min.cmp_value(&value) == Some(std::cmp::Ordering::Less)
        {
            return Err(ParamError(format!(
                "must be at least {}, got {}",
                min.show(),
                show(&value)
            )));
        }
        if let Some(max) = &self.max
            && max.cmp_value(&value) == Some(std::cmp::Ordering::Greater)
        {
            return Err(ParamError(format!(
                "must be at most {}, got {}",
                max.show(),
                show(&value)
            )));
        }
        if let Value::String(s) = &value {
            if self.min_length.is_some() || self.max_length.is_some() {
                let n = s.chars().count() as u64;
                if let Some(min) = self.min_length
                    && n < min
                {
                    return Err(ParamError(format!(
                        "must be at least {min} characters long, got {n}"
                    )));
                }
                if let Some(max) = self.max_length
                    && n > max
                {
                    return Err(ParamError(format!(
                        "must be at most {max} characters long, got {n}"
                    )));
                }
            }
            if let Some(re) = &self.pattern
                && !re.is_match(s)
            {
                return Err(ParamError(format!(
                    "must match the pattern {}, got {}",
                    re.as_str(),
                    show(&value)
                )));
            }
        }
        Ok(value)
    }

    /// The type check alone, with the canonical form of the value.
    fn coerce(&self, v: &Value) -> Result<Value, ParamError> {
        let wrong = |what: &str| Err(ParamError(format!("must be {what}, got {}", show(v))));
        match self.ty {
            ParamType::String | ParamType::Enum => match v {
                Value::String(_) => Ok(v.clone()),
                _ => wrong("a string"),
            },
            ParamType::Integer => match v {
                Value::Number(n) if n.is_i64() => Ok(v.clone()),
                Value::Number(n) => match n.as_f64() {
                    // 42.0 is an integer; JSON encoders differ on how they write it.
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                    _ => wrong("an integer"),
                },
                _ => wrong("an integer"),
            },
            ParamType::Number => match v {
                Value::Number(_) => Ok(v.clone()),
                _ => wrong("a number"),
            },
            ParamType::Boolean => match v {
                Value::Bool(_) => Ok(v.clone()),
                _ => wrong("true or false"),
            },
            ParamType::Date => match v {
                Value::String(s) => parse_date(s).map(Value::String).ok_or_else(|| {
                    ParamError(format!("must be a date YYYY-MM-DD, got {}", show(v)))
                }),
                _ => wrong("a date string YYYY-MM-DD"),
            },
            ParamType::Timestamp => match v {
                Value::String(s) => parse_timestamp(s).map(Value::String).ok_or_else(|| {
                    ParamError(format!(
                        "must be a timestamp like 2024-06-01T09:30:00Z (ISO 8601), got {}",
                        show(v)
                    ))
                }),
                _ => wrong("a timestamp string like 2024-06-01T09:30:00Z"),
            },
        }
    }

    /// This parameter's entry in the tool's input schema.
    pub(super) fn schema(&self) -> Value {
        let mut s = Map::new();
        let (ty, format) = match self.ty {
            ParamType::String | ParamType::Enum => ("string", None),
            ParamType::Integer => ("integer", None),
            ParamType::Number => ("number", None),
            ParamType::Boolean => ("boolean", None),
            ParamType::Date => ("string", Some("date")),
            ParamType::Timestamp => ("string", Some("date-time")),
        };
        s.insert("type".into(), Value::from(ty));
        if let Some(f) = format {
            s.insert("format".into(), Value::from(f));
        }
        let mut description = self.description.clone().unwrap_or_default();
        let mut note = |text: String| {
            if !description.is_empty() && !description.ends_with(' ') {
                description.push(' ');
            }
            description.push_str(&text);
        };
        match self.ty {
            ParamType::Integer | ParamType::Number => {
                if let Some(min) = &self.min {
                    s.insert("minimum".into(), min.json());
                }
                if let Some(max) = &self.max {
                    s.insert("maximum".into(), max.json());
                }
            }
            ParamType::Date | ParamType::Timestamp => {
                // JSON Schema cannot bound strings by value: say it in words.
                let what = if self.ty == ParamType::Date {
                    "Format YYYY-MM-DD."
                } else {
                    "ISO 8601 date and time, e.g. 2024-06-01T09:30:00Z; without an offset it is taken as UTC."
                };
                note(what.to_owned());
                match (&self.min, &self.max) {
                    (Some(a), Some(b)) => note(format!("From {} to {}.", a.show(), b.show())),
                    (Some(a), None) => note(format!("Not before {}.", a.show())),
                    (None, Some(b)) => note(format!("Not after {}.", b.show())),
                    (None, None) => {}
                }
            }
            _ => {}
        }
        if let Some(n) = self.min_length {
            s.insert("minLength".into(), Value::from(n));
        }
        if let Some(n) = self.max_length {
            s.insert("maxLength".into(), Value::from(n));
        }
        if let Some(re) = &self.pattern {
            s.insert("pattern".into(), Value::from(re.as_str()));
        }
        if let Some(allowed) = &self.allowed {
            s.insert("enum".into(), Value::Array(allowed.clone()));
        }
        if let Some(d) = &self.default {
            s.insert("default".into(), d.clone());
        }
        if !description.is_empty() {
            s.insert("description".into(), Value::from(description));
        }
        Value::Object(s)
    }
}

/// Converts a TOML value from a tool file into the JSON value a call would
/// send, so defaults, bounds and enum values go through the same check.
pub(super) fn from_toml(ty: ParamType, v: &toml::Value) -> Result<Value, ParamError> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| ParamError(format!("{f} is not a finite number")))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        // TOML dates (min = 2024-01-01) arrive as datetimes: use their text.
        toml::Value::Datetime(d) if matches!(ty, ParamType::Date | ParamType::Timestamp) => {
            Value::String(d.to_string())
        }
        toml::Value::Datetime(_) => {
            return Err(ParamError(format!(
                "a date or time is not a valid {} value",
                ty.name()
            )));
        }
        toml::Value::Array(_) | toml::Value::Table(_) => {
            return Err(ParamError(format!("expected a single {} value", ty.name())));
        }
    })
}

/// Which constraint keys apply to which types, for load-time errors.
pub(super) fn constraint_applies(ty: ParamType, key: &str) -> Result<(), ParamError> {
    let ok = match key {
        "min" | "max" => ty.ordered(),
        "min_length" | "max_length" | "pattern" => ty.textual(),
        "enum" => matches!(ty, ParamType::String | ParamType::Integer | ParamType::Enum),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let hint = match key {
        "min" | "max" => {
            "min/max apply to integer, number, date and timestamp parameters; strings use min_length/max_length"
        }
        "enum" => "enum lists apply to enum, string and integer parameters",
        _ => "min_length, max_length and pattern apply to string parameters",
    };
    Err(ParamError(format!(
        "`{key}` does not apply to a {} parameter: {hint}",
        ty.name()
    )))
}

/// A calendar date written exactly `YYYY-MM-DD`.
pub(super) fn parse_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// ISO 8601 / RFC 3339 date-time: `T` or space, seconds and fraction
/// optional, `Z` or `±HH:MM` optional. The result is UTC without offset.
pub(super) fn parse_timestamp(s: &str) -> Option<String> {
    let s = s.trim();
    if !s.is_ascii() || s.len() < 16 {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let date = NaiveDate::parse_from_str(&parse_date(date)?, "%Y-%m-%d").ok()?;
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(i);
        (t, Some(parse_offset(off)?))
    } else {
        (rest, None)
    };
    let time = match time.len() {
        5 => NaiveTime::parse_from_str(time, "%H:%M").ok()?,
        8.. if time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':' => {
            NaiveTime::parse_from_str(time, "%H:%M:%S%.f").ok()?
        }
        _ => return None,
    };
    let naive = NaiveDateTime::new(date, time);
    let utc = match offset {
        Some(secs) => FixedOffset::east_opt(secs)?
            .from_local_datetime(&naive)
            .single()?
            .naive_utc(),
        None => naive,
    };
    Some(utc.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// `+HH:MM` / `-HH:MM` in seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i32>().ok();
    let (h, m) = (num(1..3)?, num(4..6)?);
    if h > 23 || m > 59 {
        return None;
    }
    let secs = h * 3600 + m * 60;
    Some(if b[0] == b'-' { -secs } else { secs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(ty: ParamType) -> Param {
        Param {
            name: "p".into(),
            ty,
            description: None,
            required: true,
            default: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            pattern: None,
            allowed: None,
            claim: None,
        }
    }

    #[test]
    fn dates_are_strict_calendar_dates() {
        assert_eq!(parse_date("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-2-9"), None);
        assert_eq!(parse_date("2024-02-29T00:00"), None);
        assert_eq!(parse_date("２０２４-02-29"), None);
    }

    #[test]
    fn timestamps_become_utc_iso() {
        let t = |s| parse_timestamp(s);
        assert_eq!(
            t("2024-06-01T09:30:00Z").as_deref(),
            Some("2024-06-01T09:30:00")
        );
        assert_eq!(
            t("2024-06-01 09:30").as_deref(),
            Some("2024-06-01T09:30:00")
        );
        assert_eq!(
            t("2024-06-01T09:30:00.250+02:00").as_deref(),
            Some("2024-06-01T07:30:00.250")
        );
        assert_eq!(
            t("2024-06-01T23:30:00-01:00").as_deref(),
            Some("2024-06-02T00:30:00")
        );
        assert_eq!(t("2024-06-01T25:00:00"), None);
        assert_eq!(t("2024-06-01"), None);
        assert_eq!(t("2024-06-01T09:30:00+2"), None);
    }

    #[test]
    fn constraints_are_checked_and_named() {
        let mut p = param(ParamType::Integer);
        p.min = Some(Bound::Int(1));
        p.max = Some(Bound::Int(10));
        assert_eq!(p.check(&json!(3)), Ok(json!(3)));
        assert_eq!(p.check(&json!(3.0)), Ok(json!(3)));
        assert!(
            p.check(&json!(0))
                .expect_err("must be refused")
                .to_string()
                .contains("at least 1")
        );
        assert!(
            p.check(&json!(11))
                .expect_err("must be refused")
                .to_string()
                .contains("at most 10")
        );
        assert!(
            p.check(&json!("3"))
                .expect_err("must be refused")
                .to_string()
                .contains("an integer")
        );
        assert!(p.check(&json!(2.5)).is_err());

        let mut s = param(ParamType::String);
        s.max_length = Some(3);
        s.pattern = Some(Regex::new("^[A-Z]+$").expect("re"));
        assert!(
            s.check(&json!("ABCD"))
                .expect_err("must be refused")
                .to_string()
                .contains("at most 3 characters")
        );
        assert!(
            s.check(&json!("ab"))
                .expect_err("must be refused")
                .to_string()
                .contains("pattern ^[A-Z]+$")
        );
        assert_eq!(s.check(&json!("AB")), Ok(json!("AB")));

        let mut d = param(ParamType::Date);
        d.min = Some(Bound::Text("2022-01-01".into()));
        assert!(
            d.check(&json!("2021-12-31"))
                .expect_err("must be refused")
                .to_string()
                .contains("at least 2022-01-01")
        );
        assert_eq!(d.check(&json!("2022-01-01")), Ok(json!("2022-01-01")));

        let mut e = param(ParamType::Enum);
        e.allowed = Some(vec![json!("a"), json!("b")]);
        assert!(
            e.check(&json!("c"))
                .expect_err("must be refused")
                .to_string()
                .contains("one of \"a\", \"b\"")
        );
    }
}
