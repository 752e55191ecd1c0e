//! Read-only statement guard: the first line of defence in front of `run_query`,
//! `explain_query` and the declarative tools (the second is the database's own
//! read-only mode, the third the way backends make the database parse exactly
//! one statement).
//!
//! The text is read the way the backend's database will read it: one lexer per
//! [`Dialect`] (`lexer`), never a blend, and refusal wherever a reader could see
//! it two ways. The classifier (`analyse`) then fails closed: exactly one
//! statement, starting with SELECT, WITH, VALUES or `(`, with no data-changing,
//! locking, transaction, PL/SQL, side-effecting call or database link in it. The
//! tables it consults are in `keywords`.

mod analyse;
mod keywords;
mod lexer;

use std::fmt;

use analyse::Analyzer;
use lexer::Kind;

/// The SQL dialect a statement is read in: exactly as the backend's database
/// will read it, never a blend of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite's tokenizer rules (the embedded demo and `database.sqlite`).
    Sqlite,
    /// Oracle SQL (the ORDS and direct backends).
    Oracle,
}

impl Dialect {
    /// The dialect of a configured backend's database.
    pub fn of(backend: crate::config::BackendKind) -> Self {
        use crate::config::BackendKind;
        match backend {
            BackendKind::Sqlite => Dialect::Sqlite,
            BackendKind::Ords | BackendKind::Direct => Dialect::Oracle,
        }
    }

    /// Human name, e.g. for tool descriptions: "SQLite" or "Oracle".
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Oracle => "Oracle",
        }
    }
}

/// A statement the guard accepted. Only [`check_read_only`] makes one, so a
/// value of this type is proof that the text passed the guard for its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnlyQuery<'a> {
    sql: &'a str,
    kind: QueryKind,
    dialect: Dialect,
}

impl<'a> ReadOnlyQuery<'a> {
    /// The statement to send to the database: surrounding whitespace and
    /// comments, ONE optional trailing `;` (and, for Oracle, a trailing `/`
    /// line) removed.
    pub fn sql(&self) -> &'a str {
        self.sql
    }

    /// How the statement starts.
    pub fn kind(&self) -> QueryKind {
        self.kind
    }

    /// The dialect the guard read the statement in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Skips the guard, for unit tests that prove the database refuses on
    /// its own.
    #[cfg(test)]
    pub(crate) fn unchecked(sql: &'a str, dialect: Dialect) -> Self {
        Self {
            sql,
            kind: QueryKind::Select,
            dialect,
        }
    }
}

/// The leading keyword of an accepted statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `SELECT ...`
    Select,
    /// `WITH ... SELECT ...`, including `WITH RECURSIVE`.
    With,
    /// SQLite's `VALUES (...), (...)`.
    Values,
    /// Starts with `(`, e.g. `(SELECT 1) UNION (SELECT 2)`.
    Parenthesized,
}

