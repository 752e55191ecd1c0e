//! The REST-Enabled SQL JSON contract (`POST /ords/{alias}/_/sql`,
//! `Content-Type: application/json`) as Rust types, and how a response
//! becomes rows.
//!
//! Memory: a response is parsed *borrowing* from the body. A result set's
//! rows stay one raw JSON slice ([`RawRows`]) until [`convert_rows`] walks
//! it row by row, typing each cell by its column's `columnTypeName` and
//! charging it to the call's [`ResultBudget`]; rows beyond what is kept are
//! skipped without being built. So a call holds the body (at most
//! `database.ords.max_response_bytes`) plus the rows it returns, never a
//! tree of the whole document.
//!
//! Numbers are read from their exact digits: never through `f64` unless
//! `f64` holds them exactly (see [`values::exact_number`]). Unknown fields
//! are ignored: newer ORDS releases add fields and older ones lack them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::db::oracle::values::{self, BLOB_PREVIEW_BYTES, LOB_PREVIEW_CHARS};
use crate::db::oracle::{self, OracleBind};
use crate::db::{ColumnInfo, DbError, ResultBudget, render_blob};

/// Request body for `application/json`.
#[derive(Debug, Serialize)]
pub struct SqlRequest<'a> {
    #[serde(rename = "statementText")]
    pub statement_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "<[WireBind]>::is_empty")]
    pub binds: &'a [WireBind],
}

/// One bind: `{"index": n, …}` for `?` placeholders, or `{"name": "x", …}`
/// for `:x` in a PL/SQL block (documented by Oracle's
/// `json_block_inout_bindbyname` sample); OUT binds carry `mode` and no
/// value.
#[derive(Debug, Serialize)]
pub struct WireBind {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub data_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Box<RawValue>>,
}

/// VARCHAR2 binds in SQL hold at most 32767 bytes; longer text goes as CLOB.
const MAX_VARCHAR2_BIND: usize = 32_767;

impl WireBind {
    /// Our bind at 1-based `index`. Decimal text travels as a JSON number
    /// token written verbatim (a `RawValue`), so no digit is lost on the way.
    pub fn new(index: usize, bind: &OracleBind) -> Result<Self, DbError> {
        let (data_type, value) = typed(bind, &index.to_string())?;
        Ok(Self {
            index: Some(index),
            name: None,
            data_type,
            mode: None,
            value: Some(value),
        })
    }

    /// Our bind for `:name` in a PL/SQL block.
    pub fn named(name: &str, bind: &OracleBind) -> Result<Self, DbError> {
        let (data_type, value) = typed(bind, name)?;
        Ok(Self {
            index: None,
            name: Some(name.to_owned()),
            data_type,
            mode: None,
            value: Some(value),
        })
    }

    /// Text bound as a CLOB whatever its length (the user's query text).
    pub fn named_clob(name: &str, text: &str) -> Result<Self, DbError> {
        Ok(Self {
            index: None,
            name: Some(name.to_owned()),
            data_type: "CLOB",
            mode: None,
            value: Some(raw(Value::from(text), name)?),
        })
    }

    /// An OUT bind of the block (`CURSOR`, `CLOB`).
    pub fn out(name: &str, data_type: &'static str) -> Self {
        Self {
            index: None,
            name: Some(name.to_owned()),
            data_type,
            mode: Some("out"),
            value: None,
        }
    }
}

fn raw(v: Value, what: &str) -> Result<Box<RawValue>, DbError> {
    RawValue::from_string(v.to_string())
        .map_err(|e| DbError::Internal(format!("cannot encode bind {what}: {e}")))
}

/// ORDS data type and JSON value of one of our binds.
fn typed(bind: &OracleBind, what: &str) -> Result<(&'static str, Box<RawValue>), DbError> {
    Ok(match bind {
        OracleBind::Null => ("VARCHAR2", raw(Value::Null, what)?),
        OracleBind::Text(s) if s.len() > MAX_VARCHAR2_BIND => {
            ("CLOB", raw(Value::from(s.as_str()), what)?)
        }
        OracleBind::Text(s) => ("VARCHAR2", raw(Value::from(s.as_str()), what)?),
        OracleBind::Integer(i) => ("NUMBER", raw(Value::from(*i), what)?),
        OracleBind::Number(text) => {
            // Only a valid JSON number token may go in verbatim.
            let is_number = serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_number());
            if is_number {
                let v = RawValue::from_string(text.clone())
                    .map_err(|e| DbError::Internal(format!("cannot encode bind {what}: {e}")))?;
                ("NUMBER", v)
            } else {
                ("NUMBER", raw(Value::from(text.as_str()), what)?)
            }
        }
        OracleBind::Float(f) => {
            let n = serde_json::Number::from_f64(*f).ok_or_else(|| {
                DbError::InvalidParams(format!("bind {what}: {f} is not a finite number"))
            })?;
            ("BINARY_DOUBLE", raw(Value::Number(n), what)?)
        }
        // SQL before 23ai has no BOOLEAN: 1/0 as NUMBER, as SQLite does.
        OracleBind::Boolean(b) => ("NUMBER", raw(Value::from(i64::from(*b)), what)?),
    })
}

