//! Oracle values → JSON, chosen by column type (`Metadata::db_type()`; the
//! driver's own value enum is private). The conversion reads cells through
//! [`CellSource`], implemented for the driver's `Row` and, in tests, for a
//! fake, so every rule below is tested without a database.
//!
//! Rules (also in docs/direct-mtls.md):
//! - NUMBER: a JSON number when a client that reads numbers as IEEE doubles
//!   gets exactly the database value (integers up to 2^53 − 1, decimals
//!   whose shortest double prints back to the same digits); otherwise the
//!   exact decimal text as a string. Never a silently rounded number.
//! - BINARY_FLOAT/DOUBLE: JSON numbers; NaN and ±Infinity as strings.
//! - DATE `YYYY-MM-DDTHH:MM:SS`; TIMESTAMP with the fraction (trailing zeros
//!   dropped); WITH TIME ZONE and WITH LOCAL TIME ZONE in UTC with `Z` (the
//!   session time zone is UTC; the driver returns TZ values in UTC).
//! - INTERVAL: ISO-8601 durations (`P1DT2H3M4.5S`, `-P1Y2M`).
//! - RAW/LONG RAW/BLOB: `base64:` text cut after [`BLOB_PREVIEW_BYTES`].
//! - CLOB/NCLOB/LONG: text cut after [`TEXT_PREVIEW_CHARS`] with a marker.
//! - JSON: JSON (numbers by the NUMBER rule); VECTOR: arrays (sparse as an
//!   object); ROWID text; BOOLEAN true/false.

use std::fmt::Write as _;

/// The same binary preview as the ORDS backend.
pub use crate::db::oracle::values::BLOB_PREVIEW_BYTES;
use crate::db::oracle::values::truncate_text;
use crate::db::text::truncation_marker;
use oracledb::{
    DbType, JsonValue, OracleIntervalDS, OracleIntervalYM, OracleNumber, OracleTimestamp, Vector,
    VectorData,
};
use serde_json::{Map, Number, Value};

/// Characters of a CLOB/NCLOB/LONG value shown before it is cut: the same
/// on ORDS and direct.
pub use crate::db::oracle::values::LOB_PREVIEW_CHARS as TEXT_PREVIEW_CHARS;
/// Largest integer a double represents exactly (2^53 − 1).
const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// How a column is converted, decided once per result set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Number,
    BinaryFloat,
    BinaryDouble,
    /// VARCHAR2, CHAR, NVARCHAR2, NCHAR, ROWID, UROWID.
    Text,
    /// LONG: text that can be huge, so it is cut like a CLOB.
    LongText,
    /// CLOB, NCLOB (fetched as locators, read up to the preview).
    Clob,
    Raw,
    Blob,
    Date,
    Timestamp,
    TimestampTz,
    TimestampLtz,
    IntervalDs,
    IntervalYm,
    Json,
    Vector,
    Boolean,
    /// Object types, nested cursors, BFILE, XMLTYPE …: a marker string.
    Unsupported(&'static str),
}

