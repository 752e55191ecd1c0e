//! `explain_query` on Oracle.
//!
//! Why EXPLAIN PLAN: it asks the optimizer for the plan without running the
//! query, needs no privilege beyond reading the tables involved (a
//! least-privilege user can use it), and writes only to PLAN_TABLE, which on
//! every supported release is a global temporary table private to the
//! session; [`OracleExec::explain_plan`] then ends the transaction without
//! committing, so even those rows vanish. The user's text appears only
//! inside the one EXPLAIN PLAN statement (wrapped as a subquery, see
//! [`super::wrap`]), never in a script next to transaction control.
//!
//! The alternatives are worse for a read-only service: `DBMS_XPLAN.DISPLAY_CURSOR` needs the query to have
//! *run* and SELECT on V$ views (SELECT_CATALOG_ROLE), and SQL monitoring
//! needs the Tuning Pack and runs the query too.
//!
//! Plan rows are read from PLAN_TABLE in the same call (one statement, one
//! session) and rendered here, rather than through `DBMS_XPLAN.DISPLAY`,
//! which would be a second query and return text only.
//!
//! EXPLAIN PLAN never peeks at bind values (every bind is taken as
//! VARCHAR2). Parameters are still checked, so missing ones are reported as
//! for `run_query`; the direct backend binds them (its driver insists), the
//! ORDS block leaves the placeholders unbound.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::values::{cell_i64, cell_str};
use super::{OracleExec, bind_params};
use crate::db::{CallContext, DbError, ExplainResult, Params, PlanStep, ReadOnlyQuery};

/// More plan lines than any real plan has.
const MAX_PLAN_ROWS: usize = 5_000;

/// A STATEMENT_ID unique in this process (PLAN_TABLE is per session anyway).
/// It is made only of `[A-Z0-9_]` by us, never from input, and fits
/// PLAN_TABLE.STATEMENT_ID (VARCHAR2(30)), so it can sit in the text:
/// EXPLAIN PLAN's `SET STATEMENT_ID` takes a literal, not a bind.
fn statement_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "ADBMCP_{:X}_{:X}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub(super) async fn explain(
    exec: &dyn OracleExec,
    query: ReadOnlyQuery<'_>,
    params: &Params,
    ctx: &CallContext,
) -> Result<ExplainResult, DbError> {
    // Parameters are checked as for run_query even though the ORDS block
    // does not send their values (see `wrap::ords_explain_block`).
    let bound = bind_params(query, params)?;
    let id = statement_id();
    let rows = exec.explain_plan(&bound, &id, MAX_PLAN_ROWS, ctx).await?;
    let lines: Vec<PlanLine> = rows
        .iter()
        .filter_map(|row| PlanLine::from_row(row))
        .collect();
    if lines.is_empty() {
        return Err(DbError::Internal(
            "EXPLAIN PLAN produced no plan rows (PLAN_TABLE returned nothing)".into(),
        ));
    }
    Ok(ExplainResult {
        text: render(&lines),
        steps: lines.into_iter().map(PlanLine::into_step).collect(),
    })
}

/// One PLAN_TABLE row.
#[derive(Debug, Clone, PartialEq)]
struct PlanLine {
    id: i64,
    parent: Option<i64>,
    depth: usize,
    operation: String,
    object: Option<String>,
    cost: Option<i64>,
    rows: Option<i64>,
    access: Option<String>,
    filter: Option<String>,
}

impl PlanLine {
    fn from_row(row: &[Value]) -> Option<Self> {
        let cell = |i: usize| row.get(i).unwrap_or(&Value::Null);
        let operation = match (cell_str(cell(3)), cell_str(cell(4))) {
            (Some(op), Some(opt)) if !opt.is_empty() => format!("{op} {opt}"),
            (Some(op), _) => op,
            (None, _) => return None,
        };
        let object = cell_str(cell(6));
        Some(Self {
            id: cell_i64(cell(0))?,
            parent: cell_i64(cell(1)),
            depth: cell_i64(cell(2))
                .and_then(|d| usize::try_from(d).ok())
                .unwrap_or(0),
            operation,
            object,
            cost: cell_i64(cell(7)),
            rows: cell_i64(cell(8)),
            access: cell_str(cell(9)).filter(|s| !s.is_empty()),
            filter: cell_str(cell(10)).filter(|s| !s.is_empty()),
        })
    }