/// The whole response document, borrowing from the body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlResponse<'a> {
    #[serde(default, borrow)]
    pub env: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub items: Vec<StatementItem<'a>>,
}

/// One statement's outcome.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementItem<'a> {
    #[serde(default)]
    pub statement_id: Option<i64>,
    #[serde(default, borrow)]
    pub statement_type: Option<Cow<'a, str>>,
    #[serde(default)]
    pub statement_pos: Option<StatementPos>,
    #[serde(default, borrow)]
    pub statement_text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub result_set: Option<ResultSet<'a>>,
    /// SQL*Plus-style output lines (DBMS_OUTPUT, feedback), kept raw.
    #[serde(default, borrow)]
    pub response: Option<&'a RawValue>,
    /// Rows affected, or 0.
    #[serde(default)]
    pub result: Option<i64>,
    /// A number (942) in the documented examples; text is accepted too.
    #[serde(default)]
    pub error_code: Option<Value>,
    #[serde(default, borrow)]
    pub error_message: Option<Cow<'a, str>>,
    #[serde(default)]
    pub error_line: Option<i64>,
    #[serde(default)]
    pub error_column: Option<i64>,
    #[serde(default, borrow)]
    pub error_details: Option<Cow<'a, str>>,
    /// The request's binds echoed back; OUT binds carry `result`.
    #[serde(default, borrow)]
    pub binds: Vec<BindItem<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementPos {
    #[serde(default)]
    pub start_line: Option<i64>,
    #[serde(default)]
    pub end_line: Option<i64>,
}

/// A bind as ORDS echoes it: `{"mode": "OUT", "index": 2, "data_type":
/// "NUMBER", "result": 177}` in Oracle's `json_proc_param_out` sample; a
/// failed CURSOR OUT bind reported with `"result": null` in
/// oracle/oracle-db-tools issue 26.
#[derive(Debug, Deserialize)]
pub struct BindItem<'a> {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub data_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub mode: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub value: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultSet<'a> {
    #[serde(default)]
    pub metadata: Vec<ColumnMeta>,
    /// Rows keyed by `jsonColumnName`, as one raw slice of the body.
    #[serde(default, borrow)]
    pub items: RawRows<'a>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
}

/// A JSON array of row objects, not yet looked into.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRows<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for RawRows<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<&'de RawValue>::deserialize(d).map(RawRows)
    }
}

impl<'a> RawRows<'a> {
    pub fn new(raw: Option<&'a RawValue>) -> Self {
        Self(raw)
    }

