//! The REST-Enabled SQL JSON contract (`POST /ords/{alias}/_/sql`,
//! `Content-Type: application/json`) as Rust types, and how a response
//! becomes a [`QueryResult`].
//!
//! Row values are kept as raw JSON text ([`RawValue`]) until their column's
//! `columnTypeName` is known, so a NUMBER is read from its exact digits:
//! never through `f64` unless `f64` holds it exactly (see
//! [`values::exact_number`]). Unknown fields are ignored: newer ORDS
//! releases add fields (`columnClassName`, `hasMore`, …) and older ones lack
//! them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::db::oracle::values::{self, BLOB_PREVIEW_BYTES, LOB_PREVIEW_CHARS};
use crate::db::oracle::{self, OracleBind};
use crate::db::{ColumnInfo, DbError, render_blob};

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

/// One bind: `{"index": n, "data_type": "NUMBER", "value": …}`.
#[derive(Debug, Serialize)]
pub struct WireBind {
    pub index: usize,
    pub data_type: &'static str,
    pub value: Box<RawValue>,
}

/// VARCHAR2 binds in SQL hold at most 32767 bytes; longer text goes as CLOB.
const MAX_VARCHAR2_BIND: usize = 32_767;

impl WireBind {
    /// Our bind at 1-based `index`. Decimal text travels as a JSON number
    /// token written verbatim (a `RawValue`), so no digit is lost on the way.
    pub fn new(index: usize, bind: &OracleBind) -> Result<Self, DbError> {
        let json = |v: Value| RawValue::from_string(v.to_string());
        let (data_type, value) = match bind {
            OracleBind::Null => ("VARCHAR2", json(Value::Null)),
            OracleBind::Text(s) if s.len() > MAX_VARCHAR2_BIND => {
                ("CLOB", json(Value::from(s.as_str())))
            }
            OracleBind::Text(s) => ("VARCHAR2", json(Value::from(s.as_str()))),
            OracleBind::Integer(i) => ("NUMBER", json(Value::from(*i))),
            OracleBind::Number(text) => {
                // Only a valid JSON number token may go in verbatim.
                let is_number = serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_number());
                if is_number {
                    ("NUMBER", RawValue::from_string(text.clone()))
                } else {
                    ("NUMBER", json(Value::from(text.as_str())))
                }
            }
            OracleBind::Float(f) => {
                let n = serde_json::Number::from_f64(*f).ok_or_else(|| {
                    DbError::InvalidParams(format!("bind {index}: {f} is not a finite number"))
                })?;
                ("BINARY_DOUBLE", json(Value::Number(n)))
            }
            // SQL before 23ai has no BOOLEAN: 1/0 as NUMBER, as SQLite does.
            OracleBind::Boolean(b) => ("NUMBER", json(Value::from(i64::from(*b)))),
        };
        let value =
            value.map_err(|e| DbError::Internal(format!("cannot encode bind {index}: {e}")))?;
        Ok(Self {
            index,
            data_type,
            value,
        })
    }
}

/// The whole response document.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlResponse {
    #[serde(default)]
    pub env: Option<Value>,
    #[serde(default)]
    pub items: Vec<StatementItem>,
}

