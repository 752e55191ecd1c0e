//! Turns backend results into what clients read: a compact text rendering
//! (for clients that only read `content`) and `structuredContent`, built in
//! one pass and never twice.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::db::text::{TRUNCATION_MARK as MARK, truncation_marker};
use crate::db::{QueryResult, SchemaInfo, TableDescription, TablePage};

/// Cuts `text` at `max` bytes (on a char boundary) with an explicit notice.
pub(super) fn cap(mut text: String, max: usize) -> String {
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

pub(super) fn schemas(schemas: &[SchemaInfo]) -> String {
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

pub(super) fn tables(page: &TablePage, offset: usize) -> String {
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

pub(super) fn description(d: &TableDescription) -> String {
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
pub(super) struct RenderedQuery {
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

/// Bytes `push_cell` writes for `v`.
fn cell_len(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::String(s) => s.len() + s.bytes().filter(|b| is_escaped(*b)).count(),
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        other => other.to_string().len(),
    }
}

fn is_escaped(b: u8) -> bool {
    matches!(b, b'|' | b'\n' | b'\r')
}

const MARK_END: &str = " bytes total]";
/// Room a marker takes ("…[truncated, 1000000000 bytes total]" is 40).
const MARKER_ROOM: usize = 48;

/// Cuts a string value so that it renders in at most `keep` bytes, plus a
/// marker with its full size; a value the backend already cut keeps the
/// backend's marker, which has the true size.
fn shorten(s: &mut String, keep: usize) {
    let (body_end, tail) = match s.rfind(MARK) {
        Some(i) if s.ends_with(MARK_END) => (i, s[i..].to_owned()),
        _ => (s.len(), truncation_marker(s.len(), "bytes")),
    };
    let mut rendered = 0;
    let mut cut = 0;
    for (i, ch) in s[..body_end].char_indices() {
        let w = if ch.is_ascii() && is_escaped(ch as u8) {
            2
        } else {
            ch.len_utf8()
        };
        if rendered + w > keep {
            break;
        }
        rendered += w;
        cut = i + ch.len_utf8();
    }
    s.truncate(cut);
    s.push_str(&tail);
}

/// Shortens the longest string cells of a row until its text fits `room`
/// bytes (as far as strings can be shortened), so a row that alone exceeds
/// the text limit is still shown and paging always moves on. True when a
/// value was cut.
fn fit_row(row: &mut [Value], room: usize) -> bool {
    let separators = 3 * row.len().saturating_sub(1) + 1;
    let lens: Vec<usize> = row.iter().map(cell_len).collect();
    if lens.iter().sum::<usize>() + separators <= room {
        return false;
    }
    let fixed: usize = row
        .iter()
        .zip(&lens)
        .filter(|(v, _)| !v.is_string())
        .map(|(_, l)| *l)
        .sum();
    let mut strings: Vec<usize> = row
        .iter()
        .zip(&lens)
        .filter(|(v, _)| v.is_string())
        .map(|(_, l)| *l)
        .collect();
    strings.sort_unstable();
    // Water-filling: the largest share per cell such that every string,
    // shown up to that share, fits; only longer strings are cut.
    let mut avail = room.saturating_sub(fixed + separators);
    let mut cap = None;
    for (i, len) in strings.iter().enumerate() {
        let share = avail / (strings.len() - i);
        if *len <= share {
            avail -= len;
        } else {
            cap = Some(share);
            break;
        }
    }
    let Some(cap) = cap else {
        return false;
    };
    let mut cut = false;
    for (v, len) in row.iter_mut().zip(lens) {
        if let Value::String(s) = v
            && len > cap
        {
            shorten(s, cap.saturating_sub(MARKER_ROOM));
            cut = true;
        }
    }
    cut
}

/// Renders rows as a `|`-separated table with a header, stopping at
/// `max_text` bytes; rows that did not fit are dropped from the structured
/// form too and reported as truncated, with the offset to continue from.
/// A first row that alone does not fit is shown with its longest values
/// cut (in both forms), so `next_offset` always moves on.
pub(super) fn query_result(result: QueryResult, offset: u64, max_text: usize) -> RenderedQuery {
    let QueryResult {
        columns,
        mut rows,
        has_more,
        budget_stop,
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
    let budget = max_text.saturating_sub(300);
    let mut shown = rows.len();
    let mut cut_values = false;
    if let Some(first) = rows.first_mut() {
        cut_values = fit_row(first, budget.saturating_sub(text.len()));
    }
    for (r, row) in rows.iter().enumerate() {
        let mark = text.len();
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                text.push_str(" | ");
            }
            push_cell(&mut text, v);
        }
        text.push('\n');
        // The first row stays, cut to fit as far as its values allow.
        if r > 0 && text.len() > budget {
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
    let next = offset + row_count;
    let plural = if row_count == 1 { "" } else { "s" };
    if !truncated {
        let _ = write!(text, "({row_count} row{plural})");
    } else {
        let _ = write!(text, "({row_count} row{plural} shown; ");
        if cut_by_size {
            let _ = write!(
                text,
                "output truncated at {} KiB (query.max_text_bytes): call again with offset={next} or select fewer columns)",
                max_text / 1024
            );
        } else if let Some(limit) = budget_stop {
            let _ = write!(
                text,
                "result budget of {} reached (query.max_result_bytes): call again with offset={next}, select fewer or shorter columns, or aggregate)",
                crate::db::human_bytes(limit)
            );
        } else {
            let _ = write!(
                text,
                "more rows exist: call again with offset={next} or narrow the query)"
            );
        }
    }
    if cut_values {
        let _ = write!(
            text,
            "\n(long values in this row were cut to fit {} KiB of text (query.max_text_bytes); select substr(column, start, length) to read a part)",
            max_text / 1024
        );
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
    fn a_row_larger_than_the_text_limit_is_cut_and_paging_moves_on() {
        let mut r = result(3, false);
        r.rows[0][1] = json!("é|".repeat(20_000));
        r.rows[1][1] = json!("b".repeat(50_000));
        let out = query_result(r, 7, 4096);
        assert!(out.text.len() <= 4096, "{}", out.text.len());
        assert_eq!(out.row_count, 1);
        assert_eq!(out.structured["next_offset"], 8);
        let note = out.structured["rows"][0][1].as_str().expect("text");
        assert!(note.ends_with("…[truncated, 60000 bytes total]"), "{note}");
        assert!(out.text.contains("were cut to fit 4 KiB"), "{}", out.text);
        assert!(out.text.contains("offset=8"), "{}", out.text);
        // A value the backend cut keeps the backend's marker (true size).
        let mut r = result(1, false);
        r.rows[0][1] = json!(format!(
            "{}…[truncated, 9000000 bytes total]",
            "c".repeat(60_000)
        ));
        let out = query_result(r, 0, 2048);
        let v = out.structured["rows"][0][1].as_str().expect("text");
        assert!(v.ends_with("c…[truncated, 9000000 bytes total]"), "{v}");
        assert!(out.text.len() <= 2048);
    }

    #[test]
    fn a_budget_stop_names_the_limit_and_its_key() {
        let mut r = result(3, true);
        r.budget_stop = Some(1024 * 1024);
        let out = query_result(r, 0, 65536);
        assert!(
            out.text
                .contains("result budget of 1 MiB reached (query.max_result_bytes)"),
            "{}",
            out.text
        );
        assert_eq!(out.structured["truncated"], true);
        assert_eq!(out.structured["next_offset"], 3);
    }

    #[test]
    fn cap_cuts_on_char_boundary_with_notice() {
        let s = "é".repeat(5000);
        let c = cap(s, 2048);
        assert!(c.len() <= 2048);
        assert!(c.ends_with("bytes]"));
    }
}