    /// Number of rows, counted without building them (0 if not an array).
    pub fn len(&self) -> usize {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = usize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
        }
        let Some(raw) = self.0 else {
            return 0;
        };
        let mut de = serde_json::Deserializer::from_str(raw.get());
        de.deserialize_seq(Count).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnMeta {
    pub column_name: String,
    pub json_column_name: String,
    pub column_type_name: String,
    #[serde(default)]
    pub column_class_name: Option<String>,
    #[serde(default)]
    pub precision: Option<i64>,
    #[serde(default)]
    pub scale: Option<i64>,
    #[serde(default)]
    pub is_nullable: Option<i64>,
}

impl StatementItem<'_> {
    /// The statement's error, if it failed: Oracle's own message, its
    /// `ORA-nnnnn` code and the position.
    pub fn error(&self) -> Option<DbError> {
        let code = self.error_code.as_ref().filter(|c| !c.is_null())?;
        let code = match code {
            Value::Number(n) => n.as_i64().map(oracle::ora_code),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                s.trim().parse::<i64>().ok().map(oracle::ora_code)
            }
            Value::String(s) => Some(clip(s.trim(), 40)),
            _ => None,
        };
        let mut message = self
            .error_message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .map(|m| clip(m, 2000))
            .unwrap_or_else(|| {
                format!(
                    "{} (no message from ORDS)",
                    code.as_deref().unwrap_or("error")
                )
            });
        if let (Some(line), Some(col)) = (self.error_line, self.error_column) {
            message = format!("{} [at line {line}, column {col}]", message.trim_end());
        }
        Some(oracle::sql_error(code, &message))
    }

    /// SQL*Plus-style lines, for errors reported only there (500 characters
    /// at most).
    pub fn response_text(&self) -> String {
        let Some(raw) = self.response else {
            return String::new();
        };
        let lines: Vec<Value> = serde_json::from_str(raw.get()).unwrap_or_default();
        let text: Vec<String> = lines
            .iter()
            .map(|v| match v {
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        clip(&text.join(" "), 500)
    }

    /// The echoed bind named `name` (ignoring case).
    pub fn bind(&self, name: &str) -> Option<&BindItem<'_>> {
        self.binds.iter().find(|b| {
            b.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

use crate::db::text::clip;

/// The one item of a response to a request that holds one statement or
/// one PL/SQL block, after the checks that matter: exactly one item (more
/// would mean ORDS's script engine split our text), no error, and the
/// statement type we sent (`plsql` for a block, `query` for a query).
pub fn single_item<'r, 'a>(
    resp: &'r SqlResponse<'a>,
    expected_type: &str,
) -> Result<&'r StatementItem<'a>, DbError> {
    let item = match resp.items.as_slice() {
        [item] => item,
        [] => {
            return Err(DbError::Unavailable(
                "ORDS returned no statement result (empty items)".into(),
            ));
        }
        many => {
            tracing::warn!(
                items = many.len(),
                "ORDS split one request into several statements; its result is refused"
            );
            return Err(DbError::Unavailable(format!(
                "ORDS ran {} statements for a request that holds exactly one; the result is refused",
                many.len()
            )));
        }
    };
    if let Some(e) = item.error() {
        return Err(e);
    }
    match item.statement_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case(expected_type) => Ok(item),
        // Older releases may omit the type of a plain query.
        None if expected_type == "query" => Ok(item),
        other => Err(DbError::Unavailable(format!(
            "ORDS ran the request as a statement of type `{}`, not `{expected_type}`; the result is refused",
            clip(other.unwrap_or("(none)"), 40)
        ))),
    }
}

/// The rows an OUT cursor bind came back as. Oracle documents CURSOR OUT
/// binds (`json_proc_param_out_cursor`) but not the JSON they return, so
/// both plausible shapes are read: a result set like a query's
/// (`{"metadata": […], "items": […], "hasMore": …}`), or a bare array of row
/// objects. A plain item-level `resultSet` is accepted too.
#[derive(Debug)]
pub enum CursorRows<'a> {
    ResultSet(ResultSet<'a>),
    Rows(RawRows<'a>),
}

/// Finds the cursor returned through the OUT bind `name`.
pub fn cursor_rows<'a>(item: &StatementItem<'a>, name: &str) -> Result<CursorRows<'a>, DbError> {
    let bind = item.binds.iter().find(|b| {
        b.name
            .as_deref()
            .is_some_and(|n| n.trim_start_matches(':').eq_ignore_ascii_case(name))
    });
    let result = bind.and_then(|b| b.result);
    let Some(raw) = result else {
        return match &item.result_set {
            Some(rs) => Ok(CursorRows::ResultSet(ResultSet {
                metadata: rs.metadata.clone(),
                items: rs.items,
                has_more: rs.has_more,
                limit: rs.limit,
                offset: rs.offset,
                count: rs.count,
            })),
            None => Err(DbError::Unavailable(format!(
                "ORDS returned no rows for the cursor (OUT bind `{name}` {})",
                if bind.is_some() {
                    "has no result"
                } else {
                    "is missing from the response"
                }
            ))),
        };
    };
    let text: &'a str = raw.get();
    match text.trim_start().as_bytes().first() {
        Some(b'[') => Ok(CursorRows::Rows(RawRows(Some(raw)))),
        Some(b'{') => serde_json::from_str::<ResultSet<'a>>(text)
            .map(CursorRows::ResultSet)
            .map_err(|e| shape_error(&format!("cursor bind `{name}`"), &e)),
        _ => Err(DbError::Unavailable(format!(
            "ORDS returned the cursor bind `{name}` in an unknown shape (neither rows nor a result set)"
        ))),
    }
}

/// The plan rows of the explain block: the CLOB OUT bind `name` holds a
/// JSON array of PLAN_TABLE row objects (a JSON string, or the array
/// itself); `columns` orders each row.
pub fn plan_rows(
    item: &StatementItem<'_>,
    name: &str,
    columns: &[&str],
    max_rows: usize,
) -> Result<Vec<Vec<Value>>, DbError> {
    let raw = item
        .bind(name)
        .and_then(|b| b.result)
        .ok_or_else(|| DbError::Unavailable(format!("ORDS returned no value for `{name}`")))?;
    let array: Cow<'_, str> = match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::String(s)) => Cow::Owned(s),
        Ok(Value::Null) => return Ok(Vec::new()),
        Ok(Value::Array(_)) => Cow::Borrowed(raw.get()),
        Ok(_) | Err(_) => {
            return Err(DbError::Unavailable(format!(
                "ORDS returned `{name}` in an unknown shape"
            )));
        }
    };
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&array)
        .map_err(|e| shape_error(&format!("the plan in `{name}`"), &e))?;
    Ok(rows
        .into_iter()
        .take(max_rows)
        .map(|mut obj| {
            columns
                .iter()
                .map(|c| {
                    obj.remove(*c)
                        .or_else(|| obj.remove(&c.to_uppercase()))
                        .unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect())
}

fn shape_error(what: &str, e: &serde_json::Error) -> DbError {
    DbError::Unavailable(format!(
        "ORDS returned {what} in an unexpected shape (line {}, column {})",
        e.line(),
        e.column()
    ))
}

/// Display type from the metadata, e.g. `NUMBER(10,2)`, `VARCHAR2(40)`.
pub fn column_info(meta: &ColumnMeta) -> ColumnInfo {
    let t = meta.column_type_name.trim().to_uppercase();
    let p = meta.precision.filter(|p| *p > 0);
    let s = meta.scale.filter(|s| *s > 0);
    let type_name = match (t.as_str(), p, s) {
        ("NUMBER", Some(p), Some(s)) => format!("NUMBER({p},{s})"),
        ("NUMBER", Some(p), None) => format!("NUMBER({p})"),
        ("VARCHAR2" | "NVARCHAR2" | "CHAR" | "NCHAR" | "RAW" | "VARCHAR", Some(p), _) => {
            format!("{t}({p})")
        }
        _ => t,
    };
    ColumnInfo {
        name: meta.column_name.clone(),
        type_name,
    }
}

/// How a column's raw JSON values become our JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    Number,
    LongText,
    Binary {
        hex_first: bool,
    },
    Plain,
    /// No metadata (a bare row array): numbers exactly, long text cut.
    Untyped,
}

fn conv_for(type_name: &str) -> Conv {
    let t = type_name.trim().to_uppercase();
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "NUMBER" | "FLOAT" | "INTEGER" | "INT" | "SMALLINT" | "DECIMAL" | "DEC" | "NUMERIC"
        | "BINARY_FLOAT" | "BINARY_DOUBLE" | "REAL" | "DOUBLE PRECISION" | "BINARY_INTEGER"
        | "PLS_INTEGER" => Conv::Number,
        "CLOB" | "NCLOB" | "LONG" | "XMLTYPE" => Conv::LongText,
        "RAW" | "LONG RAW" => Conv::Binary { hex_first: true },
        "BLOB" | "BFILE" => Conv::Binary { hex_first: false },
        _ => Conv::Plain,
    }
}

fn starts_number(text: &str) -> bool {
    text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
}

/// One cell: raw JSON text → our JSON, by column type.
fn convert(conv: Conv, raw: Option<&RawValue>) -> Value {
    let Some(raw) = raw else {
        return Value::Null;
    };
    let text = raw.get().trim();
    if text == "null" {
        return Value::Null;
    }
    match conv {
        Conv::Number => {
            if starts_number(text) {
                return values::exact_number(text);
            }
            match serde_json::from_str::<Value>(text) {
                // Some drivers quote big numbers; read the digits exactly.
                Ok(Value::String(s)) => values::exact_number(&s),
                Ok(other) => other,
                Err(_) => Value::String(text.to_owned()),
            }
        }
        Conv::LongText => match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => Value::String(values::truncate_text(s, LOB_PREVIEW_CHARS)),
            Ok(other) => other,
            Err(_) => Value::Null,
        },
        Conv::Binary { hex_first } => match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => Value::String(binary(&s, hex_first)),
            Ok(other) => other,
            Err(_) => Value::Null,
        },
        Conv::Plain => serde_json::from_str::<Value>(text).unwrap_or(Value::Null),
        Conv::Untyped if starts_number(text) => values::exact_number(text),
        Conv::Untyped => match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => Value::String(values::truncate_text(s, LOB_PREVIEW_CHARS)),
            Ok(other) => other,
            Err(_) => Value::Null,
        },
    }
}