    fn into_step(self) -> PlanStep {
        let mut detail = self.operation;
        if let Some(o) = &self.object {
            detail.push(' ');
            detail.push_str(o);
        }
        let mut facts = Vec::new();
        if let Some(r) = self.rows {
            facts.push(format!("rows={r}"));
        }
        if let Some(c) = self.cost {
            facts.push(format!("cost={c}"));
        }
        if let Some(a) = &self.access {
            facts.push(format!("access: {a}"));
        }
        if let Some(f) = &self.filter {
            facts.push(format!("filter: {f}"));
        }
        if !facts.is_empty() {
            detail.push_str(&format!(" ({})", facts.join(", ")));
        }
        PlanStep {
            id: self.id,
            parent: self.parent,
            detail,
        }
    }
}

/// A table like DBMS_XPLAN's: Id, indented Operation, Name, Rows, Cost,
/// then the predicates by line id.
fn render(lines: &[PlanLine]) -> String {
    let ops: Vec<String> = lines
        .iter()
        .map(|l| format!("{}{}", " ".repeat(l.depth), l.operation))
        .collect();
    let op_w = ops
        .iter()
        .map(|o| o.chars().count())
        .max()
        .unwrap_or(0)
        .max(9);
    let name_w = lines
        .iter()
        .filter_map(|l| l.object.as_ref().map(|o| o.chars().count()))
        .max()
        .unwrap_or(0)
        .max(4);
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut out = format!(
        "{:>3} | {:<op_w$} | {:<name_w$} | {:>8} | {:>6}\n",
        "Id", "Operation", "Name", "Rows", "Cost"
    );
    for (l, op) in lines.iter().zip(&ops) {
        out.push_str(&format!(
            "{:>3} | {:<op_w$} | {:<name_w$} | {:>8} | {:>6}\n",
            l.id,
            op,
            l.object.as_deref().unwrap_or(""),
            num(l.rows),
            num(l.cost)
        ));
    }
    let predicates: Vec<String> = lines
        .iter()
        .flat_map(|l| {
            let access = l
                .access
                .as_ref()
                .map(|a| format!("{:>3} - access({a})", l.id));
            let filter = l
                .filter
                .as_ref()
                .map(|f| format!("{:>3} - filter({f})", l.id));
            access.into_iter().chain(filter)
        })
        .collect();
    if !predicates.is_empty() {
        out.push_str("\nPredicate Information (identified by operation id):\n");
        for p in predicates {
            out.push_str(&p);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statement_ids_are_short_safe_and_unique() {
        let (a, b) = (statement_id(), statement_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(id.len() <= 30, "{id}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
            );
        }
    }

    #[test]
    fn plan_rows_render_as_a_table_with_predicates() {
        let rows = [
            vec![
                json!(0),
                json!(null),
                json!(0),
                json!("SELECT STATEMENT"),
                json!(null),
                json!(null),
                json!(null),
                json!(3),
                json!(12),
                json!(null),
                json!(null),
            ],
            vec![
                json!(1),
                json!(0),
                json!(1),
                json!("TABLE ACCESS"),
                json!("BY INDEX ROWID BATCHED"),
                json!("DEMO"),
                json!("ORDERS"),
                json!(3),
                json!(12),
                json!(null),
                json!(null),
            ],
            vec![
                json!(2),
                json!(1),
                json!(2),
                json!("INDEX"),
                json!("RANGE SCAN"),
                json!("DEMO"),
                json!("IDX_ORDERS_ORDER_DATE"),
                json!(2),
                json!(12),
                json!("\"ORDER_DATE\">=:1"),
                json!(null),
            ],
        ];
        let lines: Vec<PlanLine> = rows.iter().filter_map(|r| PlanLine::from_row(r)).collect();
        let text = render(&lines);
        assert!(text.contains("  INDEX RANGE SCAN"), "{text}");
        assert!(text.contains("IDX_ORDERS_ORDER_DATE"), "{text}");
        assert!(text.contains("2 - access(\"ORDER_DATE\">=:1)"), "{text}");
        let steps: Vec<PlanStep> = lines.into_iter().map(PlanLine::into_step).collect();
        assert_eq!(steps[2].parent, Some(1));
        assert_eq!(
            steps[1].detail,
            "TABLE ACCESS BY INDEX ROWID BATCHED ORDERS (rows=12, cost=3)"
        );
    }
}
