//! Named parameters (`:name` + `params`) to positional Oracle binds.
//!
//! Placeholders are found with the guard's lexer, so a `:x` inside a string
//! literal, a quoted identifier or a comment is never taken for a bind and
//! the rewrite can never change anything but the placeholders themselves.

use serde_json::Value;

use super::OracleBind;
use super::wrap::UserQuery;
use crate::db::guard::{self, TokenClass};
use crate::db::{DbError, Params, ReadOnlyQuery};

/// Turns a guarded query and its named parameters into positional binds.
///
/// Each `:name` occurrence becomes `:1`, `:2`, … in order; a name used twice
/// is bound twice with the same value. Names match case-insensitively, as
/// Oracle's do (an exact match wins). Missing values and parameters the query
/// does not use are `InvalidParams`.
pub(super) fn bind_params(query: ReadOnlyQuery<'_>, params: &Params) -> Result<UserQuery, DbError> {
    let sql = query.sql();
    let tokens = guard::tokenize(sql, query.dialect()).map_err(DbError::Rejected)?;
    let mut out = String::with_capacity(sql.len() + 8);
    let mut binds = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    let mut last = 0;
    for t in tokens.iter().filter(|t| t.class == TokenClass::Placeholder) {
        let text = sql.get(t.start..t.end).unwrap_or_default();
        // The Oracle reading has `:name` and `:1` binds only (`?` and `@`
        // are refused by the guard).
        let name = text.strip_prefix(':').unwrap_or(text);
        let (key, value) = lookup(params, name)?;
        binds.push(to_bind(name, value)?);
        if !used.contains(&key) {
            used.push(key);
        }
        out.push_str(sql.get(last..t.start).unwrap_or_default());
        out.push(':');
        out.push_str(&binds.len().to_string());
        last = t.end;
    }
    out.push_str(sql.get(last..).unwrap_or_default());
    let unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !used.contains(k))
        .collect();
    if !unknown.is_empty() {
        let expected = if used.is_empty() {
            "the query has no binds".to_owned()
        } else {
            format!("the query uses :{}", used.join(", :"))
        };
        return Err(DbError::InvalidParams(format!(
            "unknown parameter(s) {}; {expected}",
            unknown.join(", ")
        )));
    }
    Ok(UserQuery::new(out, binds))
}

/// Finds the parameter for bind `name`: exact key first, then the one key
/// equal ignoring case. Two keys differing only in case are ambiguous.
fn lookup<'p>(params: &'p Params, name: &str) -> Result<(&'p str, &'p Value), DbError> {
    if let Some((k, v)) = params.get_key_value(name) {
        return Ok((k.as_str(), v));
    }
    let mut found = params.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        (Some((a, _)), Some((b, _))) => Err(DbError::InvalidParams(format!(
            "params `{a}` and `{b}` both match bind :{name} (Oracle bind names ignore case); keep one"
        ))),
        (None, _) => Err(DbError::InvalidParams(format!(
            "no value for bind :{name}; pass it in params, e.g. {{\"{name}\": ...}}"
        ))),
    }
}