/// ORDS's encoding of binary values is not documented: RAW binds are hex,
/// so hex is tried first for RAW and base64 first for BLOB; either way the
/// bytes are shown like every other backend shows them (base64, capped).
fn binary(s: &str, hex_first: bool) -> String {
    use base64::Engine as _;
    let hex = || -> Option<Vec<u8>> {
        if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        (0..s.len())
            .step_by(2)
            .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect()
    };
    let b64 = || base64::engine::general_purpose::STANDARD.decode(s).ok();
    let bytes = if hex_first {
        hex().or_else(b64)
    } else {
        b64().or_else(hex)
    };
    match bytes {
        Some(b) => render_blob(&b, BLOB_PREVIEW_BYTES),
        None => values::truncate_text(s.to_owned(), LOB_PREVIEW_CHARS),
    }
}

/// What one page of rows became.
#[derive(Debug, Default)]
pub struct Converted {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<Value>>,
    /// Rows in the page that were not kept (beyond `keep`, or refused by
    /// the budget); they were skipped, not built.
    pub skipped: usize,
    /// The budget refused a row.
    pub budget_stop: bool,
}

/// Columns and how to find and type each cell.
struct Layout {
    columns: Vec<ColumnInfo>,
    convs: Vec<Conv>,
    by_key: HashMap<String, usize>,
    /// No metadata: columns are discovered from the rows' keys.
    open: bool,
}