/// Why a statement was refused. Messages are read by a language model, so each one
/// says what was found and what is allowed instead. Every `position` is a 1-based
/// character (not byte) index into the text passed to [`check_read_only`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Nothing but whitespace, comments or a lone `;`.
    #[error("the query is empty")]
    Empty,
    /// The statement does not start with SELECT, WITH, VALUES or `(`.
    #[error("only a single read-only SELECT or WITH query is allowed; found {found}")]
    NotAQuery { found: String },
    /// A keyword that changes data, schema, privileges, transactions or settings.
    #[error(
        "only a single read-only SELECT or WITH query is allowed; found {keyword} ({category}){}",
        NameHint(*.position)
    )]
    ForbiddenKeyword {
        keyword: String,
        category: &'static str,
        position: usize,
    },
    /// More than one statement (`;` or an SQL*Plus `/` line inside the text).
    #[error(
        "only one statement per call is allowed; found a second statement starting at character {position}"
    )]
    MultipleStatements { position: usize },
    /// `SELECT ... FOR UPDATE` in any form.
    #[error("SELECT ... FOR UPDATE takes row locks and is not allowed")]
    ForUpdate { position: usize },
    /// `SELECT ... INTO`, which fills a table or PL/SQL variables instead of returning rows.
    #[error(
        "SELECT ... INTO is not allowed (it writes into a table or variables); found INTO at character {position}"
    )]
    SelectInto { position: usize },
    /// An anonymous PL/SQL block.
    #[error("PL/SQL blocks (BEGIN/DECLARE) are not allowed")]
    PlsqlBlock { keyword: String, position: usize },
    /// Oracle's `WITH FUNCTION` / `WITH PROCEDURE`.
    #[error("WITH FUNCTION/PROCEDURE (inline PL/SQL) is not allowed")]
    InlinePlsql { position: usize },
    /// DML nested inside a WITH query, e.g. `WITH x AS (DELETE ... RETURNING *)`.
    #[error("WITH clause contains {keyword}; data-modifying CTEs are not allowed")]
    DataModifyingCte { keyword: String, position: usize },
    /// A package, type or function that can change data, run code, or reach files or
    /// the network.
    #[error("calls to {name} are not allowed ({reason})")]
    ForbiddenCall {
        name: String,
        reason: &'static str,
        position: usize,
    },
    /// `table@link`: a query that leaves this database.
    #[error(
        "database links are not allowed (the query must stay in this database); found {link} at character {position}"
    )]
    DatabaseLink { link: String, position: usize },
    /// A string literal or quoted identifier without its closing quote.
    #[error("unterminated {what} starting at character {position}")]
    UnterminatedLiteral { what: &'static str, position: usize },
    /// `/*` without `*/`.
    #[error("unterminated block comment starting at character {position}")]
    UnterminatedComment { position: usize },
    /// A control, invisible or non-ASCII punctuation character outside literals and
    /// comments (or NUL anywhere); readers disagree on what these mean.
    #[error(
        "unexpected character {} at character {position}; use plain ASCII spaces and punctuation outside string literals",
        CharName(*.ch)
    )]
    InvalidCharacter { ch: char, position: usize },
    /// Quoting the dialect does not read as the guard would need it to.
    #[error("unsupported {quoting} starting at character {position}; {advice}")]
    BadQuoting {
        quoting: &'static str,
        advice: &'static str,
        position: usize,
    },
    /// A character whose meaning depends on who reads the text.
    #[error("character {} at character {position} is ambiguous: {reason}", CharName(*.ch))]
    AmbiguousText {
        ch: char,
        position: usize,
        reason: &'static str,
    },
    /// `?` in Oracle SQL, which has named binds only.
    #[error(
        "placeholder ? at character {position} is not supported here; use named binds such as :id with params {{\"id\": ...}}"
    )]
    UnsupportedPlaceholder { position: usize },
}

impl GuardError {
    /// The 1-based character position the error points at, if any.
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Empty | Self::NotAQuery { .. } => None,
            Self::ForbiddenKeyword { position, .. }
            | Self::MultipleStatements { position }
            | Self::ForUpdate { position }
            | Self::SelectInto { position }
            | Self::PlsqlBlock { position, .. }
            | Self::InlinePlsql { position }
            | Self::DataModifyingCte { position, .. }
            | Self::ForbiddenCall { position, .. }
            | Self::DatabaseLink { position, .. }
            | Self::UnterminatedLiteral { position, .. }
            | Self::UnterminatedComment { position }
            | Self::InvalidCharacter { position, .. }
            | Self::BadQuoting { position, .. }
            | Self::AmbiguousText { position, .. }
            | Self::UnsupportedPlaceholder { position } => Some(*position),
        }
    }

    /// Short, stable snake_case name of the variant, for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotAQuery { .. } => "not_a_query",
            Self::ForbiddenKeyword { .. } => "forbidden_keyword",
            Self::MultipleStatements { .. } => "multiple_statements",
            Self::ForUpdate { .. } => "for_update",
            Self::SelectInto { .. } => "select_into",
            Self::PlsqlBlock { .. } => "plsql_block",
            Self::InlinePlsql { .. } => "inline_plsql",
            Self::DataModifyingCte { .. } => "data_modifying_cte",
            Self::ForbiddenCall { .. } => "forbidden_call",
            Self::DatabaseLink { .. } => "database_link",
            Self::UnterminatedLiteral { .. } => "unterminated_literal",
            Self::UnterminatedComment { .. } => "unterminated_comment",
            Self::InvalidCharacter { .. } => "invalid_character",
            Self::BadQuoting { .. } => "bad_quoting",
            Self::AmbiguousText { .. } => "ambiguous_text",
            Self::UnsupportedPlaceholder { .. } => "unsupported_placeholder",
        }
    }
}

/// Position suffix for a forbidden keyword; one in the middle of a statement may
/// just be an unlucky column name, so say how to keep it.
struct NameHint(usize);

impl fmt::Display for NameHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(
                f,
                " at character {}; double-quote it if it is a column name",
                self.0
            )
        } else {
            Ok(())
        }
    }
}

/// `U+00A0`, plus the glyph itself when it is visible.
struct CharName(char);

impl fmt::Display for CharName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(f, "U+{:04X}", u32::from(c))?;
        if !c.is_whitespace() && !c.is_control() && !is_invisible(c) {
            write!(f, " ('{c}')")?;
        }
        Ok(())
    }
}