/// Maps the driver's column type to a conversion.
pub fn column_kind(t: &DbType) -> ColumnKind {
    use oracledb as o;
    let is = |other: &DbType| t == other;
    if is(o::DB_TYPE_NUMBER) || is(o::DB_TYPE_BINARY_INTEGER) {
        ColumnKind::Number
    } else if is(o::DB_TYPE_BINARY_FLOAT) {
        ColumnKind::BinaryFloat
    } else if is(o::DB_TYPE_BINARY_DOUBLE) {
        ColumnKind::BinaryDouble
    } else if is(o::DB_TYPE_VARCHAR)
        || is(o::DB_TYPE_CHAR)
        || is(o::DB_TYPE_NVARCHAR)
        || is(o::DB_TYPE_NCHAR)
        || is(o::DB_TYPE_ROWID)
        || is(o::DB_TYPE_UROWID)
    {
        ColumnKind::Text
    } else if is(o::DB_TYPE_LONG) || is(o::DB_TYPE_LONG_NVARCHAR) {
        ColumnKind::LongText
    } else if is(o::DB_TYPE_CLOB) || is(o::DB_TYPE_NCLOB) {
        ColumnKind::Clob
    } else if is(o::DB_TYPE_RAW) || is(o::DB_TYPE_LONG_RAW) {
        ColumnKind::Raw
    } else if is(o::DB_TYPE_BLOB) {
        ColumnKind::Blob
    } else if is(o::DB_TYPE_DATE) {
        ColumnKind::Date
    } else if is(o::DB_TYPE_TIMESTAMP) {
        ColumnKind::Timestamp
    } else if is(o::DB_TYPE_TIMESTAMP_TZ) {
        ColumnKind::TimestampTz
    } else if is(o::DB_TYPE_TIMESTAMP_LTZ) {
        ColumnKind::TimestampLtz
    } else if is(o::DB_TYPE_INTERVAL_DS) {
        ColumnKind::IntervalDs
    } else if is(o::DB_TYPE_INTERVAL_YM) {
        ColumnKind::IntervalYm
    } else if is(o::DB_TYPE_JSON) {
        ColumnKind::Json
    } else if is(o::DB_TYPE_VECTOR) {
        ColumnKind::Vector
    } else if is(o::DB_TYPE_BOOLEAN) {
        ColumnKind::Boolean
    } else if is(o::DB_TYPE_BFILE) {
        ColumnKind::Unsupported("BFILE")
    } else if is(o::DB_TYPE_CURSOR) {
        ColumnKind::Unsupported("CURSOR")
    } else if is(o::DB_TYPE_OBJECT) {
        ColumnKind::Unsupported("OBJECT")
    } else if is(o::DB_TYPE_XMLTYPE) {
        ColumnKind::Unsupported("XMLTYPE")
    } else {
        ColumnKind::Unsupported("UNKNOWN")
    }
}

/// The first part of a LOB and its full length.
#[derive(Debug, Clone, PartialEq)]
pub enum LobPreview {
    /// Text and the total length in characters (UCS-2 units, as Oracle counts).
    Text {
        text: String,
        total: usize,
    },
    Bytes {
        bytes: Vec<u8>,
        total: usize,
    },
}

/// Reads one typed cell; `Ok(None)` is SQL NULL. Errors are driver text.
pub trait CellSource {
    fn number(&mut self, i: usize) -> Result<Option<OracleNumber>, CellError>;
    fn float(&mut self, i: usize) -> Result<Option<f32>, CellError>;
    fn double(&mut self, i: usize) -> Result<Option<f64>, CellError>;
    fn text(&mut self, i: usize) -> Result<Option<String>, CellError>;
    fn bytes(&mut self, i: usize) -> Result<Option<Vec<u8>>, CellError>;
    fn timestamp(&mut self, i: usize) -> Result<Option<OracleTimestamp>, CellError>;
    fn interval_ds(&mut self, i: usize) -> Result<Option<OracleIntervalDS>, CellError>;
    fn interval_ym(&mut self, i: usize) -> Result<Option<OracleIntervalYM>, CellError>;
    fn json(&mut self, i: usize) -> Result<Option<JsonValue>, CellError>;
    fn vector(&mut self, i: usize) -> Result<Option<Vector>, CellError>;
    fn boolean(&mut self, i: usize) -> Result<Option<bool>, CellError>;
    /// At most `max` bytes (BLOB) or characters (CLOB) of a LOB column.
    fn lob(&mut self, i: usize, max: usize) -> Result<Option<LobPreview>, CellError>;
    /// Whether the cell is NULL, for types we do not convert.
    fn is_null(&mut self, i: usize) -> Result<bool, CellError>;
}