impl Layout {
    fn new(metadata: Option<&[ColumnMeta]>) -> Self {
        let mut l = Layout {
            columns: Vec::new(),
            convs: Vec::new(),
            by_key: HashMap::new(),
            open: metadata.is_none(),
        };
        for (i, m) in metadata.unwrap_or_default().iter().enumerate() {
            l.columns.push(column_info(m));
            l.convs.push(conv_for(&m.column_type_name));
            l.by_key.entry(m.json_column_name.clone()).or_insert(i);
            l.by_key
                .entry(m.json_column_name.to_lowercase())
                .or_insert(i);
        }
        l
    }

    fn index(&mut self, key: &str) -> Option<usize> {
        if let Some(i) = self.by_key.get(key) {
            return Some(*i);
        }
        if !self.open {
            return self.by_key.get(&key.to_lowercase()).copied();
        }
        let i = self.columns.len();
        self.columns.push(ColumnInfo {
            name: key.to_owned(),
            type_name: "UNKNOWN".into(),
        });
        self.convs.push(Conv::Untyped);
        self.by_key.insert(key.to_owned(), i);
        Some(i)
    }
}

struct State<'b> {
    layout: Layout,
    keep: usize,
    budget: Option<&'b mut ResultBudget>,
    out: Converted,
}

impl State<'_> {
    fn accepting(&self) -> bool {
        !self.out.budget_stop && self.out.rows.len() < self.keep
    }
}

/// A JSON object key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct Rows<'s, 'b>(&'s mut State<'b>);

impl<'de> DeserializeSeed<'de> for Rows<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.0;
        loop {
            if !st.accepting() {
                match seq.next_element::<IgnoredAny>()? {
                    Some(_) => st.out.skipped += 1,
                    None => return Ok(()),
                }
                continue;
            }
            let Some(row) = seq.next_element_seed(Row(&mut *st))? else {
                return Ok(());
            };
            let admitted = st.budget.as_deref_mut().is_none_or(|b| b.admit(&row));
            if admitted {
                st.out.rows.push(row);
            } else {
                st.out.budget_stop = true;
                st.out.skipped += 1;
            }
        }
    }
}

struct Row<'s, 'b>(&'s mut State<'b>);

impl<'de> DeserializeSeed<'de> for Row<'_, '_> {
    type Value = Vec<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Row<'_, '_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Value>, A::Error> {
        let layout = &mut self.0.layout;
        let mut row = vec![Value::Null; layout.columns.len()];
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let raw: &'de RawValue = map.next_value()?;
            if let Some(i) = layout.index(&key) {
                if row.len() <= i {
                    row.resize(i + 1, Value::Null);
                }
                row[i] = convert(layout.convs[i], Some(raw));
            }
        }
        Ok(row)
    }
}

/// Converts at most `keep` rows of a page, each charged to `budget` when
/// one is given; stops building rows at the first one the budget refuses.
/// Without `metadata` (a bare row array), columns come from the rows' keys
/// in order of appearance and are typed from the values.
pub fn convert_rows(
    metadata: Option<&[ColumnMeta]>,
    rows: &RawRows<'_>,
    keep: usize,
    budget: Option<&mut ResultBudget>,
) -> Result<Converted, DbError> {
    let mut st = State {
        layout: Layout::new(metadata),
        keep,
        budget,
        out: Converted::default(),
    };
    if let Some(raw) = rows.0 {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        Rows(&mut st)
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| shape_error("rows", &e))?;
    }
    let width = st.layout.columns.len();
    for row in &mut st.out.rows {
        row.resize(width, Value::Null);
    }
    st.out.columns = st.layout.columns;
    Ok(st.out)
}