/// Format and bidi characters that render as nothing; never echoed back.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Classifies `sql` as `dialect` reads it and returns it trimmed if it is a
/// single read-only query.
///
/// Fails closed: anything the guard cannot positively recognise as harmless is
/// rejected. Runs in one linear pass plus one small token vector.
pub fn check_read_only(sql: &str, dialect: Dialect) -> Result<ReadOnlyQuery<'_>, GuardError> {
    refuse_nul(sql)?;
    let mut tokens = Vec::with_capacity((sql.len() / 4).min(1024) + 8);
    let lex_error = lexer::tokenize(sql, dialect, &mut tokens);
    let accepted = Analyzer {
        src: sql,
        dialect,
        lex_error,
    }
    .run(&tokens)?;
    Ok(ReadOnlyQuery {
        sql: sql.get(accepted.start..accepted.end).unwrap_or_default(),
        kind: accepted.kind,
        dialect,
    })
}

/// SQLite stops reading at NUL while the guard would not; never let the two
/// disagree.
fn refuse_nul(sql: &str) -> Result<(), GuardError> {
    match sql.bytes().position(|b| b == 0) {
        Some(nul) => Err(GuardError::InvalidCharacter {
            ch: '\0',
            position: char_pos(sql, nul),
        }),
        None => Ok(()),
    }
}

/// A placeholder as the guard's lexer sees it (`:name`, `:1`, and for SQLite
/// also `?`, `?2`, `@name`, `$name`, `#name`); never found inside literals or
/// comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// As written, prefix included.
    pub text: &'a str,
    /// Byte offset in the statement.
    pub offset: usize,
}

impl<'a> Placeholder<'a> {
    /// The name of a `:name` bind (the portable form); `None` for the others.
    pub fn name(&self) -> Option<&'a str> {
        let rest = self.text.strip_prefix(':')?;
        rest.chars()
            .next()
            .filter(|c| c.is_alphabetic() || *c == '_')
            .map(|_| rest)
    }
}

/// Lexes one statement, read-only or not, and lists its placeholders, so
/// that operator-written SQL can be checked against its declared parameters.
/// Refuses text the lexer cannot read and more than one statement.
pub fn placeholders(sql: &str, dialect: Dialect) -> Result<Vec<Placeholder<'_>>, GuardError> {
    refuse_nul(sql)?;
    let mut tokens = Vec::new();
    if let Some(e) = lexer::tokenize(sql, dialect, &mut tokens) {
        return Err(e);
    }
    if let Some(i) = tokens.iter().position(|t| t.kind == Kind::Punct(b';'))
        && let Some(next) = tokens.get(i + 1)
    {
        return Err(GuardError::MultipleStatements {
            position: char_pos(sql, next.start),
        });
    }
    Ok(tokens
        .iter()
        .filter(|t| t.kind == Kind::Bind)
        .filter_map(|t| {
            sql.get(t.start..t.end).map(|text| Placeholder {
                text,
                offset: t.start,
            })
        })
        .collect())
}

/// 1-based character index of byte offset `byte`, as quoted in error messages.
fn char_pos(src: &str, byte: usize) -> usize {
    src.char_indices().take_while(|&(i, _)| i < byte).count() + 1
}

/// What a token is, as the guard's lexer for the dialect sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// Unquoted keyword or identifier.
    Word,
    /// `"..."`; for SQLite also `` `...` `` and `[...]`.
    QuotedIdentifier,
    /// String literal, including `N'..'`, SQLite `X'..'` and Oracle `q'[..]'`.
    Literal,
    Number,
    /// A bind placeholder (see [`Placeholder`]).
    Placeholder,
    /// One ASCII punctuation character.
    Punct,
}

/// One token of a statement: its class and byte range in the text. The gaps
/// between tokens hold only whitespace and comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlToken {
    pub class: TokenClass,
    pub start: usize,
    pub end: usize,
}

/// Splits `sql` into tokens with the guard's own lexer for `dialect`, so that
/// code which rewrites statements (bind placeholders for Oracle) sees
/// literals, quoted names and comments exactly as the guard did.
pub fn tokenize(sql: &str, dialect: Dialect) -> Result<Vec<SqlToken>, GuardError> {
    refuse_nul(sql)?;
    let mut tokens = Vec::with_capacity(sql.len() / 4 + 8);
    if let Some(e) = lexer::tokenize(sql, dialect, &mut tokens) {
        return Err(e);
    }
    Ok(tokens
        .into_iter()
        .map(|t| SqlToken {
            class: match t.kind {
                Kind::Word => TokenClass::Word,
                Kind::Quoted => TokenClass::QuotedIdentifier,
                Kind::Str => TokenClass::Literal,
                Kind::Number => TokenClass::Number,
                Kind::Bind => TokenClass::Placeholder,
                Kind::Punct(_) => TokenClass::Punct,
            },
            start: t.start,
            end: t.end,
        })
        .collect())
}

#[cfg(test)]
mod tests;