/// Converts one cell of column `i`.
pub fn convert_cell(
    kind: ColumnKind,
    src: &mut dyn CellSource,
    i: usize,
) -> Result<Value, CellError> {
    let v = match kind {
        ColumnKind::Number => src.number(i)?.map(|n| number_to_json(&n.to_string())),
        ColumnKind::BinaryFloat => src.float(i)?.map(float_to_json),
        ColumnKind::BinaryDouble => src.double(i)?.map(double_to_json),
        ColumnKind::Text => src.text(i)?.map(Value::String),
        ColumnKind::LongText => src
            .text(i)?
            .map(|t| Value::String(truncate_text(t, TEXT_PREVIEW_CHARS))),
        ColumnKind::Raw => src
            .bytes(i)?
            .map(|b| Value::String(crate::db::render_blob(&b, BLOB_PREVIEW_BYTES))),
        ColumnKind::Clob | ColumnKind::Blob => {
            let max = if kind == ColumnKind::Clob {
                TEXT_PREVIEW_CHARS
            } else {
                BLOB_PREVIEW_BYTES
            };
            src.lob(i, max)?.map(|p| Value::String(render_lob(p, max)))
        }
        ColumnKind::Date => src
            .timestamp(i)?
            .map(|t| Value::String(timestamp_iso(&t, false, false))),
        ColumnKind::Timestamp => src
            .timestamp(i)?
            .map(|t| Value::String(timestamp_iso(&t, true, false))),
        ColumnKind::TimestampTz | ColumnKind::TimestampLtz => src
            .timestamp(i)?
            .map(|t| Value::String(timestamp_iso(&t, true, true))),
        ColumnKind::IntervalDs => src
            .interval_ds(i)?
            .map(|d| Value::String(interval_ds_iso(&d))),
        ColumnKind::IntervalYm => src
            .interval_ym(i)?
            .map(|d| Value::String(interval_ym_iso(&d))),
        ColumnKind::Json => src.json(i)?.map(json_to_value),
        ColumnKind::Vector => src.vector(i)?.map(|v| vector_to_json(&v)),
        ColumnKind::Boolean => src.boolean(i)?.map(Value::Bool),
        ColumnKind::Unsupported(name) => {
            if src.is_null(i)? {
                None
            } else {
                Some(Value::String(format!(
                    "[{name} value: not shown by the direct backend; select a scalar expression instead]"
                )))
            }
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

/// NUMBER text → JSON number when exact for double-based clients, else the
/// exact text. (ORDS sends NUMBER as JSON numbers already and keeps every
/// integer a number, `values::exact_number`; see docs/architecture.md.)
pub fn number_to_json(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
            return Value::Number(i.into());
        }
        return Value::String(text.to_owned());
    }
    // Rust prints the shortest text that reads back as the same double,
    // without an exponent: the form of Oracle's NUMBER text.
    if text.contains('.')
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
        && f.to_string() == text
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

fn float_to_json(f: f32) -> Value {
    if f.is_finite() {
        // Through the f32's own shortest text, so 0.1f32 stays 0.1.
        let shortest: f64 = f.to_string().parse().unwrap_or(f64::from(f));
        Number::from_f64(shortest).map_or(Value::Null, Value::Number)
    } else {
        non_finite(f64::from(f))
    }
}

fn double_to_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None => non_finite(f),
    }
}

fn non_finite(f: f64) -> Value {
    Value::String(
        if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned(),
    )
}