/// One statement's outcome.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementItem {
    #[serde(default)]
    pub statement_id: Option<i64>,
    #[serde(default)]
    pub statement_type: Option<String>,
    #[serde(default)]
    pub statement_pos: Option<StatementPos>,
    #[serde(default)]
    pub statement_text: Option<String>,
    #[serde(default)]
    pub result_set: Option<ResultSet>,
    /// SQL*Plus-style output lines (DBMS_OUTPUT, feedback).
    #[serde(default)]
    pub response: Vec<Value>,
    /// Rows affected, or 0.
    #[serde(default)]
    pub result: Option<i64>,
    /// A number (942) in the documented examples; text is accepted too.
    #[serde(default)]
    pub error_code: Option<Value>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub error_line: Option<i64>,
    #[serde(default)]
    pub error_column: Option<i64>,
    #[serde(default)]
    pub error_details: Option<String>,
    /// OUT binds (not used by the read-only tools).
    #[serde(default)]
    pub binds: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementPos {
    #[serde(default)]
    pub start_line: Option<i64>,
    #[serde(default)]
    pub end_line: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultSet {
    #[serde(default)]
    pub metadata: Vec<ColumnMeta>,
    /// Rows keyed by `jsonColumnName`; values kept raw until typed.
    #[serde(default)]
    pub items: Vec<HashMap<String, Box<RawValue>>>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
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

impl StatementItem {
    /// The statement's error, if it failed: Oracle's own message, its
    /// `ORA-nnnnn` code and the position.
    pub fn error(&self) -> Option<DbError> {
        let code = self.error_code.as_ref().filter(|c| !c.is_null())?;
        let code = match code {
            Value::Number(n) => n.as_i64().map(oracle::ora_code),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                s.trim().parse::<i64>().ok().map(oracle::ora_code)
            }
            Value::String(s) => Some(s.trim().to_owned()),
            _ => None,
        };
        let mut message = self
            .error_message
            .clone()
            .filter(|m| !m.trim().is_empty())
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

    /// SQL*Plus-style lines, for errors reported only there.
    pub fn response_text(&self) -> String {
        let text: Vec<String> = self
            .response
            .iter()
            .map(|v| match v {
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        let joined = text.join(" ");
        match joined.char_indices().nth(500) {
            Some((cut, _)) => format!("{}…", &joined[..cut]),
            None => joined,
        }
    }
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
    Binary { hex_first: bool },
    Plain,
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
            if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
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

/// Columns and typed rows of a result set, in `metadata` order.
pub fn rows_of(rs: &ResultSet) -> (Vec<ColumnInfo>, Vec<Vec<Value>>) {
    let columns: Vec<ColumnInfo> = rs.metadata.iter().map(column_info).collect();
    let convs: Vec<Conv> = rs
        .metadata
        .iter()
        .map(|m| conv_for(&m.column_type_name))
        .collect();
    let rows = rs
        .items
        .iter()
        .map(|item| {
            rs.metadata
                .iter()
                .zip(&convs)
                .map(|(m, conv)| {
                    let raw = item
                        .get(&m.json_column_name)
                        .or_else(|| item.get(&m.json_column_name.to_lowercase()));
                    convert(*conv, raw.map(|b| &**b))
                })
                .collect()
        })
        .collect();
    (columns, rows)
}

/// Parses a response body; the error says where the JSON broke, never
/// echoing the body itself.
pub fn parse_response(body: &[u8]) -> Result<SqlResponse, String> {
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

    fn rs(doc: Value) -> ResultSet {
        // Raw values need the text form, as in real responses.
        serde_json::from_str(&doc.to_string()).expect("result set")
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
        let rs: ResultSet = serde_json::from_str(doc).expect("parse");
        let (cols, rows) = rows_of(&rs);
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
        let rs = rs(
            json!({"metadata":[{"columnName":"C","jsonColumnName":"c","columnTypeName":"CLOB"}],
                          "items":[{"c": long}]}),
        );
        let (_, rows) = rows_of(&rs);
        let s = rows[0][0].as_str().expect("text");
        assert!(s.ends_with(&format!(
            "…[truncated, {} characters total]",
            LOB_PREVIEW_CHARS + 10
        )));
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
    }

    #[test]
    fn statement_errors_carry_the_ora_text() {
        let item: StatementItem = serde_json::from_value(json!({
            "statementId": 1, "errorCode": 942, "errorLine": 1, "errorColumn": 15,
            "errorMessage": "ORA-00942: table or view does not exist",
            "response": [], "result": 0
        }))
        .expect("item");
        let e = item.error().expect("error");
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
}