/// Columns and typed rows of a result set, in `metadata` order, all rows
/// and no budget (for fixtures and tests).
pub fn rows_of(rs: &ResultSet) -> (Vec<ColumnInfo>, Vec<Vec<Value>>) {
    match convert_rows(Some(&rs.metadata), &rs.items, usize::MAX, None) {
        Ok(c) => (c.columns, c.rows),
        Err(_) => (rs.metadata.iter().map(column_info).collect(), Vec::new()),
    }
}

/// Parses a response body; the error says where the JSON broke, never
/// echoing the body itself.
pub fn parse_response(body: &[u8]) -> Result<SqlResponse<'_>, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "ORDS returned malformed JSON ({} at line {}, column {})",
            match e.classify() {
                serde_json::error::Category::Eof => "truncated",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected shape",
                serde_json::error::Category::Io => "read error",
            },
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(doc: &str) -> ResultSet<'_> {
        serde_json::from_str(doc).expect("result set")
    }

    #[test]
    fn cells_are_typed_by_column_type() {
        let doc = r#"{"metadata":[
            {"columnName":"N","jsonColumnName":"n","columnTypeName":"NUMBER","precision":38,"scale":0},
            {"columnName":"BIG","jsonColumnName":"big","columnTypeName":"NUMBER","precision":0,"scale":0},
            {"columnName":"D","jsonColumnName":"d","columnTypeName":"DATE"},
            {"columnName":"C","jsonColumnName":"c","columnTypeName":"CLOB"},
            {"columnName":"R","jsonColumnName":"r","columnTypeName":"RAW","precision":4}],
          "items":[{"n":42,"big":123456789012345678901234567890.123456789,"d":"2025-04-21T16:40:07Z","c":"x","r":"DEADBEEF"},
                   {"n":null,"big":"98765432109876543210","d":null}]}"#;
        let rs = rs(doc);
        let (cols, rows) = rows_of(&rs);
        assert_eq!(rs.items.len(), 2);
        assert_eq!(cols[0].type_name, "NUMBER(38)");
        assert_eq!(cols[1].type_name, "NUMBER");
        assert_eq!(cols[4].type_name, "RAW(4)");
        assert_eq!(rows[0][0], json!(42));
        assert_eq!(
            rows[0][1],
            json!("123456789012345678901234567890.123456789")
        );
        assert_eq!(rows[0][2], json!("2025-04-21T16:40:07Z"));
        assert_eq!(rows[0][4], json!("base64:3q2+7w=="));
        assert_eq!(rows[1][0], Value::Null);
        assert_eq!(rows[1][1], json!("98765432109876543210"));
        assert_eq!(rows[1][3], Value::Null, "a missing key is NULL");
    }

    #[test]
    fn long_lobs_are_cut_with_a_marker() {
        let long = "a".repeat(LOB_PREVIEW_CHARS + 10);
        let doc =
            json!({"metadata":[{"columnName":"C","jsonColumnName":"c","columnTypeName":"CLOB"}],
                          "items":[{"c": long}]})
            .to_string();
        let (_, rows) = rows_of(&rs(&doc));
        let s = rows[0][0].as_str().expect("text");
        assert!(s.ends_with(&format!(
            "…[truncated, {} characters total]",
            LOB_PREVIEW_CHARS + 10
        )));
    }

    #[test]
    fn conversion_stops_at_keep_and_at_the_budget_without_building_the_rest() {
        let rows: Vec<Value> = (0..100)
            .map(|i| json!({"n": i, "s": "x".repeat(100)}))
            .collect();
        let doc = json!({"metadata":[
            {"columnName":"N","jsonColumnName":"n","columnTypeName":"NUMBER"},
            {"columnName":"S","jsonColumnName":"s","columnTypeName":"VARCHAR2"}],
            "items": rows})
        .to_string();
        let rs = rs(&doc);
        let c = convert_rows(Some(&rs.metadata), &rs.items, 10, None).expect("rows");
        assert_eq!((c.rows.len(), c.skipped, c.budget_stop), (10, 90, false));
        // Each row costs 2 cells × 16 + 8 + 100 = 140 bytes.
        let mut budget = ResultBudget::new(1000);
        let c = convert_rows(Some(&rs.metadata), &rs.items, 100, Some(&mut budget)).expect("r");
        assert_eq!(c.rows.len(), 7);
        assert!(c.budget_stop);
        assert_eq!(c.skipped, 93);
        assert_eq!(c.rows[6][0], json!(6));
    }

    #[test]
    fn bare_row_arrays_keep_column_order_and_exact_numbers() {
        let raw: &RawValue = serde_json::from_str(
            r#"[{"zeta":1,"alpha":"a","big":123456789012345678901234567890},{"alpha":"b","zeta":2,"extra":true}]"#,
        )
        .expect("raw");
        let c = convert_rows(None, &RawRows::new(Some(raw)), 10, None).expect("rows");
        let names: Vec<&str> = c.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "big", "extra"]);
        assert_eq!(
            c.rows[0],
            vec![
                json!(1),
                json!("a"),
                json!("123456789012345678901234567890"),
                Value::Null
            ]
        );
        assert_eq!(
            c.rows[1],
            vec![json!(2), json!("b"), Value::Null, json!(true)]
        );
        let bad: &RawValue = serde_json::from_str("[1, 2]").expect("raw");
        assert!(convert_rows(None, &RawRows::new(Some(bad)), 10, None).is_err());
    }

    #[test]
    fn cursor_binds_are_read_in_both_shapes_and_missing_ones_say_so() {
        let body = br#"{"items":[{"statementId":1,"statementType":"plsql","binds":[
            {"name":"q","data_type":"CLOB","value":"SELECT 1"},
            {"name":"rc","data_type":"CURSOR","mode":"out","result":{"metadata":[{"columnName":"A","jsonColumnName":"a","columnTypeName":"NUMBER"}],"items":[{"a":1}],"hasMore":true}}]}]}"#;
        let resp = parse_response(body).expect("parse");
        let item = single_item(&resp, "plsql").expect("item");
        match cursor_rows(item, "rc").expect("cursor") {
            CursorRows::ResultSet(rs) => {
                assert_eq!(rs.has_more, Some(true));
                assert_eq!(rows_of(&rs).1, vec![vec![json!(1)]]);
            }
            other => panic!("{other:?}"),
        }
        let body = br#"{"items":[{"statementType":"plsql","binds":[{"name":"RC","data_type":"CURSOR","mode":"OUT","result":[{"a":2}]}]}]}"#;
        let resp = parse_response(body).expect("parse");
        let item = single_item(&resp, "plsql").expect("item");
        assert!(matches!(cursor_rows(item, "rc"), Ok(CursorRows::Rows(r)) if r.len() == 1));
        let body = br#"{"items":[{"statementType":"plsql","binds":[{"name":"rc","data_type":"CURSOR","mode":"out","result":null}]}]}"#;
        let resp = parse_response(body).expect("parse");
        let e = cursor_rows(&resp.items[0], "rc").expect_err("no result");
        assert!(e.to_string().contains("has no result"), "{e}");
    }

    #[test]
    fn single_item_refuses_splits_errors_and_other_statement_types() {
        let two = br#"{"items":[{"statementType":"plsql"},{"statementType":"sql"}]}"#;
        let resp = parse_response(two).expect("parse");
        let e = single_item(&resp, "plsql").expect_err("two items");
        assert!(e.to_string().contains("ran 2 statements"), "{e}");
        let query = br#"{"items":[{"statementType":"query"}]}"#;
        let resp = parse_response(query).expect("parse");
        assert!(single_item(&resp, "plsql").is_err());
        assert!(single_item(&resp, "query").is_ok());
        let untyped = br#"{"items":[{"statementId":1}]}"#;
        let resp = parse_response(untyped).expect("parse");
        assert!(single_item(&resp, "plsql").is_err());
        assert!(single_item(&resp, "query").is_ok());
        let err = br#"{"items":[{"statementType":"plsql","errorCode":911,"errorMessage":"ORA-00911: invalid character"}]}"#;
        let resp = parse_response(err).expect("parse");
        let e = single_item(&resp, "plsql").expect_err("error");
        assert!(
            matches!(&e, DbError::Sql { code: Some(c), .. } if c == "ORA-00911"),
            "{e}"
        );
    }

    #[test]
    fn plan_rows_come_from_a_json_clob_in_column_order() {
        let body = br#"{"items":[{"statementType":"plsql","binds":[{"name":"plan","data_type":"CLOB","mode":"out",
            "result":"[{\"id\":0,\"operation\":\"SELECT STATEMENT\"},{\"id\":1,\"parent_id\":0,\"OPERATION\":\"TABLE ACCESS\",\"options\":\"FULL\"}]"}]}]}"#;
        let resp = parse_response(body).expect("parse");
        let rows = plan_rows(
            &resp.items[0],
            "plan",
            &["id", "parent_id", "operation", "options"],
            10,
        )
        .expect("rows");
        assert_eq!(
            rows[0],
            vec![
                json!(0),
                Value::Null,
                json!("SELECT STATEMENT"),
                Value::Null
            ]
        );
        assert_eq!(
            rows[1],
            vec![json!(1), json!(0), json!("TABLE ACCESS"), json!("FULL")]
        );
        let nothing = br#"{"items":[{"binds":[{"name":"plan","result":null}]}]}"#;
        let resp = parse_response(nothing).expect("parse");
        assert!(plan_rows(&resp.items[0], "plan", &["id"], 10).is_err());
    }

    #[test]
    fn binds_keep_exact_decimal_text() {
        let b = WireBind::new(
            1,
            &OracleBind::Number("123456789012345678901234567890.5".into()),
        )
        .expect("bind");
        let text = serde_json::to_string(&b).expect("json");
        assert_eq!(
            text,
            r#"{"index":1,"data_type":"NUMBER","value":123456789012345678901234567890.5}"#
        );
        let t =
            serde_json::to_string(&WireBind::new(2, &OracleBind::Text("it's".into())).expect("b"))
                .expect("json");
        assert_eq!(t, r#"{"index":2,"data_type":"VARCHAR2","value":"it's"}"#);
        assert!(WireBind::new(3, &OracleBind::Float(f64::NAN)).is_err());
        let named =
            serde_json::to_string(&WireBind::named("b1", &OracleBind::Integer(7)).expect("b"))
                .expect("json");
        assert_eq!(named, r#"{"name":"b1","data_type":"NUMBER","value":7}"#);
        let out = serde_json::to_string(&WireBind::out("rc", "CURSOR")).expect("json");
        assert_eq!(out, r#"{"name":"rc","data_type":"CURSOR","mode":"out"}"#);
        let q = serde_json::to_string(&WireBind::named_clob("q", "SELECT ';'").expect("b"))
            .expect("json");
        assert_eq!(q, r#"{"name":"q","data_type":"CLOB","value":"SELECT ';'"}"#);
    }

    #[test]
    fn statement_errors_carry_the_ora_text() {
        let body = br#"{"items":[{"statementId": 1, "errorCode": 942, "errorLine": 1, "errorColumn": 15,
            "errorMessage": "ORA-00942: table or view does not exist", "response": [], "result": 0}]}"#;
        let resp = parse_response(body).expect("parse");
        let e = resp.items[0].error().expect("error");
        match e {
            DbError::Sql { code, message } => {
                assert_eq!(code.as_deref(), Some("ORA-00942"));
                assert!(
                    message.starts_with("ORA-00942: table or view does not exist"),
                    "{message}"
                );
                assert!(message.contains("line 1, column 15"), "{message}");
                assert!(message.contains("list_tables"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_described_without_echo() {
        let e = parse_response(b"{\"items\": [ {\"statementId\": 1, secret-ish").expect_err("bad");
        assert!(e.contains("malformed JSON"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    fn peak_rss_kib() -> usize {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Memory of parsing 8 responses at the 8 MiB cap at once, on top of
    /// the bodies themselves. Run alone (it reads the process's peak RSS):
    /// `cargo test --lib parsing_at_the_cap -- --ignored --exact …`.
    #[test]
    #[ignore = "measures peak RSS of the whole process; run alone"]
    fn parsing_at_the_cap_costs_little_beyond_the_bodies() {
        let cap = 8 << 20;
        let meta = r#"{"columnName":"A","jsonColumnName":"a","columnTypeName":"NUMBER"},{"columnName":"S","jsonColumnName":"s","columnTypeName":"VARCHAR2"}"#;
        let row = r#"{"a":1,"s":"xxxxxxxxxxxxxxxx"},"#;
        let mut body = format!(
            r#"{{"items":[{{"statementType":"plsql","binds":[{{"name":"rc","data_type":"CURSOR","mode":"out","result":{{"metadata":[{meta}],"items":["#
        );
        while body.len() + row.len() + 100 < cap {
            body.push_str(row);
        }
        body.push_str(r#"{"a":2,"s":"y"}]}}]}]}"#);
        let bodies: Vec<Vec<u8>> = (0..8).map(|_| body.clone().into_bytes()).collect();
        drop(body);
        let before = peak_rss_kib();
        std::thread::scope(|s| {
            for b in &bodies {
                s.spawn(move || {
                    let resp = parse_response(b).expect("parse");
                    let item = single_item(&resp, "plsql").expect("item");
                    let CursorRows::ResultSet(rs) = cursor_rows(item, "rc").expect("cursor") else {
                        panic!("shape");
                    };
                    let mut budget = ResultBudget::new(1 << 20);
                    let c =
                        convert_rows(Some(&rs.metadata), &rs.items, usize::MAX, Some(&mut budget))
                            .expect("rows");
                    assert!(c.budget_stop);
                });
            }
        });
        let grew_mib = peak_rss_kib().saturating_sub(before) / 1024;
        eprintln!(
            "8 × {} MiB bodies: peak RSS grew {grew_mib} MiB while parsing",
            cap >> 20
        );
        assert!(grew_mib < 48, "{grew_mib} MiB");
    }
}