/// ISO-8601 date-time. DATE has no fraction; TIMESTAMP keeps the
/// significant fraction digits; `utc` appends `Z`.
pub fn timestamp_iso(t: &OracleTimestamp, fraction: bool, utc: bool) -> String {
    let mut s = String::with_capacity(32);
    let year = t.year();
    if year < 0 {
        let _ = write!(s, "-{:04}", -i32::from(year));
    } else {
        let _ = write!(s, "{year:04}");
    }
    let _ = write!(
        s,
        "-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if fraction && t.nanoseconds() > 0 {
        let digits = format!("{:09}", t.nanoseconds());
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    if utc {
        s.push('Z');
    }
    s
}

/// `P1DT2H3M4.5S`; negative intervals get one leading `-`.
pub fn interval_ds_iso(d: &OracleIntervalDS) -> String {
    let negative =
        d.days() < 0 || d.hours() < 0 || d.minutes() < 0 || d.seconds() < 0 || d.nanoseconds() < 0;
    let days = i64::from(d.days()).unsigned_abs();
    let hours = i64::from(d.hours()).unsigned_abs();
    let minutes = i64::from(d.minutes()).unsigned_abs();
    let seconds = i64::from(d.seconds()).unsigned_abs();
    let nanos = i64::from(d.nanoseconds()).unsigned_abs();
    let mut s = String::new();
    if negative {
        s.push('-');
    }
    let _ = write!(s, "P{days}DT{hours}H{minutes}M{seconds}");
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('S');
    s
}

/// `P1Y2M`; negative intervals get one leading `-`.
pub fn interval_ym_iso(d: &OracleIntervalYM) -> String {
    let negative = d.years() < 0 || d.months() < 0;
    format!(
        "{}P{}Y{}M",
        if negative { "-" } else { "" },
        i64::from(d.years()).unsigned_abs(),
        i64::from(d.months()).unsigned_abs()
    )
}

/// Native JSON (OSON) → JSON, with the same number rule as NUMBER columns.
pub fn json_to_value(j: JsonValue) -> Value {
    match j {
        JsonValue::Null => Value::Null,
        JsonValue::Boolean(b) => Value::Bool(b),
        JsonValue::String(s) => Value::String(s),
        JsonValue::Number(n) => number_to_json(&n.to_string()),
        JsonValue::BinaryDouble(f) => double_to_json(f),
        JsonValue::BinaryFloat(f) => float_to_json(f),
        JsonValue::Timestamp(t) => Value::String(timestamp_iso(&t, true, false)),
        JsonValue::IntervalDS(d) => Value::String(interval_ds_iso(&d)),
        JsonValue::IntervalYM(d) => Value::String(interval_ym_iso(&d)),
        JsonValue::Raw(b) | JsonValue::JsonId(b) => {
            Value::String(crate::db::render_blob(&b, BLOB_PREVIEW_BYTES))
        }
        JsonValue::Vector(v) => vector_to_json(&v),
        JsonValue::JsonArray(items) => Value::Array(items.into_iter().map(json_to_value).collect()),
        JsonValue::JsonObject(fields) => {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k, json_to_value(v));
            }
            Value::Object(m)
        }
    }
}

fn vector_data(d: &VectorData) -> Value {
    match d {
        VectorData::Float32(v) => Value::Array(v.iter().map(|f| float_to_json(*f)).collect()),
        VectorData::Float64(v) => Value::Array(v.iter().map(|f| double_to_json(*f)).collect()),
        VectorData::Int8(v) => Value::Array(v.iter().map(|i| Value::from(*i)).collect()),
        VectorData::Binary(v) => Value::Array(v.iter().map(|i| Value::from(*i)).collect()),
    }
}

/// Dense vectors are arrays; sparse ones `{dimensions, indices, values}`.
pub fn vector_to_json(v: &Vector) -> Value {
    match v {
        Vector::Dense(d) => vector_data(d),
        Vector::Sparse(s) => {
            let mut m = Map::new();
            m.insert("dimensions".into(), Value::from(s.num_dimensions()));
            m.insert(
                "indices".into(),
                Value::Array(s.indices().iter().map(|i| Value::from(*i)).collect()),
            );
            m.insert("values".into(), vector_data(s.values()));
            Value::Object(m)
        }
    }
}

fn render_lob(p: LobPreview, max: usize) -> String {
    match p {
        LobPreview::Text { text, total } => {
            let shown = text.chars().count();
            if total > shown || shown > max {
                let mut out = match text.char_indices().nth(max) {
                    Some((cut, _)) => text[..cut].to_owned(),
                    None => text,
                };
                out.push_str(&truncation_marker(total, "characters"));
                out
            } else {
                text
            }
        }
        LobPreview::Bytes { bytes, total } => {
            let mut out = crate::db::render_blob(&bytes, max);
            if total > bytes.len() && bytes.len() <= max {
                out.push_str(&truncation_marker(total, "bytes"));
            }
            out
        }
    }
}

/// A cell that could not be read (a driver error or a value of an
/// unexpected type); the caller adds the column name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CellError(String);

