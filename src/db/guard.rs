// TEMPORARY STUB — replaced by the real guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnlyQuery<'a> {
    pub sql: &'a str,
    pub kind: QueryKind,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    Select,
    With,
    Values,
    Parenthesized,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("only a single read-only SELECT or WITH query is allowed")]
    NotAQuery,
}
impl GuardError {
    pub fn code(&self) -> &'static str {
        "not_a_query"
    }
}
pub fn check_read_only(sql: &str) -> Result<ReadOnlyQuery<'_>, GuardError> {
    let t = sql.trim().trim_end_matches(';').trim();
    if t.to_ascii_lowercase().starts_with("select") {
        Ok(ReadOnlyQuery {
            sql: t,
            kind: QueryKind::Select,
        })
    } else {
        Err(GuardError::NotAQuery)
    }
}
