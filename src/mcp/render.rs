//! Turns backend results into what clients read: a compact text rendering
//! (for clients that only read `content`) and `structuredContent`, built in
//! one pass and never twice.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::db::{QueryResult, SchemaInfo, TableDescription, TablePage};

/// Cuts `text` at `max` bytes (on a char boundary) with an explicit notice.
pub fn cap(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max.saturating_sub(120);
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let total = text.len();
    text.truncate(cut);
    let _ = write!(
        text,
        "\n[output truncated at {} KiB of {total} bytes]",
        max / 1024
    );
    text
}

pub fn schemas(schemas: &[SchemaInfo]) -> String {
    let mut out = String::new();
    for s in schemas {
        let _ = writeln!(
            out,
            "{}{}: {} tables, {} views",
            s.name,
            if s.is_default { " (default)" } else { "" },
            s.tables,
            s.views
        );
    }
    if out.is_empty() {
        out.push_str("No schemas visible to this user.\n");
    }
    out
}

pub fn tables(page: &TablePage, offset: usize) -> String {
    let mut out = String::new();
    for t in &page.tables {
        let _ = write!(out, "{}.{}", t.schema, t.name);
        if t.kind != "table" {
            let _ = write!(out, " ({})", t.kind);
        }
        if let Some(n) = t.row_estimate {
            let _ = write!(out, " ~{n} rows");
        }
        if let Some(c) = &t.comment {
            let _ = write!(out, " — {c}");
        }
        out.push('\n');
    }
    if page.tables.is_empty() {
        out.push_str(if offset > 0 {
            "No more tables.\n"
        } else {
            "No tables or views match.\n"
        });
    }
    if let Some(next) = page.next_offset {
        let _ = writeln!(out, "More available: call again with offset={next}.");
    }
    out
}

pub fn description(d: &TableDescription) -> String {
    let mut out = String::new();
    let _ = write!(out, "{} {}.{}", d.kind.to_uppercase(), d.schema, d.name);
    if let Some(n) = d.row_estimate {
        let _ = write!(out, " (~{n} rows)");
    }
    if let Some(c) = &d.comment {
        let _ = write!(out, " — {c}");
    }
    out.push_str("\nColumns:\n");
    for c in &d.columns {
        let _ = write!(out, "  {} {}", c.name, c.data_type);
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
        if let Some(def) = &c.default {
            let _ = write!(out, " DEFAULT {def}");
        }
        if let Some(com) = &c.comment {
            let _ = write!(out, " — {com}");
        }
        out.push('\n');
    }
    if !d.primary_key.is_empty() {
        let _ = writeln!(out, "Primary key: ({})", d.primary_key.join(", "));
    }
    if !d.foreign_keys.is_empty() {
        out.push_str("Foreign keys:\n");
        for fk in &d.foreign_keys {
            let _ = writeln!(
                out,
                "  ({}) → {}({})",
                fk.columns.join(", "),
                fk.referenced_table,
                fk.referenced_columns.join(", ")
            );
        }
    }
    if !d.indexes.is_empty() {
        out.push_str("Indexes:\n");
        for ix in &d.indexes {
            let _ = writeln!(
                out,
                "  {}{} ({})",
                if ix.unique { "UNIQUE " } else { "" },
                ix.name,
                ix.columns.join(", ")
            );
        }
    }
    out
}

/// A rendered query result: both forms agree on the rows they contain.
pub struct RenderedQuery {
    pub text: String,
    pub structured: Value,
    pub row_count: u64,
}