/// JSON value → Oracle bind. Non-integers travel as decimal text bound as
/// NUMBER (never as binary floating point), so `price = :p` compares exactly.
pub fn to_bind(name: &str, value: &Value) -> Result<OracleBind, DbError> {
    Ok(match value {
        Value::Null => OracleBind::Null,
        Value::Bool(b) => OracleBind::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                OracleBind::Integer(i)
            } else {
                // u64 above i64::MAX, or a float: serde_json prints the
                // shortest text that reads back to the same value.
                let text = n.to_string();
                if text.contains(['N', 'n', 'i']) {
                    return Err(DbError::InvalidParams(format!(
                        "bind :{name}: {text} is not a finite number"
                    )));
                }
                OracleBind::Number(text)
            }
        }
        Value::String(s) => OracleBind::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(DbError::InvalidParams(format!(
                "bind :{name} must be a string, number, boolean or null, not an array or object"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::guard::check_read_only;
    use serde_json::json;

    fn params(v: Value) -> Params {
        match v {
            Value::Object(m) => m,
            _ => Params::new(),
        }
    }

    fn bind(sql: &str, p: Value) -> Result<UserQuery, DbError> {
        let q = check_read_only(sql, crate::db::Dialect::Oracle).expect("guard accepts");
        bind_params(q, &params(p))
    }

    #[test]
    fn named_binds_become_positional_in_order() {
        let s = bind(
            "SELECT * FROM orders WHERE status = :status AND customer_id = :Cust",
            json!({"cust": 42, "status": "shipped"}),
        )
        .expect("bind");
        assert_eq!(
            s.sql(),
            "SELECT * FROM orders WHERE status = :1 AND customer_id = :2"
        );
        assert_eq!(
            s.binds(),
            vec![OracleBind::Text("shipped".into()), OracleBind::Integer(42)]
        );
    }

    #[test]
    fn repeated_names_bind_the_same_value_twice() {
        let s = bind(
            "SELECT :d AS a, :D AS b FROM dual WHERE :d IS NOT NULL",
            json!({"d": "2025-01-01"}),
        )
        .expect("bind");
        assert_eq!(
            s.sql(),
            "SELECT :1 AS a, :2 AS b FROM dual WHERE :3 IS NOT NULL"
        );
        assert_eq!(s.binds().len(), 3);
        assert!(
            s.binds()
                .iter()
                .all(|b| *b == OracleBind::Text("2025-01-01".into()))
        );
    }

    #[test]
    fn placeholders_in_literals_comments_and_quoted_names_are_untouched() {
        let sql = "SELECT ':x' AS \"a:x\", q'[:x]' AS b /* :x */ FROM dual -- :x\nWHERE c = :x";
        let s = bind(sql, json!({"x": 1})).expect("bind");
        assert_eq!(
            s.sql(),
            "SELECT ':x' AS \"a:x\", q'[:x]' AS b /* :x */ FROM dual -- :x\nWHERE c = :1"
        );
        assert_eq!(s.binds(), vec![OracleBind::Integer(1)]);
    }

    #[test]
    fn missing_extra_ambiguous_and_positional_are_invalid_params() {
        let missing = bind("SELECT * FROM t WHERE a = :a", json!({})).expect_err("missing");
        assert!(
            matches!(&missing, DbError::InvalidParams(m) if m.contains("no value for bind :a")),
            "{missing}"
        );
        let extra =
            bind("SELECT * FROM t WHERE a = :a", json!({"a": 1, "b": 2})).expect_err("extra");
        assert!(
            matches!(&extra, DbError::InvalidParams(m) if m.contains("unknown parameter(s) b") && m.contains("uses :a")),
            "{extra}"
        );
        let none = bind("SELECT 1 FROM dual", json!({"b": 2})).expect_err("no binds");
        assert!(none.to_string().contains("has no binds"), "{none}");
        let ambiguous =
            bind("SELECT :a FROM dual", json!({"A": 1, "Aa": 0, "a2": 0})).expect_err("x");
        assert!(
            ambiguous.to_string().contains("unknown parameter"),
            "{ambiguous}"
        );
        let twice = bind("SELECT :id FROM dual", json!({"ID": 1, "Id": 2})).expect_err("case");
        assert!(twice.to_string().contains("ignore case"), "{twice}");
        let numbered = bind("SELECT :1 FROM dual", json!({})).expect_err("numbered");
        assert!(
            numbered.to_string().contains("no value for bind :1"),
            "{numbered}"
        );
        assert_eq!(
            check_read_only("SELECT ? FROM dual", crate::db::Dialect::Oracle).map_err(|e| e.code()),
            Err("unsupported_placeholder")
        );
    }

    #[test]
    fn values_are_typed_without_losing_precision() {
        let s = bind(
            "SELECT :i, :big, :f, :t, :b, :n FROM dual",
            json!({"i": -7, "big": 18446744073709551615u64, "f": 19.99, "t": "x", "b": true, "n": null}),
        )
        .expect("bind");
        assert_eq!(
            s.binds(),
            vec![
                OracleBind::Integer(-7),
                OracleBind::Number("18446744073709551615".into()),
                OracleBind::Number("19.99".into()),
                OracleBind::Text("x".into()),
                OracleBind::Boolean(true),
                OracleBind::Null,
            ]
        );
        let arr = bind("SELECT :a FROM dual", json!({"a": [1]})).expect_err("array");
        assert!(matches!(arr, DbError::InvalidParams(_)));
    }
}