impl CellError {
    fn from_display(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

impl From<String> for CellError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for CellError {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

/// Reads cells straight from a fetched driver row (values are taken, not
/// copied; LOBs are read up to the preview in one round trip).
impl CellSource for oracledb::Row {
    fn number(&mut self, i: usize) -> Result<Option<OracleNumber>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn float(&mut self, i: usize) -> Result<Option<f32>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn double(&mut self, i: usize) -> Result<Option<f64>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn text(&mut self, i: usize) -> Result<Option<String>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn bytes(&mut self, i: usize) -> Result<Option<Vec<u8>>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn timestamp(&mut self, i: usize) -> Result<Option<OracleTimestamp>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn interval_ds(&mut self, i: usize) -> Result<Option<OracleIntervalDS>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn interval_ym(&mut self, i: usize) -> Result<Option<OracleIntervalYM>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn json(&mut self, i: usize) -> Result<Option<JsonValue>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn vector(&mut self, i: usize) -> Result<Option<Vector>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn boolean(&mut self, i: usize) -> Result<Option<bool>, CellError> {
        self.take(i).map_err(CellError::from_display)
    }
    fn lob(&mut self, i: usize, max: usize) -> Result<Option<LobPreview>, CellError> {
        use std::io::Read as _;
        let lob: Option<oracledb::Lob> = self.take(i).map_err(CellError::from_display)?;
        let Some(mut lob) = lob else {
            return Ok(None);
        };
        let total = lob.get_size().map_err(CellError::from_display)?;
        let is_text = lob.db_type() != oracledb::DB_TYPE_BLOB;
        // Character LOB reads are sized in UTF-8 bytes, 3 per character.
        let mut buf = vec![0u8; if is_text { max * 3 } else { max }];
        let mut filled = 0;
        while filled < buf.len() {
            let n = lob
                .read(&mut buf[filled..])
                .map_err(CellError::from_display)?;
            if n == 0 {
                break;
            }
            filled += n;
            if is_text {
                break; // one round trip returns up to `max` characters
            }
        }
        buf.truncate(filled);
        Ok(Some(if is_text {
            LobPreview::Text {
                text: String::from_utf8(buf).map_err(CellError::from_display)?,
                total,
            }
        } else {
            LobPreview::Bytes { bytes: buf, total }
        }))
    }
    fn is_null(&mut self, i: usize) -> Result<bool, CellError> {
        // Any owned value reports NULL the same way; `bool` never matches a
        // non-NULL object, so only the NULL case is Ok.
        Ok(matches!(self.get::<Option<bool>>(i), Ok(None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_exact() {
        assert_eq!(number_to_json("42"), Value::from(42));
        assert_eq!(number_to_json("-7"), Value::from(-7));
        assert_eq!(number_to_json("0"), Value::from(0));
        assert_eq!(number_to_json("123.45"), serde_json::json!(123.45));
        assert_eq!(number_to_json("0.1"), serde_json::json!(0.1));
        assert_eq!(
            number_to_json("9007199254740991"),
            Value::from(9_007_199_254_740_991_i64)
        );
        // Beyond 2^53 a double-based client would round: keep the digits.
        assert_eq!(
            number_to_json("9007199254740993"),
            Value::from("9007199254740993")
        );
        assert_eq!(
            number_to_json("12345678901234567890123456789012345678"),
            Value::from("12345678901234567890123456789012345678")
        );
        // 17 significant digits that no double prints back.
        assert_eq!(
            number_to_json("0.12345678901234567"),
            Value::from("0.12345678901234567")
        );
        assert_eq!(
            number_to_json("1234567.000000000001"),
            Value::from("1234567.000000000001")
        );
    }

    #[test]
    fn non_finite_doubles_are_strings() {
        assert_eq!(double_to_json(f64::NAN), Value::from("NaN"));
        assert_eq!(double_to_json(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(float_to_json(f32::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(float_to_json(0.1), serde_json::json!(0.1));
    }

    #[test]
    fn text_is_cut_on_character_boundaries() {
        assert_eq!(truncate_text("héllo".into(), 10), "héllo");
        assert_eq!(
            truncate_text("héllo".into(), 2),
            "hé…[truncated, 5 characters total]"
        );
    }
}
