//! The catalogue tools as Oracle data-dictionary queries (ALL_* views, so
//! they show exactly what the connected user may read).
//!
//! Every name the caller gives is bound, never spliced into the text. Names
//! resolve like Oracle's unquoted identifiers but forgiving: an exact match
//! wins, otherwise the upper-cased name (`orders` finds `ORDERS`);
//! `"Mixed"` in double quotes matches exactly. Without a schema, names
//! resolve in the connected user's schema (`USER_USERS`).
//!
//! The SQL sticks to what Oracle and SQLite share (joins, `CASE`,
//! `COALESCE`, `UPPER`, `LIKE … ESCAPE`, scalar subqueries), so the ORDS
//! test double can run it unchanged against SQLite views of the same names.
//! Every selected column has a distinct name: ORDS wraps queries in an
//! inline view for paging, which refuses duplicates.

use std::collections::BTreeMap;

use super::values::{cell_i64, cell_str, format_type};
use super::{OracleBind, OracleExec, OracleStatement};
use crate::db::{
    CallContext, ColumnDescription, DbError, ForeignKey, IndexInfo, ObjectKind, QueryResult,
    SchemaInfo, TableDescription, TableInfo, TableListRequest, TablePage, suggest,
};

/// Rows fetched for dictionary look-ups that are not paged by the caller
/// (columns, constraints, indexes of one table; names for suggestions).
const DICTIONARY_ROWS: usize = 10_000;

/// SQL text plus binds, built left to right so `:1..:n` stay in order.
#[derive(Default)]
struct SqlBuilder {
    sql: String,
    binds: Vec<OracleBind>,
}

impl SqlBuilder {
    fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    fn bind(&mut self, value: &str) -> &mut Self {
        self.binds.push(OracleBind::Text(value.to_owned()));
        self.sql.push(':');
        self.sql.push_str(&self.binds.len().to_string());
        self
    }

    fn build(self) -> OracleStatement {
        OracleStatement {
            sql: self.sql,
            binds: self.binds,
        }
    }
}

/// A caller-supplied name and how to match it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    /// `"Mixed Case"`: exactly as written inside the quotes.
    Exact(String),
    /// Unquoted: as written, else upper-cased.
    Fold { raw: String, upper: String },
}

impl Name {
    fn parse(s: &str) -> Self {
        let s = s.trim();
        match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) if !inner.is_empty() => Name::Exact(inner.to_owned()),
            _ => Name::Fold {
                raw: s.to_owned(),
                upper: s.to_uppercase(),
            },
        }
    }

    fn shown(&self) -> &str {
        match self {
            Name::Exact(s) | Name::Fold { raw: s, .. } => s,
        }
    }

    /// `col = :a` or `(col = :a OR UPPER(col) = :b)`.
    fn matches(&self, b: &mut SqlBuilder, col: &str) {
        match self {
            Name::Exact(s) => {
                b.push(col).push(" = ").bind(s);
            }
            Name::Fold { raw, upper } => {
                b.push("(").push(col).push(" = ").bind(raw);
                b.push(" OR UPPER(").push(col).push(") = ").bind(upper);
                b.push(")");
            }
        }
    }

    /// An expression that prefers the exact spelling: 0 for it, 1 otherwise.
    fn preference(&self, b: &mut SqlBuilder, col: &str) {
        let raw = self.shown().to_owned();
        b.push("CASE WHEN ").push(col).push(" = ").bind(&raw);
        b.push(" THEN 0 ELSE 1 END");
    }
}

/// The owner a request is about: the connected user, or a named schema
/// resolved exact-first, then case-insensitively.
fn push_owner(b: &mut SqlBuilder, schema: Option<&Name>) {
    match schema {
        None => {
            b.push("(SELECT username FROM user_users)");
        }
        Some(Name::Exact(s)) => {
            b.push("(SELECT username FROM all_users WHERE username = ")
                .bind(s)
                .push(")");
        }
        Some(Name::Fold { raw, upper }) => {
            b.push("COALESCE((SELECT username FROM all_users WHERE username = ")
                .bind(raw)
                .push("), (SELECT MIN(username) FROM all_users WHERE UPPER(username) = ")
                .bind(upper)
                .push("))");
        }
    }
}

