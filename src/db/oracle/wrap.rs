//! The user's query as exactly one Oracle query, on both Oracle backends.
//!
//! The guard decides what it believes the text is; these wrappers make the
//! database itself refuse anything else, so a guard bug cannot turn into a
//! second statement:
//!
//! * **Direct** (one statement per call, parsed whole by the server): the
//!   statement sent is `SELECT * FROM (\n<text>\n) OFFSET :o ROWS FETCH
//!   NEXT :n ROWS ONLY`. DML, DDL, PL/SQL or a second statement inside the
//!   parentheses is a parse error (ORA-00911, ORA-00928, ORA-00907, …).
//! * **ORDS** (REST-Enabled SQL splits `statementText` into statements with
//!   SQL*Plus/SQLcl rules and runs SQL*Plus commands): the user's text never
//!   enters `statementText`. It travels as the CLOB bind `:q` of a FIXED
//!   PL/SQL block that opens it, wrapped as above, as a cursor
//!   (`OPEN c FOR <string> USING …`) and returns that cursor as an OUT bind.
//!   The script engine only ever sees the fixed text, so `;`, `/` and `.`
//!   lines, blank lines, `#`/`@` lines, `SET`/`DEFINE` lines and `&`
//!   substitution inside the user's text are inert data.
//!
//! The fixed texts are single lines without `&`, and the only `:` in them
//! start ORDS binds: the dynamic SQL's own placeholders are spelled
//! `CHR(58) || 'o …'`, so no bind-like text sits inside a literal that a
//! script engine or JDBC layer could misread.
//!
//! A `CHR(10)` before the closing parenthesis ends a trailing `--` comment
//! in the user's text, and one after the opening parenthesis keeps a leading
//! one from swallowing the wrapper; an unclosed `/*` or quote fails to parse.
//! `EXPLAIN PLAN` gets the same treatment: the user's text appears only
//! inside the one EXPLAIN PLAN statement, never next to transaction control.

use super::{OracleBind, OracleStatement};
use crate::db::DbError;

/// Bind name of the user's text in the ORDS blocks.
pub const BIND_QUERY: &str = "q";
/// Bind names of the OFFSET and FETCH NEXT row counts in the ORDS block.
pub const BIND_OFFSET: &str = "o";
pub const BIND_ROWS: &str = "n";
/// The REF CURSOR OUT bind the ORDS query block returns.
pub const BIND_CURSOR: &str = "rc";
/// The CLOB OUT bind holding the plan rows (JSON) in the ORDS explain block.
pub const BIND_PLAN: &str = "plan";

/// PLAN_TABLE columns read back after EXPLAIN PLAN, in the order
/// [`super::explain`] reads them.
pub const PLAN_COLUMNS: [&str; 11] = [
    "id",
    "parent_id",
    "depth",
    "operation",
    "options",
    "object_owner",
    "object_name",
    "cost",
    "cardinality",
    "access_predicates",
    "filter_predicates",
];

/// A guarded user query with positional binds: the text (placeholders
/// `:1..:n`, each once, in order) and their values. Only
/// [`super::bind_params`] makes one, from a [`crate::db::ReadOnlyQuery`],
/// so a value of this type is always user text: backends run it only
/// through the wrappers here, never as a statement of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    sql: String,
    binds: Vec<OracleBind>,
}

impl UserQuery {
    pub(crate) fn new(sql: String, binds: Vec<OracleBind>) -> Self {
        Self { sql, binds }
    }

    /// The user's text with `:1..:n` placeholders.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn binds(&self) -> &[OracleBind] {
        &self.binds
    }
}

/// Name of the ORDS bind for the `i`-th (1-based) user placeholder.
pub fn user_bind_name(i: usize) -> String {
    format!("b{i}")
}