fn push_cell(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("NULL"),
        Value::String(s) => {
            for ch in s.chars() {
                match ch {
                    '|' => out.push_str("\\|"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// Renders rows as a `|`-separated table with a header, stopping at
/// `max_text` bytes; rows that did not fit are dropped from the structured
/// form too and reported as truncated, with the offset to continue from.
pub fn query_result(result: QueryResult, offset: u64, max_text: usize) -> RenderedQuery {
    let QueryResult {
        columns,
        mut rows,
        has_more,
        budget_stop: _,
    } = result;
    let mut text = String::with_capacity(64 + rows.len() * 16 * columns.len().max(1));
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            text.push_str(" | ");
        }
        text.push_str(&c.name);
    }
    text.push('\n');
    // Leave room for the footer so the notice itself never overflows.
    let budget = max_text.saturating_sub(200);
    let mut shown = rows.len();
    for (r, row) in rows.iter().enumerate() {
        let mark = text.len();
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                text.push_str(" | ");
            }
            push_cell(&mut text, v);
        }
        text.push('\n');
        if text.len() > budget {
            text.truncate(mark);
            shown = r;
            break;
        }
    }
    let cut_by_size = shown < rows.len();
    rows.truncate(shown);
    let truncated = has_more || cut_by_size;
    let row_count = shown as u64;
    let next_offset = truncated.then_some(offset + row_count);
    match (truncated, cut_by_size) {
        (false, _) => {
            let _ = write!(
                text,
                "({row_count} row{})",
                if row_count == 1 { "" } else { "s" }
            );
        }
        (true, false) => {
            let _ = write!(
                text,
                "({row_count} rows shown; more rows exist: call again with offset={} or narrow the query)",
                offset + row_count
            );
        }
        (true, true) => {
            let _ = write!(
                text,
                "({row_count} rows shown; output truncated at {} KiB: call again with offset={} or select fewer columns)",
                max_text / 1024,
                offset + row_count
            );
        }
    }

    let mut structured = Map::with_capacity(5);
    structured.insert(
        "columns".into(),
        Value::Array(
            columns
                .into_iter()
                .map(|c| {
                    let mut m = Map::with_capacity(2);
                    m.insert("name".into(), Value::String(c.name));
                    m.insert("type".into(), Value::String(c.type_name));
                    Value::Object(m)
                })
                .collect(),
        ),
    );
    structured.insert(
        "rows".into(),
        Value::Array(rows.into_iter().map(Value::Array).collect()),
    );
    structured.insert("row_count".into(), Value::from(row_count));
    structured.insert("truncated".into(), Value::Bool(truncated));
    if let Some(next) = next_offset {
        structured.insert("next_offset".into(), Value::from(next));
    }
    RenderedQuery {
        text,
        structured: Value::Object(structured),
        row_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ColumnInfo;
    use serde_json::json;

    fn result(n: usize, has_more: bool) -> QueryResult {
        QueryResult {
            columns: vec![
                ColumnInfo {
                    name: "id".into(),
                    type_name: "INTEGER".into(),
                },
                ColumnInfo {
                    name: "note".into(),
                    type_name: "TEXT".into(),
                },
            ],
            rows: (0..n)
                .map(|i| vec![json!(i), json!(format!("a|b\nc{i}"))])
                .collect(),
            has_more,
            budget_stop: None,
        }
    }

    #[test]
    fn renders_header_rows_and_escapes() {
        let r = query_result(result(2, false), 0, 65536);
        assert_eq!(
            r.text,
            "id | note\n0 | a\\|b\\nc0\n1 | a\\|b\\nc1\n(2 rows)"
        );
        assert_eq!(r.structured["row_count"], 2);
        assert_eq!(r.structured["truncated"], false);
        assert!(r.structured.get("next_offset").is_none());
    }

    #[test]
    fn has_more_sets_next_offset() {
        let r = query_result(result(3, true), 10, 65536);
        assert_eq!(r.structured["truncated"], true);
        assert_eq!(r.structured["next_offset"], 13);
        assert!(r.text.contains("offset=13"), "{}", r.text);
    }

    #[test]
    fn size_cap_drops_rows_from_both_forms() {
        let r = query_result(result(5000, false), 0, 2048);
        assert!(r.text.len() <= 2048, "{}", r.text.len());
        let rows = r.structured["rows"].as_array().map(Vec::len).unwrap_or(0) as u64;
        assert_eq!(rows, r.row_count);
        assert!(r.row_count > 0 && r.row_count < 5000);
        assert_eq!(r.structured["next_offset"], r.row_count);
        assert!(r.text.contains("output truncated at 2 KiB"), "{}", r.text);
    }

    #[test]
    fn cap_cuts_on_char_boundary_with_notice() {
        let s = "é".repeat(5000);
        let c = cap(s, 2048);
        assert!(c.len() <= 2048);
        assert!(c.ends_with("bytes]"));
    }
}