/// Tables and views of one owner with comments and row estimates:
/// `owner, object_name, kind, comments, num_rows`.
fn push_objects(b: &mut SqlBuilder, schema: Option<&Name>, kind: ObjectKind) {
    b.push("SELECT o.owner, o.object_name, o.kind, c.comments, o.num_rows FROM (");
    let tables = kind != ObjectKind::View;
    let views = kind != ObjectKind::Table;
    if tables {
        b.push(
            "SELECT t.owner AS owner, t.table_name AS object_name, 'table' AS kind, \
             t.num_rows AS num_rows FROM all_tables t WHERE t.owner = ",
        );
        push_owner(b, schema);
        b.push(" AND t.nested = 'NO' AND t.secondary = 'N' AND t.dropped = 'NO'");
    }
    if tables && views {
        b.push(" UNION ALL ");
    }
    if views {
        b.push(
            "SELECT v.owner AS owner, v.view_name AS object_name, 'view' AS kind, \
             NULL AS num_rows FROM all_views v WHERE v.owner = ",
        );
        push_owner(b, schema);
    }
    b.push(
        ") o LEFT JOIN all_tab_comments c ON c.owner = o.owner AND c.table_name = o.object_name",
    );
}

/// `%filter%` with `_`/`%`/`\` literal, or the caller's own LIKE pattern
/// when it contains `%`; upper-cased to match case-insensitively.
fn like_pattern(filter: &str) -> String {
    let upper = filter.to_uppercase();
    if upper.contains('%') {
        return upper;
    }
    let mut p = String::with_capacity(upper.len() + 2);
    p.push('%');
    for ch in upper.chars() {
        if ch == '_' || ch == '\\' {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn table_info(row: &[serde_json::Value]) -> Option<TableInfo> {
    let cell = |i: usize| row.get(i).unwrap_or(&serde_json::Value::Null);
    Some(TableInfo {
        schema: cell_str(cell(0))?,
        name: cell_str(cell(1))?,
        kind: cell_str(cell(2))?.trim().to_owned(),
        comment: cell_str(cell(3)).filter(|c| !c.is_empty()),
        row_estimate: cell_i64(cell(4)).and_then(|n| u64::try_from(n).ok()),
    })
}

fn not_found_hint(close: &[&str], fallback: &str) -> String {
    if close.is_empty() {
        fallback.to_owned()
    } else {
        format!("did you mean {}?", close.join(", "))
    }
}

/// `NotFound` for a schema that does not exist, with suggestions; `Ok` when
/// it does (or when none was named).
async fn check_schema(
    exec: &dyn OracleExec,
    schema: Option<&Name>,
    ctx: &CallContext,
) -> Result<(), DbError> {
    let Some(name) = schema else {
        return Ok(());
    };
    let mut b = SqlBuilder::default();
    b.push("SELECT ");
    push_owner(&mut b, Some(name));
    b.push(" AS username FROM dual");
    let found = exec.fetch(&b.build(), 0, 1, ctx).await?;
    let exists = found
        .rows
        .first()
        .and_then(|r| r.first())
        .is_some_and(|v| !v.is_null());
    if exists {
        return Ok(());
    }
    let users = exec
        .fetch(
            &OracleStatement {
                sql: "SELECT username FROM all_users ORDER BY username".into(),
                binds: vec![],
            },
            0,
            DICTIONARY_ROWS,
            ctx,
        )
        .await?;
    let names: Vec<String> = users
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(cell_str))
        .collect();
    let close = suggest(name.shown(), names.iter().map(String::as_str));
    Err(DbError::NotFound(format!(
        "no schema named `{}`; {}",
        name.shown(),
        not_found_hint(&close, "call list_schemas to see what exists")
    )))
}

pub(super) async fn list_schemas(
    exec: &dyn OracleExec,
    ctx: &CallContext,
) -> Result<Vec<SchemaInfo>, DbError> {
    // Oracle-maintained schemas (SYS, XDB, …) are left out unless they are
    // the connected user; so are schemas where the user can see nothing.
    let stmt = OracleStatement {
        sql: "SELECT u.username, COALESCE(t.n, 0) AS n_tables, COALESCE(v.n, 0) AS n_views, \
              CASE WHEN u.username = (SELECT username FROM user_users) THEN 1 ELSE 0 END AS is_default \
              FROM all_users u \
              LEFT JOIN (SELECT owner, COUNT(*) AS n FROM all_tables \
                         WHERE nested = 'NO' AND secondary = 'N' AND dropped = 'NO' GROUP BY owner) t \
                ON t.owner = u.username \
              LEFT JOIN (SELECT owner, COUNT(*) AS n FROM all_views GROUP BY owner) v \
                ON v.owner = u.username \
              WHERE u.username = (SELECT username FROM user_users) \
                 OR (u.oracle_maintained = 'N' AND (t.n > 0 OR v.n > 0)) \
              ORDER BY u.username"
            .into(),
        binds: vec![],
    };
    let r = exec.fetch(&stmt, 0, DICTIONARY_ROWS, ctx).await?;
    Ok(r.rows
        .iter()
        .filter_map(|row| {
            let cell = |i: usize| row.get(i).unwrap_or(&serde_json::Value::Null);
            Some(SchemaInfo {
                name: cell_str(cell(0))?,
                tables: cell_i64(cell(1))
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                views: cell_i64(cell(2))
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                is_default: cell_i64(cell(3)) == Some(1),
            })
        })
        .collect())
}

pub(super) async fn list_tables(
    exec: &dyn OracleExec,
    req: &TableListRequest,
    ctx: &CallContext,
) -> Result<TablePage, DbError> {
    let schema = req.schema.as_deref().map(Name::parse);
    let mut b = SqlBuilder::default();
    push_objects(&mut b, schema.as_ref(), req.kind);
    if let Some(filter) = &req.filter {
        b.push(" WHERE UPPER(o.object_name) LIKE ")
            .bind(&like_pattern(filter))
            .push(" ESCAPE '\\'");
    }
    b.push(" ORDER BY o.object_name");
    let r = exec
        .fetch(&b.build(), req.offset as u64, req.limit, ctx)
        .await?;
    if r.rows.is_empty() && req.offset == 0 {
        check_schema(exec, schema.as_ref(), ctx).await?;
    }
    let tables: Vec<TableInfo> = r.rows.iter().filter_map(|row| table_info(row)).collect();
    Ok(TablePage {
        next_offset: r.has_more.then_some(req.offset + tables.len()),
        tables,
    })
}

pub(super) async fn describe_table(
    exec: &dyn OracleExec,
    schema: Option<&str>,
    table: &str,
    ctx: &CallContext,
) -> Result<TableDescription, DbError> {
    let schema = schema.map(Name::parse);
    let wanted = Name::parse(table);
    let mut b = SqlBuilder::default();
    push_objects(&mut b, schema.as_ref(), ObjectKind::All);
    b.push(" WHERE ");
    wanted.matches(&mut b, "o.object_name");
    b.push(" ORDER BY ");
    wanted.preference(&mut b, "o.object_name");
    let found = exec.fetch(&b.build(), 0, 1, ctx).await?;
    let Some(info) = found.rows.first().and_then(|row| table_info(row)) else {
        check_schema(exec, schema.as_ref(), ctx).await?;
        let mut b = SqlBuilder::default();
        push_objects(&mut b, schema.as_ref(), ObjectKind::All);
        let all = exec.fetch(&b.build(), 0, DICTIONARY_ROWS, ctx).await?;
        let names: Vec<String> = all
            .rows
            .iter()
            .filter_map(|r| r.get(1).and_then(cell_str))
            .collect();
        let close = suggest(wanted.shown(), names.iter().map(String::as_str));
        let place = schema
            .as_ref()
            .map(|s| format!(" in schema `{}`", s.shown()))
            .unwrap_or_default();
        return Err(DbError::NotFound(format!(
            "no table or view named `{}`{place}; {}",
            wanted.shown(),
            not_found_hint(&close, "call list_tables to see what exists")
        )));
    };

    let (constraints_stmt, indexes_stmt) = (constraints_sql(&info), indexes_sql(&info));
    let (columns, constraints, indexes) = futures::try_join!(
        columns(exec, &info, ctx),
        exec.fetch(&constraints_stmt, 0, DICTIONARY_ROWS, ctx),
        exec.fetch(&indexes_stmt, 0, DICTIONARY_ROWS, ctx),
    )?;
    let (primary_key, foreign_keys) = keys(&info, &constraints);
    Ok(TableDescription {
        indexes: index_list(&indexes),
        schema: info.schema,
        name: info.name,
        kind: info.kind,
        comment: info.comment,
        row_estimate: info.row_estimate,
        columns,
        primary_key,
        foreign_keys,
    })
}

fn owner_and_table(b: &mut SqlBuilder, owner_col: &str, table_col: &str, info: &TableInfo) {
    b.push(" WHERE ")
        .push(owner_col)
        .push(" = ")
        .bind(&info.schema)
        .push(" AND ")
        .push(table_col)
        .push(" = ")
        .bind(&info.name);
}

fn columns_sql(info: &TableInfo, with_default: bool) -> OracleStatement {
    let mut b = SqlBuilder::default();
    b.push(
        "SELECT c.column_name, c.data_type, c.data_length, c.data_precision, c.data_scale, \
         c.char_length, c.char_used, c.nullable, ",
    );
    // DATA_DEFAULT is a LONG; see `columns` for why it may be left out.
    b.push(if with_default {
        "c.data_default"
    } else {
        "NULL AS data_default"
    });
    b.push(
        ", cc.comments FROM all_tab_columns c LEFT JOIN all_col_comments cc \
         ON cc.owner = c.owner AND cc.table_name = c.table_name AND cc.column_name = c.column_name",
    );
    owner_and_table(&mut b, "c.owner", "c.table_name", info);
    b.push(" ORDER BY c.column_id");
    b.build()
}

/// Column list. DATA_DEFAULT is a LONG, which Oracle refuses in some query
/// shapes (ORA-00997); should a path wrap our query in one, the columns are
/// still described, without defaults.
async fn columns(
    exec: &dyn OracleExec,
    info: &TableInfo,
    ctx: &CallContext,
) -> Result<Vec<ColumnDescription>, DbError> {
    let r = match exec
        .fetch(&columns_sql(info, true), 0, DICTIONARY_ROWS, ctx)
        .await
    {
        Err(DbError::Sql { code: Some(c), .. }) if c == "ORA-00997" => {
            exec.fetch(&columns_sql(info, false), 0, DICTIONARY_ROWS, ctx)
                .await?
        }
        other => other?,
    };
    Ok(r.rows
        .iter()
        .filter_map(|row| {
            let cell = |i: usize| row.get(i).unwrap_or(&serde_json::Value::Null);
            let data_type = format_type(
                &cell_str(cell(1))?,
                cell_i64(cell(2)),
                cell_i64(cell(3)),
                cell_i64(cell(4)),
                cell_i64(cell(5)),
                cell_str(cell(6)).as_deref(),
            );
            Some(ColumnDescription {
                name: cell_str(cell(0))?,
                data_type,
                nullable: cell_str(cell(7)).as_deref() != Some("N"),
                default: cell_str(cell(8))
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty()),
                comment: cell_str(cell(9)).filter(|c| !c.is_empty()),
            })
        })
        .collect())
}

fn constraints_sql(info: &TableInfo) -> OracleStatement {
    let mut b = SqlBuilder::default();
    b.push(
        "SELECT c.constraint_name, c.constraint_type, cc.column_name, cc.position, \
         r.owner AS r_owner, r.table_name AS r_table_name, rc.column_name AS r_column_name \
         FROM all_constraints c \
         JOIN all_cons_columns cc ON cc.owner = c.owner AND cc.constraint_name = c.constraint_name \
           AND cc.table_name = c.table_name \
         LEFT JOIN all_constraints r ON r.owner = c.r_owner AND r.constraint_name = c.r_constraint_name \
         LEFT JOIN all_cons_columns rc ON rc.owner = r.owner AND rc.constraint_name = r.constraint_name \
           AND rc.position = cc.position",
    );
    owner_and_table(&mut b, "c.owner", "c.table_name", info);
    b.push(" AND c.constraint_type IN ('P', 'R') ORDER BY c.constraint_type, c.constraint_name, cc.position");
    b.build()
}

fn keys(info: &TableInfo, r: &QueryResult) -> (Vec<String>, Vec<ForeignKey>) {
    let mut primary = Vec::new();
    let mut foreign: Vec<ForeignKey> = Vec::new();
    for row in &r.rows {
        let cell = |i: usize| row.get(i).and_then(cell_str);
        let (Some(name), Some(kind), Some(column)) = (cell(0), cell(1), cell(2)) else {
            continue;
        };
        match kind.as_str() {
            "P" => primary.push(column),
            "R" => {
                let referenced_table = match (cell(4), cell(5)) {
                    (Some(owner), Some(table)) if owner == info.schema => table,
                    (Some(owner), Some(table)) => format!("{owner}.{table}"),
                    (_, table) => table.unwrap_or_default(),
                };
                if foreign.last().and_then(|f| f.name.as_deref()) != Some(name.as_str()) {
                    foreign.push(ForeignKey {
                        name: Some(name),
                        columns: Vec::new(),
                        referenced_table,
                        referenced_columns: Vec::new(),
                    });
                }
                if let Some(fk) = foreign.last_mut() {
                    fk.columns.push(column);
                    if let Some(rc) = cell(6) {
                        fk.referenced_columns.push(rc);
                    }
                }
            }
            _ => {}
        }
    }
    (primary, foreign)
}

fn indexes_sql(info: &TableInfo) -> OracleStatement {
    let mut b = SqlBuilder::default();
    b.push(
        "SELECT i.index_name, i.uniqueness, ic.column_name, ic.column_position \
         FROM all_indexes i JOIN all_ind_columns ic \
         ON ic.index_owner = i.owner AND ic.index_name = i.index_name",
    );
    owner_and_table(&mut b, "i.table_owner", "i.table_name", info);
    b.push(" ORDER BY i.index_name, ic.column_position");
    b.build()
}

fn index_list(r: &QueryResult) -> Vec<IndexInfo> {
    let mut by_name: BTreeMap<String, IndexInfo> = BTreeMap::new();
    for row in &r.rows {
        let cell = |i: usize| row.get(i).and_then(cell_str);
        let (Some(name), Some(column)) = (cell(0), cell(2)) else {
            continue;
        };
        let unique = cell(1).as_deref() == Some("UNIQUE");
        by_name
            .entry(name.clone())
            .or_insert_with(|| IndexInfo {
                name,
                columns: Vec::new(),
                unique,
            })
            .columns
            .push(column);
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_unless_quoted() {
        assert_eq!(
            Name::parse(" orders "),
            Name::Fold {
                raw: "orders".into(),
                upper: "ORDERS".into()
            }
        );
        assert_eq!(Name::parse("\"Mixed\""), Name::Exact("Mixed".into()));
        assert_eq!(
            Name::parse("\"\""),
            Name::Fold {
                raw: "\"\"".into(),
                upper: "\"\"".into()
            }
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("order_"), "%ORDER\\_%");
        assert_eq!(like_pattern("ord%"), "ORD%");
    }

    #[test]
    fn identifiers_are_bound_never_spliced() {
        let mut b = SqlBuilder::default();
        let evil = "x' OR '1'='1";
        push_objects(&mut b, Some(&Name::parse(evil)), ObjectKind::All);
        b.push(" WHERE ");
        Name::parse(evil).matches(&mut b, "o.object_name");
        let stmt = b.build();
        assert!(!stmt.sql.contains(evil), "{}", stmt.sql);
        // Placeholders :1..:n, each once and in order.
        let mut expected = 1;
        for part in stmt.sql.split(':').skip(1) {
            let n: String = part.chars().take_while(char::is_ascii_digit).collect();
            assert_eq!(n, expected.to_string(), "{}", stmt.sql);
            expected += 1;
        }
        assert_eq!(stmt.binds.len(), expected - 1);
        assert!(stmt.binds.contains(&OracleBind::Text(evil.into())));
    }
}