/// Direct backend: the one statement that runs the user's query, paged by
/// the server. Binds: the user's, then the offset, then the row count
/// (`:n+1`, `:n+2`, so every placeholder name is distinct and binding by
/// position cannot be ambiguous).
pub fn paged_statement(
    q: &UserQuery,
    offset: u64,
    rows: usize,
) -> Result<OracleStatement, DbError> {
    let n = q.binds.len();
    let mut binds = q.binds.clone();
    binds.push(OracleBind::Integer(row_count(offset, "offset")?));
    binds.push(OracleBind::Integer(row_count(rows as u64, "row count")?));
    Ok(OracleStatement {
        sql: format!(
            "SELECT * FROM (\n{}\n) OFFSET :{} ROWS FETCH NEXT :{} ROWS ONLY",
            q.sql,
            n + 1,
            n + 2
        ),
        binds,
    })
}

/// An offset or row count as a NUMBER bind.
pub fn row_count(v: u64, what: &str) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::InvalidParams(format!("{what} {v} is too large")))
}

/// ORDS: the fixed PL/SQL block for a query with `user_binds` placeholders.
/// Binds by name: `q` (CLOB, the user's text), `b1..bN` (the user's values,
/// by position in order of appearance), `o`, `n` (NUMBER) and `rc`
/// (CURSOR, OUT).
pub fn ords_query_block(user_binds: usize) -> String {
    let mut using: Vec<String> = (1..=user_binds)
        .map(|i| format!(":{}", user_bind_name(i)))
        .collect();
    using.push(format!(":{BIND_OFFSET}"));
    using.push(format!(":{BIND_ROWS}"));
    format!(
        "DECLARE c SYS_REFCURSOR; BEGIN OPEN c FOR 'SELECT * FROM (' || CHR(10) || :{BIND_QUERY} || CHR(10) || ') OFFSET ' || CHR(58) || '{BIND_OFFSET} ROWS FETCH NEXT ' || CHR(58) || '{BIND_ROWS} ROWS ONLY' USING {}; :{BIND_CURSOR} := c; END;",
        using.join(", ")
    )
}

/// Direct backend: EXPLAIN PLAN of the wrapped user text. `id` is ours
/// ([`check_statement_id`]); EXPLAIN PLAN's STATEMENT_ID is a literal.
pub fn explain_statement(id: &str, q: &UserQuery) -> Result<OracleStatement, DbError> {
    check_statement_id(id)?;
    Ok(OracleStatement {
        sql: format!(
            "EXPLAIN PLAN SET STATEMENT_ID = '{id}' INTO plan_table FOR SELECT * FROM (\n{}\n)",
            q.sql
        ),
        binds: q.binds.clone(),
    })
}

/// The PLAN_TABLE rows of statement `id`, in [`PLAN_COLUMNS`] order.
pub fn plan_rows_statement(id: &str) -> Result<OracleStatement, DbError> {
    check_statement_id(id)?;
    Ok(OracleStatement {
        sql: format!(
            "SELECT {} FROM plan_table WHERE statement_id = '{id}' ORDER BY id",
            PLAN_COLUMNS.join(", ")
        ),
        binds: vec![],
    })
}

/// ORDS: the fixed PL/SQL block that explains the user's text (bind `q`),
/// reads the plan rows back as one JSON array (CLOB OUT bind `plan`) and
/// rolls back, all inside the block: our transaction control in our text,
/// the user's text only inside the one EXPLAIN PLAN statement string.
///
/// No USING clause: EXPLAIN PLAN does not execute the query, and a dynamic
/// EXPLAIN PLAN with unbound placeholders is accepted by Oracle (every bind
/// is taken as VARCHAR2 anyway), so the user's values are not sent.
pub fn ords_explain_block(id: &str) -> Result<String, DbError> {
    check_statement_id(id)?;
    let fields: Vec<String> = PLAN_COLUMNS
        .iter()
        .map(|c| format!("'{c}' VALUE {c}"))
        .collect();
    Ok(format!(
        "DECLARE p CLOB; BEGIN EXECUTE IMMEDIATE 'EXPLAIN PLAN SET STATEMENT_ID = ''{id}'' INTO plan_table FOR SELECT * FROM (' || CHR(10) || :{BIND_QUERY} || CHR(10) || ')'; SELECT JSON_ARRAYAGG(JSON_OBJECT({} RETURNING CLOB) ORDER BY id RETURNING CLOB) INTO p FROM plan_table WHERE statement_id = '{id}'; ROLLBACK; :{BIND_PLAN} := p; END;",
        fields.join(", ")
    ))
}

/// Statement ids are made by us from `[A-Z0-9_]` and fit VARCHAR2(30);
/// anything else would be pasted into SQL text, so it is refused.
pub fn check_statement_id(id: &str) -> Result<(), DbError> {
    let ok = !id.is_empty()
        && id.len() <= 30
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DbError::Internal(format!(
            "refusing a plan statement id that is not [A-Z0-9_]{{1,30}}: {id:?}"
        )))
    }
}

/// Checks a fixed text of ours before it goes into `statementText`: one
/// line (no SQL*Plus line commands, `/` or `.` lines, blank lines) and no
/// `&` (substitution). A SQL statement must also hold no `;`. A failure is
/// a bug in adb-mcp, never something a caller can cause.
pub fn check_script_inert(text: &str, plsql: bool) -> Result<(), DbError> {
    let bad = if text.contains(['\n', '\r']) {
        Some("a line break")
    } else if text.contains('&') {
        Some("`&`")
    } else if !plsql && text.contains(';') {
        Some("`;`")
    } else {
        None
    };
    match bad {
        Some(what) => Err(DbError::Internal(format!(
            "refusing to send a statement containing {what} to ORDS's script engine"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sql: &str, binds: usize) -> UserQuery {
        UserQuery::new(sql.into(), vec![OracleBind::Integer(1); binds])
    }

    #[test]
    fn direct_statement_wraps_and_numbers_the_paging_binds_after_the_users() {
        let s = paged_statement(&q("SELECT :1 a, :2 b FROM dual -- c", 2), 10, 21).expect("s");
        assert_eq!(
            s.sql,
            "SELECT * FROM (\nSELECT :1 a, :2 b FROM dual -- c\n) OFFSET :3 ROWS FETCH NEXT :4 ROWS ONLY"
        );
        assert_eq!(
            &s.binds[2..],
            &[OracleBind::Integer(10), OracleBind::Integer(21)]
        );
        assert!(paged_statement(&q("SELECT 1 FROM dual", 0), u64::MAX, 1).is_err());
    }

    #[test]
    fn ords_blocks_are_inert_single_lines_with_binds_outside_literals() {
        for block in [
            ords_query_block(0),
            ords_query_block(3),
            ords_explain_block("ADBMCP_1_2").expect("block"),
        ] {
            check_script_inert(&block, true).expect("inert");
            assert!(block.starts_with("DECLARE "), "{block}");
            assert!(block.ends_with(" END;"), "{block}");
            // Every ':' outside a literal, i.e. an ORDS bind.
            let mut in_literal = false;
            for ch in block.chars() {
                match ch {
                    '\'' => in_literal = !in_literal,
                    ':' => assert!(!in_literal, "a ':' inside a literal: {block}"),
                    _ => {}
                }
            }
        }
        let b = ords_query_block(2);
        assert!(b.contains("USING :b1, :b2, :o, :n;"), "{b}");
        assert!(b.contains(":rc := c;"), "{b}");
        assert!(ords_query_block(0).contains("USING :o, :n;"));
        let e = ords_explain_block("ADBMCP_1_2").expect("block");
        assert!(!e.contains("USING"), "{e}");
        let rollback = e.find("ROLLBACK;").expect("rollback");
        assert!(e.find(":q").expect(":q") < rollback);
        assert!(!e[rollback..].contains(":q"));
    }

    #[test]
    fn statement_ids_and_inert_checks_refuse_anything_else() {
        assert!(check_statement_id("ADBMCP_1").is_ok());
        for bad in ["", "x'", "A B", &"A".repeat(31)] {
            assert!(check_statement_id(bad).is_err(), "{bad}");
            assert!(ords_explain_block(bad).is_err());
        }
        assert!(check_script_inert("SELECT 1 FROM dual", false).is_ok());
        assert!(check_script_inert("SELECT 1 FROM dual;", false).is_err());
        assert!(check_script_inert("SELECT '&x' FROM dual", false).is_err());
        assert!(check_script_inert("SELECT 1\nFROM dual", false).is_err());
        assert!(check_script_inert("BEGIN NULL; END;", true).is_ok());
    }
}
