//! Read-only statement guard: the first line of defence in front of `run_query`
//! and `explain_query` (the second is the database's own read-only mode).
//!
//! The input is tokenized by a small hand-written lexer so that keywords inside
//! string literals, quoted identifiers and comments never count, and so that no
//! comment or literal can hide a keyword from the checks. The classifier then fails
//! closed: exactly one statement, starting with SELECT, WITH, VALUES or `(`, with no
//! data-changing, locking, transaction, PL/SQL or side-effecting call anywhere in it.
//!
//! The same guard fronts SQLite and Oracle, so the lexer accepts the union of both
//! dialects' lexical syntax. Where the two would split the text differently the
//! guard either uses the stricter reading or rejects the construct outright.

use std::fmt;

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
    /// comments (or NUL anywhere); databases disagree on what these mean.
    #[error(
        "unexpected character {} at character {position}; use plain ASCII spaces and punctuation outside string literals",
        CharName(*.ch)
    )]
    InvalidCharacter { ch: char, position: usize },
    /// Quoting whose boundaries SQLite and Oracle would read differently.
    #[error("unsupported {quoting} starting at character {position}; {advice}")]
    BadQuoting {
        quoting: &'static str,
        advice: &'static str,
        position: usize,
    },
}

impl GuardError {
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

/// Classifies `sql` and returns it trimmed if it is a single read-only query.
///
/// Fails closed: anything the guard cannot positively recognise as harmless is
/// rejected. Runs in one linear pass plus one small token vector.
pub fn check_read_only(sql: &str, dialect: Dialect) -> Result<ReadOnlyQuery<'_>, GuardError> {
    // SQLite stops reading at NUL while we would not; never let the two disagree.
    if sql.as_bytes().contains(&0)
        && let Some(nul) = sql.bytes().position(|b| b == 0)
    {
        return Err(GuardError::InvalidCharacter {
            ch: '\0',
            position: char_pos(sql, nul),
        });
    }
    let mut lexer = Lexer::new(sql, true);
    let mut tokens = Vec::with_capacity((sql.len() / 4).min(1024) + 8);
    let lex_error = lexer.tokenize(&mut tokens);
    let query = Analyzer {
        src: sql,
        lex_error,
        dialect,
    }
    .run(&tokens)?;
    if let Some(start) = lexer.quote_in_q_literal {
        check_sqlite_reading(sql, start, &mut tokens)?;
    }
    Ok(query)
}

/// SQLite has no q-quotes: it reads `q'[it's ...]'` as `q`, `'[it'`, then code.
/// When a q-literal holds a `'`, the statement SQLite would compile (up to its
/// first `;`; rusqlite's `prepare` refuses to run anything after it) must pass the
/// same checks, or `WITH a AS (SELECT q'[x' ...) INSERT ...; --]'` would get through.
fn check_sqlite_reading(
    sql: &str,
    literal_start: usize,
    tokens: &mut Vec<Token>,
) -> Result<(), GuardError> {
    tokens.clear();
    // A lexer error here only means SQLite itself would fail to prepare the text.
    let _ = Lexer::new(sql, false).tokenize(tokens);
    let first_statement = tokens
        .iter()
        .position(|t| t.kind == Kind::Punct(b';'))
        .map_or(tokens.as_slice(), |semi| {
            tokens.get(..semi).unwrap_or_default()
        });
    let analyzer = Analyzer {
        src: sql,
        lex_error: None,
        dialect: Dialect::Sqlite,
    };
    analyzer
        .check_body(first_statement)
        .map_err(|_| GuardError::BadQuoting {
            quoting: "q-quoted literal (SQLite reads part of it as SQL)",
            advice: "write it as a normal '...' string, doubling any quote inside",
            position: char_pos(sql, literal_start),
        })
}

/// A placeholder as the guard's lexer sees it (`:name`, `:1`, `?`, `?2`,
/// `@name`, `$name`); never found inside literals or comments.
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
    let _ = dialect;
    if let Some(nul) = sql.bytes().position(|b| b == 0) {
        return Err(GuardError::InvalidCharacter {
            ch: '\0',
            position: char_pos(sql, nul),
        });
    }
    let mut tokens = Vec::new();
    if let Some(e) = Lexer::new(sql, true).tokenize(&mut tokens) {
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

/// What a token is, as the guard's lexer sees it (Oracle reading: q-quotes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// Unquoted keyword or identifier.
    Word,
    /// `"..."`, `` `...` `` or `[...]`.
    QuotedIdentifier,
    /// String literal, including `N'..'`, `X'..'` and `q'[..]'`.
    Literal,
    Number,
    /// `:name`, `:1`, `?`, `?1`, `@name`, `$name`.
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

/// Splits `sql` into tokens with the guard's own lexer, so that code which
/// rewrites statements (bind placeholders for Oracle) sees literals, quoted
/// names and comments exactly as the guard did.
pub fn tokenize(sql: &str, dialect: Dialect) -> Result<Vec<SqlToken>, GuardError> {
    let _ = dialect;
    let mut tokens = Vec::with_capacity(sql.len() / 4 + 8);
    if let Some(e) = Lexer::new(sql, true).tokenize(&mut tokens) {
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

// ---------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Unquoted keyword or identifier.
    Word,
    /// `"..."`, `` `...` `` or `[...]`.
    Quoted,
    /// String or blob literal, including prefixed (`N'`, `X'`) and Oracle q-quotes.
    Str,
    Number,
    /// `:name`, `:1`, `?`, `?1`, `@name`, `$name`.
    Bind,
    /// One ASCII punctuation character, `;` included.
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    /// Byte offsets into the input, always on char boundaries.
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    /// Recognise Oracle `q'..'` literals; off to see the text as SQLite does.
    oracle_quotes: bool,
    /// Start of the first q-literal with a `'` inside, where the dialects diverge.
    quote_in_q_literal: Option<usize>,
}

/// Characters allowed inside `[...]` and `` `...` ``: enough for SQLite names with
/// spaces and Oracle JSON array steps (`items[0]`, `[*]`, `[1, 3]`), and nothing
/// Oracle could read as a quote, comment or statement end.
fn bracket_content_ok(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '_' | '$' | '#' | '.' | '-' | '*' | ',')
}

/// ASCII bytes that continue an unquoted identifier (Oracle allows `$` and `#`).
const IDENT_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'#';
        b += 1;
    }
    table
};

fn is_ident_byte(b: u8) -> bool {
    IDENT_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, oracle_quotes: bool) -> Self {
        Self {
            src,
            pos: 0,
            oracle_quotes,
            quote_in_q_literal: None,
        }
    }

    /// Appends every token to `out`; returns the error that stopped it, if any.
    fn tokenize(&mut self, out: &mut Vec<Token>) -> Option<GuardError> {
        loop {
            match self.next_token() {
                Ok(Some(token)) => out.push(token),
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    /// Byte at `i`, or 0 past the end (NUL never occurs in accepted input).
    fn byte(&self, i: usize) -> u8 {
        self.src.as_bytes().get(i).copied().unwrap_or(0)
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.src.get(i..).and_then(|s| s.chars().next())
    }

    fn len(&self) -> usize {
        self.src.len()
    }

    fn position(&self, byte: usize) -> usize {
        char_pos(self.src, byte)
    }

    fn next_token(&mut self) -> Result<Option<Token>, GuardError> {
        loop {
            while matches!(
                self.byte(self.pos),
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
            ) {
                self.pos += 1;
            }
            if self.pos >= self.len() {
                return Ok(None);
            }
            let start = self.pos;
            match (self.byte(start), self.byte(start + 1)) {
                (b'-', b'-') => self.skip_line_comment(),
                (b'/', b'*') => self.skip_block_comment()?,
                _ => return self.token(start).map(Some),
            }
        }
    }

    /// Ends at any line break either database might honour (\n, \r, VT, FF, NEL,
    /// LS, PS): ending too early only exposes more text to the checks.
    fn skip_line_comment(&mut self) {
        let mut i = self.pos + 2;
        while i < self.len() {
            match self.byte(i) {
                b'\n' | b'\r' | 0x0b | 0x0c => break,
                0xC2 if self.byte(i + 1) == 0x85 => break,
                0xE2 if self.byte(i + 1) == 0x80 && matches!(self.byte(i + 2), 0xA8 | 0xA9) => {
                    break;
                }
                _ => i += 1,
            }
        }
        self.pos = i;
    }

    /// Block comments do not nest in either dialect.
    fn skip_block_comment(&mut self) -> Result<(), GuardError> {
        let start = self.pos;
        let mut i = start + 2;
        while i + 1 < self.len() {
            if self.byte(i) == b'*' && self.byte(i + 1) == b'/' {
                self.pos = i + 2;
                return Ok(());
            }
            i += 1;
        }
        Err(GuardError::UnterminatedComment {
            position: self.position(start),
        })
    }

    fn token(&mut self, start: usize) -> Result<Token, GuardError> {
        let b = self.byte(start);
        let next = self.byte(start + 1);
        let (kind, end) = match b {
            b'\'' => (
                Kind::Str,
                self.quoted_end(start, start, b'\'', "string literal")?,
            ),
            b'"' => (
                Kind::Quoted,
                self.quoted_end(start, start, b'"', "quoted identifier")?,
            ),
            b'`' => (Kind::Quoted, self.bracketed_end(start, b'`')?),
            b'[' => (Kind::Quoted, self.bracketed_end(start, b']')?),
            b'0'..=b'9' => (Kind::Number, self.number_end(start)),
            b'.' if next.is_ascii_digit() => (Kind::Number, self.number_end(start)),
            b'?' => (Kind::Bind, self.digits_end(start + 1)),
            b':' | b'@' | b'$' if self.starts_name(start + 1) => {
                (Kind::Bind, self.name_end(start + 1, false))
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => return self.word(start),
            0x21..=0x7e => (Kind::Punct(b), start + 1),
            0x80.. => match self.char_at(start) {
                Some(c) if c.is_alphanumeric() => return self.word(start),
                Some(c) => {
                    return Err(GuardError::InvalidCharacter {
                        ch: c,
                        position: self.position(start),
                    });
                }
                None => return Err(self.invalid_byte(start)),
            },
            _ => return Err(self.invalid_byte(start)),
        };
        self.pos = end;
        Ok(Token { kind, start, end })
    }

    fn invalid_byte(&self, at: usize) -> GuardError {
        GuardError::InvalidCharacter {
            ch: self.char_at(at).unwrap_or(char::REPLACEMENT_CHARACTER),
            position: self.position(at),
        }
    }

    fn starts_name(&self, i: usize) -> bool {
        let b = self.byte(i);
        b.is_ascii_alphanumeric()
            || b == b'_'
            || (b >= 0x80 && self.char_at(i).is_some_and(char::is_alphanumeric))
    }

    /// End of an identifier body; `#` is an Oracle identifier character but not
    /// part of bind names.
    fn name_end(&self, mut i: usize, allow_hash: bool) -> usize {
        loop {
            let b = self.byte(i);
            if is_ident_byte(b) && (allow_hash || b != b'#') {
                i += 1;
            } else if b >= 0x80 {
                match self.char_at(i) {
                    Some(c) if c.is_alphanumeric() => i += c.len_utf8(),
                    _ => return i,
                }
            } else {
                return i;
            }
        }
    }

    fn digits_end(&self, mut i: usize) -> usize {
        while self.byte(i).is_ascii_digit() {
            i += 1;
        }
        i
    }

    /// Digits, fraction and exponent only: a letter right after a number starts a
    /// new token, as Oracle reads `1DELETE` as `1 DELETE`.
    fn number_end(&self, start: usize) -> usize {
        if self.byte(start) == b'0'
            && matches!(self.byte(start + 1), b'x' | b'X')
            && self.byte(start + 2).is_ascii_hexdigit()
        {
            let mut i = start + 2;
            while self.byte(i).is_ascii_hexdigit() {
                i += 1;
            }
            return i;
        }
        let mut i = self.digits_end(start);
        if self.byte(i) == b'.' {
            i = self.digits_end(i + 1);
        }
        if matches!(self.byte(i), b'e' | b'E') {
            let sign = usize::from(matches!(self.byte(i + 1), b'+' | b'-'));
            if self.byte(i + 1 + sign).is_ascii_digit() {
                i = self.digits_end(i + 1 + sign);
            }
        }
        i
    }

    /// A word, or a prefixed literal: `N'..'`, `X'..'` (same boundaries as a plain
    /// string) and Oracle's `q'[..]'` / `nq'[..]'`.
    fn word(&mut self, start: usize) -> Result<Token, GuardError> {
        let end = self.name_end(start, true);
        let prefix = self.src.as_bytes().get(start..end).unwrap_or_default();
        let (kind, end) = if self.byte(end) != b'\'' {
            (Kind::Word, end)
        } else if self.oracle_quotes
            && (prefix.eq_ignore_ascii_case(b"q") || prefix.eq_ignore_ascii_case(b"nq"))
        {
            let literal_end = self.q_quote_end(start, end)?;
            let body = self
                .src
                .get(end + 1..literal_end.saturating_sub(1))
                .unwrap_or_default();
            if body.contains('\'') && self.quote_in_q_literal.is_none() {
                self.quote_in_q_literal = Some(start);
            }
            (Kind::Str, literal_end)
        } else if prefix.eq_ignore_ascii_case(b"n") || prefix.eq_ignore_ascii_case(b"x") {
            (
                Kind::Str,
                self.quoted_end(start, end, b'\'', "string literal")?,
            )
        } else {
            (Kind::Word, end)
        };
        self.pos = end;
        Ok(Token { kind, start, end })
    }

    /// End of a `'...'` or `"..."` literal opened at `open`, with doubled quotes as
    /// escapes; errors name the token start `start`.
    fn quoted_end(
        &self,
        start: usize,
        open: usize,
        quote: u8,
        what: &'static str,
    ) -> Result<usize, GuardError> {
        let mut i = open + 1;
        while i < self.len() {
            if self.byte(i) == quote {
                if self.byte(i + 1) == quote {
                    i += 2;
                    continue;
                }
                return Ok(i + 1);
            }
            i += 1;
        }
        Err(GuardError::UnterminatedLiteral {
            what,
            position: self.position(start),
        })
    }

    /// SQLite's `[...]` / `` `...` ``. Oracle has no such quoting and would lex the
    /// inside as code, so only harmless characters are accepted inside.
    fn bracketed_end(&self, start: usize, close: u8) -> Result<usize, GuardError> {
        let body = self.src.get(start + 1..).unwrap_or_default();
        let Some(len) = body.bytes().position(|b| b == close) else {
            return Err(GuardError::UnterminatedLiteral {
                what: "quoted identifier",
                position: self.position(start),
            });
        };
        let inner = body.get(..len).unwrap_or_default();
        if !inner.chars().all(bracket_content_ok) || inner.contains("--") {
            return Err(GuardError::BadQuoting {
                quoting: "[...] or `...` identifier",
                advice: "use double quotes for names with special characters",
                position: self.position(start),
            });
        }
        Ok(start + 1 + len + 1)
    }

    /// Oracle alternative quoting: `q'<delim>...<close>'`, where brackets pair up
    /// and any other delimiter closes itself.
    fn q_quote_end(&self, start: usize, quote: usize) -> Result<usize, GuardError> {
        let unterminated = || GuardError::UnterminatedLiteral {
            what: "q-quoted string literal",
            position: self.position(start),
        };
        let delim = self.char_at(quote + 1).ok_or_else(unterminated)?;
        if delim.is_whitespace() || delim.is_control() || delim == '\'' {
            return Err(GuardError::BadQuoting {
                quoting: "q-quote delimiter",
                advice: "use q'[...]', q'{...}' or another visible delimiter",
                position: self.position(start),
            });
        }
        let close = match delim {
            '[' => ']',
            '{' => '}',
            '<' => '>',
            '(' => ')',
            other => other,
        };
        let body_start = quote + 1 + delim.len_utf8();
        let body = self.src.get(body_start..).unwrap_or_default();
        body.char_indices()
            .find(|&(i, c)| c == close && self.byte(body_start + i + c.len_utf8()) == b'\'')
            .map(|(i, c)| body_start + i + c.len_utf8() + 1)
            .ok_or_else(unterminated)
    }
}

// ---------------------------------------------------------------------------------
// Keyword normalisation and tables
// ---------------------------------------------------------------------------------

/// Longest prefix of a name kept for matching; longer than any keyword or package.
const NORM_CAP: usize = 32;

/// Longest piece of user text echoed back in a message.
const MAX_ECHO: usize = 40;

/// A name folded to upper-case ASCII for table look-ups. Unicode letters that fold
/// or compatibility-map to ASCII (`ı`, `ſ`, fullwidth and mathematical letters) are
/// mapped too, so a database with looser keyword rules cannot see a keyword that
/// the guard missed.
struct Norm {
    buf: [u8; NORM_CAP],
    len: usize,
}

impl Norm {
    /// `None` when the name cannot spell anything in ASCII, so is no keyword.
    fn of(name: &str) -> Option<Self> {
        let mut n = Self {
            buf: [0; NORM_CAP],
            len: 0,
        };
        if name.is_ascii() {
            for (dst, src) in n.buf.iter_mut().zip(name.bytes()) {
                *dst = src.to_ascii_uppercase();
            }
            n.len = name.len().min(NORM_CAP);
            return Some(n);
        }
        for c in name.chars() {
            if c.is_ascii() {
                n.push(c);
            } else if let Some(a) = compat_ascii(c) {
                n.push(a);
            } else if c.to_uppercase().all(|u| u.is_ascii()) {
                c.to_uppercase().for_each(|u| n.push(u));
            } else if c.to_lowercase().all(|l| l.is_ascii()) {
                c.to_lowercase().for_each(|l| n.push(l));
            } else {
                return None;
            }
            if n.len == NORM_CAP {
                break;
            }
        }
        Some(n)
    }

    fn push(&mut self, c: char) {
        if let (Some(slot), Ok(b)) = (self.buf.get_mut(self.len), u8::try_from(c)) {
            *slot = b.to_ascii_uppercase();
            self.len += 1;
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn text(&self) -> String {
        self.bytes().iter().map(|&b| char::from(b)).collect()
    }
}

/// Compatibility forms that NFKC maps to an ASCII letter or digit.
fn compat_ascii(c: char) -> Option<char> {
    let cp = u32::from(c);
    let offset = match cp {
        0xFF10..=0xFF19 => return char::from_u32(cp - 0xFF10 + u32::from(b'0')),
        0xFF21..=0xFF3A => cp - 0xFF21,
        0xFF41..=0xFF5A => cp - 0xFF41,
        0x24B6..=0x24CF => cp - 0x24B6,
        0x24D0..=0x24E9 => cp - 0x24D0,
        // Mathematical alphanumeric letters: 13 styles of A-Z followed by a-z.
        0x1D400..=0x1D6A3 => (cp - 0x1D400) % 26,
        0x1D7CE..=0x1D7FF => return char::from_u32((cp - 0x1D7CE) % 10 + u32::from(b'0')),
        _ => return None,
    };
    char::from_u32(offset + u32::from(b'A'))
}

const SCHEMA: &str = "schema change";
const TXN: &str = "transaction control";
const CONFIG: &str = "database configuration";
const MAINTENANCE: &str = "database maintenance";

/// What a keyword means to the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// SELECT, WITH, VALUES.
    QueryStart(QueryKind),
    /// Changes rows; REPLACE only when not the `replace(...)` function.
    Dml,
    /// Refused wherever it appears, described by this category.
    Anywhere(&'static str),
    /// Refused only as the first word: later it is a name (`comment`) or a clause
    /// (`SEARCH ... SET`, `CASE ... END`).
    AtStart(&'static str),
    /// A function refused wherever it is named.
    Call(&'static str),
    /// A function refused when `(` follows; otherwise an ordinary name.
    CallWithParen(&'static str),
    Begin,
    Declare,
    Into,
}

/// Every word the guard reacts to, sorted for binary search.
const KEYWORDS: &[(&[u8], Rule)] = &[
    (b"ADMINISTER", Rule::AtStart("key management")),
    (b"ALTER", Rule::Anywhere(SCHEMA)),
    (b"ANALYZE", Rule::Anywhere(MAINTENANCE)),
    (b"ASSOCIATE", Rule::AtStart(SCHEMA)),
    (b"ATTACH", Rule::Anywhere(CONFIG)),
    (b"AUDIT", Rule::Anywhere("audit configuration")),
    (b"BEGIN", Rule::Begin),
    (b"CALL", Rule::Anywhere("procedure call")),
    (b"COMMENT", Rule::AtStart(SCHEMA)),
    (b"COMMIT", Rule::Anywhere(TXN)),
    (b"CREATE", Rule::Anywhere(SCHEMA)),
    (b"DECLARE", Rule::Declare),
    (b"DELETE", Rule::Dml),
    (b"DETACH", Rule::Anywhere(CONFIG)),
    (b"DISASSOCIATE", Rule::AtStart(SCHEMA)),
    (b"DROP", Rule::Anywhere(SCHEMA)),
    (b"EDIT", Rule::CallWithParen("runs a program on the server")),
    (b"END", Rule::AtStart(TXN)),
    (b"EXEC", Rule::Anywhere("procedure call")),
    (b"EXECUTE", Rule::Anywhere("procedure call")),
    (
        b"EXPLAIN",
        Rule::AtStart("use the explain_query tool for plans"),
    ),
    (
        b"EXTERNAL",
        Rule::CallWithParen("inline external tables read server files or URLs"),
    ),
    (b"FLASHBACK", Rule::Anywhere(SCHEMA)),
    (b"FTS3_TOKENIZER", Rule::Call("can run native code")),
    (b"GRANT", Rule::Anywhere("privilege change")),
    (b"INSERT", Rule::Dml),
    (b"INTO", Rule::Into),
    (
        b"LOAD_EXTENSION",
        Rule::Call("loads native code into the database"),
    ),
    (b"LOCK", Rule::Anywhere("table lock")),
    (b"MERGE", Rule::Dml),
    (b"NEXTVAL", Rule::Anywhere("advances a sequence")),
    (b"NOAUDIT", Rule::Anywhere("audit configuration")),
    (b"PRAGMA", Rule::Anywhere(CONFIG)),
    (b"PURGE", Rule::Anywhere(SCHEMA)),
    (b"READFILE", Rule::Call(FILES)),
    (b"REINDEX", Rule::Anywhere(MAINTENANCE)),
    (b"RELEASE", Rule::AtStart(TXN)),
    (b"RENAME", Rule::Anywhere(SCHEMA)),
    (b"REPLACE", Rule::Dml),
    (b"REVOKE", Rule::Anywhere("privilege change")),
    (b"ROLLBACK", Rule::Anywhere(TXN)),
    (b"SAVEPOINT", Rule::Anywhere(TXN)),
    (b"SELECT", Rule::QueryStart(QueryKind::Select)),
    (b"SET", Rule::AtStart("session setting")),
    (b"SHUTDOWN", Rule::Anywhere("instance control")),
    (b"STARTUP", Rule::Anywhere("instance control")),
    (b"TRUNCATE", Rule::Anywhere(SCHEMA)),
    (b"UPDATE", Rule::Dml),
    (b"UPSERT", Rule::Dml),
    (b"VACUUM", Rule::Anywhere(MAINTENANCE)),
    (b"VALUES", Rule::QueryStart(QueryKind::Values)),
    (b"WITH", Rule::QueryStart(QueryKind::With)),
    (b"WRITEFILE", Rule::Call(FILES)),
];

/// Bound on the length of [`KEYWORDS`] names; longer words are never keywords.
const KEY_LEN: usize = 16;

/// A word of at most [`KEY_LEN`] bytes as a big-endian, zero-padded integer, so
/// integer order equals byte-string order and look-ups avoid `memcmp` calls.
/// Only evaluated at compile time, to build [`KEYWORD_KEYS`].
const fn pack(w: &[u8]) -> u128 {
    let mut key = 0u128;
    let mut i = 0;
    while i < KEY_LEN {
        key <<= 8;
        if i < w.len() {
            key |= w[i] as u128;
        }
        i += 1;
    }
    key
}

/// [`KEYWORDS`] names, packed, in the same (sorted) order.
const KEYWORD_KEYS: [u128; KEYWORDS.len()] = {
    let mut keys = [0; KEYWORDS.len()];
    let mut i = 0;
    while i < KEYWORDS.len() {
        keys[i] = pack(KEYWORDS[i].0);
        i += 1;
    }
    keys
};

fn keyword(w: &[u8]) -> Option<Rule> {
    if w.len() > KEY_LEN {
        return None;
    }
    // Same value as `pack`, built in registers.
    let key = w.iter().fold(0u128, |key, &b| key << 8 | u128::from(b));
    let pad = u32::try_from(8 * (KEY_LEN - w.len())).unwrap_or(0);
    let i = KEYWORD_KEYS
        .binary_search(&key.checked_shl(pad).unwrap_or(0))
        .ok()?;
    KEYWORDS.get(i).map(|&(_, rule)| rule)
}

const RUNS_CODE: &str = "runs SQL or code given to it";
const NETWORK: &str = "reaches the network";
const FILES: &str = "reads or writes server files";
const BLOCKS: &str = "takes locks or blocks the session";
const CHANGES: &str = "package that can change data or reach the network";
const UNKNOWN_PACKAGE: &str = "not on the list of read-only packages";

/// Known-dangerous `DBMS_*` families, matched as name prefixes (`DBMS_CLOUD_AI`,
/// `DBMS_SQLTUNE`, `DBMS_AQADM`, ...), so the message can say why.
const DBMS_PACKAGES: &[(&[u8], &str)] = &[
    (b"SQL", RUNS_CODE),
    (b"SYS_SQL", RUNS_CODE),
    (b"XML", RUNS_CODE),
    (b"HS", RUNS_CODE),
    (b"JAVA", RUNS_CODE),
    (b"MLE", RUNS_CODE),
    (b"UTILITY", RUNS_CODE),
    (b"DDL", RUNS_CODE),
    (b"PARALLEL_EXECUTE", RUNS_CODE),
    (b"EXPORT_EXTENSION", RUNS_CODE),
    (b"CLOUD", NETWORK),
    (b"LDAP", NETWORK),
    (b"DEBUG", NETWORK),
    (b"VECTOR", NETWORK),
    (b"XSLPROCESSOR", FILES),
    (b"ADVISOR", FILES),
    (b"FILE_TRANSFER", FILES),
    (b"DATAPUMP", FILES),
    (b"BACKUP_RESTORE", FILES),
    (b"LOCK", BLOCKS),
    (b"PIPE", BLOCKS),
    (b"ALERT", BLOCKS),
    (b"SCHEDULER", CHANGES),
    (b"ISCHED", CHANGES),
    (b"JOB", CHANGES),
    (b"IJOB", CHANGES),
    (b"AQ", CHANGES),
    (b"NETWORK_ACL", CHANGES),
    (b"RLS", CHANGES),
    (b"FGA", CHANGES),
    (b"REDACT", CHANGES),
    (b"XDB", CHANGES),
    (b"STATS", CHANGES),
    (b"SESSION", CHANGES),
    (b"SYSTEM", CHANGES),
    (b"REDEFINITION", CHANGES),
    (b"SPACE_ADMIN", CHANGES),
    (b"REPAIR", CHANGES),
    (b"RESOURCE_MANAGER", CHANGES),
    (b"MVIEW", CHANGES),
    (b"SNAPSHOT", CHANGES),
    (b"SERVICE", CHANGES),
    (b"SODA", CHANGES),
    (b"PDB", CHANGES),
];

/// Other packages and types refused, also matched as prefixes.
const OTHER_PACKAGES: &[(&[u8], &str)] = &[
    (b"UTL_HTTP", NETWORK),
    (b"UTL_TCP", NETWORK),
    (b"UTL_SMTP", NETWORK),
    (b"UTL_MAIL", NETWORK),
    (b"UTL_INADDR", NETWORK),
    (b"UTL_DBWS", NETWORK),
    (b"UTL_FILE", FILES),
    (b"HTTPURITYPE", NETWORK),
    (b"URIFACTORY", NETWORK),
    (b"APEX_WEB_SERVICE", NETWORK),
    (b"APEX_MAIL", NETWORK),
    (b"APEX_EXEC", RUNS_CODE),
    (b"CTX_DDL", CHANGES),
];

/// `DBMS_*` / `UTL_*` packages with only side-effect-free functions; every other
/// package in those namespaces is refused, since Oracle ships hundreds of them.
const READ_ONLY_PACKAGES: &[&[u8]] = &[
    b"DBMS_ASSERT",
    b"DBMS_CRYPTO",
    b"DBMS_DB_VERSION",
    b"DBMS_FLASHBACK",
    b"DBMS_LOB",
    b"DBMS_METADATA",
    b"DBMS_RANDOM",
    b"DBMS_ROWID",
    b"DBMS_STANDARD",
    b"DBMS_STAT_FUNCS",
    b"DBMS_TYPES",
    b"DBMS_XPLAN",
    b"UTL_CALL_STACK",
    b"UTL_COLL",
    b"UTL_COMPRESS",
    b"UTL_ENCODE",
    b"UTL_I18N",
    b"UTL_LMS",
    b"UTL_MATCH",
    b"UTL_NLA",
    b"UTL_RAW",
    b"UTL_URL",
];

/// Why the Oracle package or type `w` may not be used, if it is refused.
fn package_reason(w: &[u8]) -> Option<&'static str> {
    // Cheap first-byte filter: almost every identifier stops here.
    if !matches!(w.first(), Some(b'D' | b'U' | b'H' | b'A' | b'C')) {
        return None;
    }
    if let Some(rest) = w.strip_prefix(b"DBMS_") {
        let known = DBMS_PACKAGES.iter().find(|(p, _)| rest.starts_with(p));
        return match known {
            Some(&(_, reason)) => Some(reason),
            None if READ_ONLY_PACKAGES.contains(&w) => None,
            None => Some(UNKNOWN_PACKAGE),
        };
    }
    let known = OTHER_PACKAGES.iter().find(|(p, _)| w.starts_with(p));
    match known {
        Some(&(_, reason)) => Some(reason),
        None if w.starts_with(b"UTL_") && !READ_ONLY_PACKAGES.contains(&w) => Some(UNKNOWN_PACKAGE),
        None => None,
    }
}

/// Why naming `w` as a function or package is refused, if it is.
fn call_reason(w: &[u8], next_is_paren: bool) -> Option<&'static str> {
    match keyword(w) {
        Some(Rule::Call(reason)) => Some(reason),
        Some(Rule::CallWithParen(reason)) if next_is_paren => Some(reason),
        _ => package_reason(w),
    }
}

/// Autonomous Database `SELECT AI <action>` verbs.
const SELECT_AI_ACTIONS: &[&[u8]] = &[
    b"RUNSQL",
    b"SHOWSQL",
    b"EXPLAINSQL",
    b"NARRATE",
    b"CHAT",
    b"SHOWPROMPT",
    b"SUMMARIZE",
    b"TRANSLATE",
    b"AGENT",
    b"FEEDBACK",
];

/// Words that may follow a plain column named `ai` (`SELECT ai FROM t`).
const AFTER_EXPRESSION: &[&[u8]] = &[
    b"FROM",
    b"AS",
    b"UNION",
    b"INTERSECT",
    b"EXCEPT",
    b"MINUS",
    b"ORDER",
    b"GROUP",
    b"WHERE",
    b"HAVING",
    b"FETCH",
    b"OFFSET",
    b"LIMIT",
    b"WINDOW",
    b"COLLATE",
    b"IS",
    b"NOT",
    b"IN",
    b"LIKE",
    b"GLOB",
    b"MATCH",
    b"REGEXP",
    b"BETWEEN",
    b"AND",
    b"OR",
    b"ESCAPE",
    b"FOR",
    b"INTO",
];

/// Clips user text before it is echoed in a message.
fn clip(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHO).collect();
    if chars.next().is_some() {
        out.push_str("...");
    }
    out
}

// ---------------------------------------------------------------------------------
// Classifier
// ---------------------------------------------------------------------------------

/// Whether the `/` at `slash` is an SQL*Plus run command: only blanks before it
/// on its line and nothing but blanks, a comment or a `;` after it (the `;` so
/// that trimming a terminator can never turn a division into a run command).
fn slash_line_at(bytes: &[u8], slash: usize) -> bool {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | 0x0b | 0x0c);
    let in_line = |b: &&u8| !matches!(b, b'\n' | b'\r');
    let before = bytes.get(..slash).unwrap_or_default();
    let after = bytes.get(slash + 1..).unwrap_or_default();
    let rest = after
        .iter()
        .position(|b| !blank(b))
        .map_or(&[][..], |k| after.get(k..).unwrap_or_default());
    bytes.get(slash) == Some(&b'/')
        && before.iter().rev().take_while(in_line).all(blank)
        && (rest.first().is_none_or(|b| matches!(b, b'\n' | b'\r'))
            || rest.starts_with(b"--")
            || rest.starts_with(b"/*")
            || rest.starts_with(b";"))
}

struct Analyzer<'s> {
    src: &'s str,
    /// Where the lexer gave up; every token before it is complete.
    lex_error: Option<GuardError>,
    dialect: Dialect,
}

impl<'s> Analyzer<'s> {
    fn run(mut self, toks: &[Token]) -> Result<ReadOnlyQuery<'s>, GuardError> {
        let semi = toks.iter().position(|t| t.kind == Kind::Punct(b';'));
        let mut body = toks.get(..semi.unwrap_or(toks.len())).unwrap_or_default();
        let mut slash_terminator = None;
        if let Some((last, rest)) = body.split_last()
            && self.is_slash_line(last)
        {
            slash_terminator = Some(last.start);
            body = rest;
        }
        let tail = semi.and_then(|s| toks.get(s + 1..)).unwrap_or_default();

        let (Some(first), Some(last)) = (body.first(), body.last()) else {
            return match tail {
                [] => Err(self.at_end(GuardError::Empty)),
                [t] if self.is_slash_line(t) => Err(self.at_end(GuardError::Empty)),
                [t, ..] => Err(self.multiple(t.start)),
            };
        };

        let kind = self.classify(body)?;
        self.check_body(body)?;

        match tail {
            [] => {}
            [t] if self.is_slash_line(t) => slash_terminator = Some(t.start),
            [t, ..] => return Err(self.multiple(t.start)),
        }
        if let Some(e) = self.lex_error.take() {
            return Err(e);
        }
        self.check_slash_lines(slash_terminator)?;
        let sql = self.src.get(first.start..last.end).unwrap_or_default();
        Ok(ReadOnlyQuery {
            sql,
            kind,
            dialect: self.dialect,
        })
    }

    /// For conclusions drawn from running out of tokens: if the lexer stopped
    /// early, its error is the real story.
    fn at_end(&mut self, fallback: GuardError) -> GuardError {
        self.lex_error.take().unwrap_or(fallback)
    }

    fn pos(&self, byte: usize) -> usize {
        char_pos(self.src, byte)
    }

    fn text(&self, t: &Token) -> &'s str {
        self.src.get(t.start..t.end).unwrap_or_default()
    }

    fn multiple(&self, byte: usize) -> GuardError {
        GuardError::MultipleStatements {
            position: self.pos(byte),
        }
    }

    fn norm(&self, t: &Token) -> Option<Norm> {
        (t.kind == Kind::Word)
            .then(|| Norm::of(self.text(t)))
            .flatten()
    }

    fn word_is(&self, t: Option<&Token>, kw: &[u8]) -> bool {
        t.and_then(|t| self.norm(t))
            .is_some_and(|n| n.bytes() == kw)
    }

    fn word_in(&self, t: Option<&Token>, kws: &[&[u8]]) -> bool {
        t.and_then(|t| self.norm(t))
            .is_some_and(|n| kws.contains(&n.bytes()))
    }

    fn is_slash_line(&self, t: &Token) -> bool {
        t.kind == Kind::Punct(b'/') && slash_line_at(self.src.as_bytes(), t.start)
    }

    /// The statement must open with SELECT, WITH, VALUES or `(`+ followed by one.
    fn classify(&mut self, body: &[Token]) -> Result<QueryKind, GuardError> {
        let start = |a: &Self, t: &Token| match keyword(a.norm(t)?.bytes()) {
            Some(Rule::QueryStart(kind)) => Some(kind),
            _ => None,
        };
        let Some(first) = body.first() else {
            return Err(self.at_end(GuardError::Empty));
        };
        if first.kind != Kind::Punct(b'(') {
            return start(self, first).ok_or_else(|| self.not_a_query(body, 0));
        }
        match body.iter().position(|t| t.kind != Kind::Punct(b'(')) {
            Some(i) => match body.get(i) {
                Some(t) if start(self, t).is_some() => Ok(QueryKind::Parenthesized),
                _ => Err(self.not_a_query(body, i)),
            },
            None => Err(self.at_end(GuardError::NotAQuery {
                found: "'(' with no query inside".to_owned(),
            })),
        }
    }

    /// Explains a statement that does not start like a query, naming the keyword's
    /// category when it has one.
    fn not_a_query(&self, body: &[Token], i: usize) -> GuardError {
        let Some(t) = body.get(i) else {
            return GuardError::Empty;
        };
        if let Err(e) = self.check_token(body, i, &mut Nesting::default()) {
            return e;
        }
        let found = match t.kind {
            Kind::Word => {
                if let Some(n) = self.norm(t)
                    && let Some(Rule::AtStart(category)) = keyword(n.bytes())
                {
                    return GuardError::ForbiddenKeyword {
                        keyword: n.text(),
                        category,
                        position: self.pos(t.start),
                    };
                }
                clip(&self.text(t).to_uppercase())
            }
            Kind::Quoted => "a quoted identifier".to_owned(),
            Kind::Str => "a string literal".to_owned(),
            Kind::Number => format!("the number {}", clip(self.text(t))),
            Kind::Bind => "a bind variable".to_owned(),
            Kind::Punct(c) => format!("'{}'", char::from(c)),
        };
        GuardError::NotAQuery { found }
    }

    fn check_body(&self, body: &[Token]) -> Result<(), GuardError> {
        let mut nesting = Nesting::default();
        for i in 0..body.len() {
            self.check_token(body, i, &mut nesting)?;
        }
        Ok(())
    }

    fn check_token(&self, body: &[Token], i: usize, n: &mut Nesting) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        match t.kind {
            Kind::Word => self.check_word(body, i, n),
            Kind::Quoted => self.check_quoted(body, i),
            Kind::Punct(b'(') => {
                n.depth += 1;
                Ok(())
            }
            Kind::Punct(b')') => {
                n.depth = n.depth.saturating_sub(1);
                Ok(())
            }
            Kind::Punct(b'/') if self.is_slash_line(t) => {
                Err(self.multiple(body.get(i + 1).map_or(t.start, |next| next.start)))
            }
            Kind::Punct(b'@') | Kind::Bind => self.check_link(body, i),
            _ => Ok(()),
        }
    }

    fn check_word(&self, body: &[Token], i: usize, n: &mut Nesting) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        let Some(norm) = self.norm(t) else {
            return Ok(());
        };
        let w = norm.bytes();
        let prev = i.checked_sub(1).and_then(|p| body.get(p));
        let next = body.get(i + 1);
        let next_is_paren = next.is_some_and(|t| t.kind == Kind::Punct(b'('));
        // Computed only on the error path: counting characters is O(n).
        let position = || self.pos(t.start);
        let call = |reason| GuardError::ForbiddenCall {
            name: clip(&norm.text()),
            reason,
            position: position(),
        };
        match keyword(w) {
            Some(Rule::Dml) => {
                // replace(str, from, to) is a string function in both dialects.
                if w == b"REPLACE" && next_is_paren {
                    return Ok(());
                }
                if w == b"UPDATE" && self.word_is(prev, b"FOR") {
                    return Err(GuardError::ForUpdate {
                        position: position(),
                    });
                }
                // Oracle MODEL clause: RULES UPDATE / RULES UPSERT [ALL] only rewrites
                // cells of the query result.
                if matches!(w, b"UPDATE" | b"UPSERT") && self.word_is(prev, b"RULES") {
                    return Ok(());
                }
                if n.with_depth.is_some_and(|d| n.depth > d) {
                    return Err(GuardError::DataModifyingCte {
                        keyword: norm.text(),
                        position: position(),
                    });
                }
                Err(self.forbidden(&norm, "data modification", position()))
            }
            Some(Rule::Begin) => {
                const TXN_MODES: &[&[u8]] =
                    &[b"TRANSACTION", b"DEFERRED", b"IMMEDIATE", b"EXCLUSIVE"];
                if next.is_none() || self.word_in(next, TXN_MODES) {
                    Err(self.forbidden(&norm, TXN, position()))
                } else {
                    Err(GuardError::PlsqlBlock {
                        keyword: norm.text(),
                        position: position(),
                    })
                }
            }
            Some(Rule::Declare) => Err(GuardError::PlsqlBlock {
                keyword: norm.text(),
                position: position(),
            }),
            Some(Rule::Into) => Err(GuardError::SelectInto {
                position: position(),
            }),
            Some(Rule::QueryStart(QueryKind::With)) => {
                if self.word_in(next, &[b"FUNCTION", b"PROCEDURE"]) {
                    return Err(GuardError::InlinePlsql {
                        position: position(),
                    });
                }
                n.with_depth = Some(n.with_depth.map_or(n.depth, |d| d.min(n.depth)));
                Ok(())
            }
            Some(Rule::QueryStart(QueryKind::Select)) => self.check_select_ai(body, i),
            Some(Rule::QueryStart(_) | Rule::AtStart(_)) => Ok(()),
            // LISTAGG(... ON OVERFLOW TRUNCATE ...)
            Some(Rule::Anywhere(_)) if w == b"TRUNCATE" && self.word_is(prev, b"OVERFLOW") => {
                Ok(())
            }
            Some(Rule::Anywhere(category)) => Err(self.forbidden(&norm, category, position())),
            Some(Rule::Call(reason)) => Err(call(reason)),
            Some(Rule::CallWithParen(reason)) if next_is_paren => Err(call(reason)),
            Some(Rule::CallWithParen(_)) => Ok(()),
            None => package_reason(w).map_or(Ok(()), |reason| Err(call(reason))),
        }
    }

    fn forbidden(&self, norm: &Norm, category: &'static str, position: usize) -> GuardError {
        GuardError::ForbiddenKeyword {
            keyword: norm.text(),
            category,
            position,
        }
    }

    /// Quoted names are harmless except as package or function names:
    /// `"SYS"."DBMS_SQL"`, `"load_extension"(...)`, `"SYS.UTL_HTTP"`.
    fn check_quoted(&self, body: &[Token], i: usize) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        let inner = self
            .src
            .get(t.start + 1..t.end.saturating_sub(1))
            .unwrap_or_default();
        let next_is_paren = body.get(i + 1).is_some_and(|n| n.kind == Kind::Punct(b'('));
        for part in inner.split('.') {
            let Some(norm) = Norm::of(part) else {
                continue;
            };
            if let Some(reason) = call_reason(norm.bytes(), next_is_paren) {
                return Err(GuardError::ForbiddenCall {
                    name: clip(&norm.text()),
                    reason,
                    position: self.pos(t.start),
                });
            }
        }
        Ok(())
    }

    /// `SELECT AI <prompt>` on Autonomous Database sends the prompt and schema to an
    /// external model. A column that happens to be called `ai` still works.
    fn check_select_ai(&self, body: &[Token], i: usize) -> Result<(), GuardError> {
        let Some(ai) = body.get(i + 1) else {
            return Ok(());
        };
        if !self.word_is(Some(ai), b"AI") {
            return Ok(());
        }
        let prompt = body.get(i + 2);
        let after = body.get(i + 3);
        let is_prompt = match prompt {
            Some(p) if p.kind == Kind::Str => true,
            Some(p) if p.kind == Kind::Word => {
                self.word_in(Some(p), SELECT_AI_ACTIONS)
                    || (!self.word_in(Some(p), AFTER_EXPRESSION) && !self.word_is(after, b"FROM"))
            }
            _ => false,
        };
        if is_prompt {
            return Err(GuardError::ForbiddenCall {
                name: "SELECT AI".to_owned(),
                reason: "sends the prompt to an external AI service",
                position: self.pos(ai.start),
            });
        }
        Ok(())
    }

    /// `emp@link` / `"EMP"@"LINK"`: an `@` glued to a name is an Oracle database
    /// link, not a SQLite `@param`.
    fn check_link(&self, body: &[Token], i: usize) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        if self.src.as_bytes().get(t.start) != Some(&b'@') {
            return Ok(());
        }
        let glued = i
            .checked_sub(1)
            .and_then(|p| body.get(p))
            .is_some_and(|p| matches!(p.kind, Kind::Word | Kind::Quoted) && p.end == t.start);
        if glued {
            return Err(GuardError::DatabaseLink {
                link: clip(&self.text(t).to_uppercase()),
                position: self.pos(t.start),
            });
        }
        Ok(())
    }

    /// SQL*Plus-style clients run the buffer at a line holding only `/`, even inside
    /// a literal or comment; only the final terminator line may have one.
    fn check_slash_lines(&self, terminator: Option<usize>) -> Result<(), GuardError> {
        if !self.src.contains('/') {
            return Ok(());
        }
        let bytes = self.src.as_bytes();
        let mut line_start = 0;
        while line_start < bytes.len() {
            let rest = bytes.get(line_start..).unwrap_or_default();
            let line_len = rest
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(rest.len());
            let line = rest.get(..line_len).unwrap_or_default();
            let blank = |b: &u8| matches!(b, b' ' | b'\t' | 0x0b | 0x0c);
            if let Some(slash) = line.iter().position(|b| !blank(b))
                && slash_line_at(bytes, line_start + slash)
                && terminator != Some(line_start + slash)
            {
                let after = line_start + line_len;
                let next = bytes
                    .get(after..)
                    .unwrap_or_default()
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map_or(line_start + slash, |k| after + k);
                return Err(self.multiple(next));
            }
            line_start += line_len + 1;
        }
        Ok(())
    }
}

/// Parenthesis depth, and the shallowest depth at which a WITH appeared, to tell a
/// DML CTE body (`WITH x AS (DELETE ...)`) from DML after a WITH clause.
#[derive(Default)]
struct Nesting {
    depth: usize,
    with_depth: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const CORPUS: &str = include_str!("../../tests/fixtures/guard_corpus.toml");

    #[derive(Deserialize)]
    struct Corpus {
        reject: Vec<RejectCase>,
        accept: Vec<AcceptCase>,
        accept_oracle: Vec<AcceptCase>,
    }

    #[derive(Deserialize)]
    struct RejectCase {
        sql: String,
        why: String,
        expect: String,
    }

    #[derive(Deserialize)]
    struct AcceptCase {
        sql: String,
        why: String,
    }

    fn corpus() -> Corpus {
        toml::from_str(CORPUS).expect("guard corpus parses")
    }

    fn check_read_only(sql: &str) -> Result<ReadOnlyQuery<'_>, GuardError> {
        super::check_read_only(sql, Dialect::Oracle)
    }

    fn placeholders(sql: &str) -> Result<Vec<Placeholder<'_>>, GuardError> {
        super::placeholders(sql, Dialect::Oracle)
    }

    fn err(sql: &str) -> GuardError {
        check_read_only(sql).expect_err(sql)
    }

    fn ok(sql: &str) -> ReadOnlyQuery<'_> {
        check_read_only(sql).unwrap_or_else(|e| panic!("{sql:?} rejected: {e}"))
    }

    #[test]
    fn corpus_has_enough_cases() {
        let c = corpus();
        assert!(c.reject.len() >= 60, "{} rejects", c.reject.len());
        assert!(c.accept.len() >= 30, "{} accepts", c.accept.len());
        assert!(
            c.accept_oracle.len() >= 10,
            "{} oracle",
            c.accept_oracle.len()
        );
    }

    #[test]
    fn corpus_rejects_with_expected_code() {
        let mut failures = Vec::new();
        for case in corpus().reject {
            match check_read_only(&case.sql) {
                Ok(q) => failures.push(format!("accepted {:?} ({}): {q:?}", case.sql, case.why)),
                Err(e) if e.code() != case.expect => failures.push(format!(
                    "{:?} ({}): expected {}, got {} ({e})",
                    case.sql,
                    case.why,
                    case.expect,
                    e.code()
                )),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.chars().count() <= 200, "message too long: {msg}");
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn corpus_accepts() {
        let c = corpus();
        let mut failures = Vec::new();
        for case in c.accept.iter().chain(&c.accept_oracle) {
            match check_read_only(&case.sql) {
                Ok(q) => {
                    assert!(!q.sql.ends_with(';'), "{:?}", q.sql);
                    assert_eq!(q.sql, q.sql.trim(), "{:?}", case.sql);
                    assert!(case.sql.contains(q.sql));
                    // Accepting is idempotent: the trimmed form passes unchanged.
                    assert_eq!(check_read_only(q.sql), Ok(q), "{:?}", case.sql);
                }
                Err(e) => failures.push(format!("{:?} ({}): {e}", case.sql, case.why)),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn trims_terminators_whitespace_and_outer_comments() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("  SELECT 1 ;  ", "SELECT 1"),
            ("SELECT 1;\n", "SELECT 1"),
            ("SELECT 1; -- done", "SELECT 1"),
            ("SELECT 1 /* why */ ; /* bye */", "SELECT 1"),
            ("-- intro\nSELECT 1 -- trailing", "SELECT 1"),
            ("SELECT 1\n/", "SELECT 1"),
            ("SELECT 1\n  /  \n", "SELECT 1"),
            ("SELECT 1;\n/\n", "SELECT 1"),
            ("SELECT 1\r\n/\r\n", "SELECT 1"),
            ("SELECT 1\n/ -- run it", "SELECT 1"),
            ("SELECT 'a;' || 'b'", "SELECT 'a;' || 'b'"),
            ("SELECT 1 -- x\n FROM dual", "SELECT 1 -- x\n FROM dual"),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input).sql, want, "{input:?}");
        }
    }

    #[test]
    fn reports_kind() {
        assert_eq!(ok("select 1").kind, QueryKind::Select);
        assert_eq!(
            ok("WITH a AS (SELECT 1) SELECT * FROM a").kind,
            QueryKind::With
        );
        assert_eq!(
            ok("with recursive a(n) as (select 1) select n from a").kind,
            QueryKind::With
        );
        assert_eq!(ok("VALUES (1)").kind, QueryKind::Values);
        assert_eq!(
            ok("((SELECT 1)) UNION (SELECT 2)").kind,
            QueryKind::Parenthesized
        );
        assert_eq!(
            ok("(WITH a AS (SELECT 1) SELECT * FROM a)").kind,
            QueryKind::Parenthesized
        );
    }

    #[test]
    fn messages_name_what_was_found() {
        let cases = [
            (
                "INSERT INTO t VALUES (1)",
                "only a single read-only SELECT or WITH query is allowed; found INSERT (data modification)",
            ),
            (
                "SELECT 1 FROM dual; DELETE FROM t",
                "only one statement per call is allowed; found a second statement starting at character 21",
            ),
            (
                "SELECT * FROM t FOR UPDATE",
                "SELECT ... FOR UPDATE takes row locks and is not allowed",
            ),
            ("", "the query is empty"),
            (
                "SELECT 'abc",
                "unterminated string literal starting at character 8",
            ),
            (
                "SELECT 1 /* x",
                "unterminated block comment starting at character 10",
            ),
            (
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                "WITH clause contains DELETE; data-modifying CTEs are not allowed",
            ),
            (
                "BEGIN NULL; END;",
                "PL/SQL blocks (BEGIN/DECLARE) are not allowed",
            ),
            (
                "WITH FUNCTION f RETURN NUMBER IS BEGIN RETURN 1; END; SELECT f FROM dual",
                "WITH FUNCTION/PROCEDURE (inline PL/SQL) is not allowed",
            ),
            (
                "SELECT dbms_scheduler.run_job('x') FROM dual",
                "calls to DBMS_SCHEDULER are not allowed (package that can change data or reach the network)",
            ),
            (
                "SELECT call FROM t",
                "only a single read-only SELECT or WITH query is allowed; found CALL (procedure call) at character 8; double-quote it if it is a column name",
            ),
            (
                "FROBNICATE the_db",
                "only a single read-only SELECT or WITH query is allowed; found FROBNICATE",
            ),
            (
                "SELECT 1\u{FF1B} DELETE",
                "unexpected character U+FF1B ('\u{FF1B}') at character 9; use plain ASCII spaces and punctuation outside string literals",
            ),
            (
                "SELECT\u{200B}1",
                "unexpected character U+200B at character 7; use plain ASCII spaces and punctuation outside string literals",
            ),
            (
                "EXPLAIN PLAN FOR SELECT 1 FROM dual",
                "only a single read-only SELECT or WITH query is allowed; found EXPLAIN (use the explain_query tool for plans)",
            ),
            (
                "SELECT dbms_foo.bar() FROM dual",
                "calls to DBMS_FOO are not allowed (not on the list of read-only packages)",
            ),
            (
                "SELECT q'[', load_extension('x') --]' FROM dual",
                "unsupported q-quoted literal (SQLite reads part of it as SQL) starting at character 8; write it as a normal '...' string, doubling any quote inside",
            ),
            (
                "SELECT [a;b] FROM t",
                "unsupported [...] or `...` identifier starting at character 8; use double quotes for names with special characters",
            ),
            (
                "SELECT * FROM emp@LINK1",
                "database links are not allowed (the query must stay in this database); found @LINK1 at character 18",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(err(sql).to_string(), want, "{sql:?}");
        }
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        // "é" and "東" are multi-byte; positions are 1-based characters.
        assert_eq!(
            err("SELECT 'é東'; DELETE FROM t"),
            GuardError::MultipleStatements { position: 14 }
        );
        assert_eq!(
            err("SELECT 'é' || \"東"),
            GuardError::UnterminatedLiteral {
                what: "quoted identifier",
                position: 15
            }
        );
        assert_eq!(
            err("SELECT 'é', q'[x"),
            GuardError::UnterminatedLiteral {
                what: "q-quoted string literal",
                position: 13
            }
        );
        assert_eq!(
            err("SELECT 1 FROM t WHERE x = 'ü' FOR UPDATE"),
            GuardError::ForUpdate { position: 35 }
        );
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            ("", "empty"),
            ("SHOW TABLES", "not_a_query"),
            ("DROP TABLE t", "forbidden_keyword"),
            ("SELECT 1; SELECT 2", "multiple_statements"),
            ("SELECT 1 FROM t FOR UPDATE", "for_update"),
            ("SELECT 1 INTO x FROM t", "select_into"),
            ("DECLARE x NUMBER; BEGIN NULL; END;", "plsql_block"),
            (
                "WITH PROCEDURE p IS BEGIN NULL; END; SELECT 1 FROM dual",
                "inline_plsql",
            ),
            (
                "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1",
                "data_modifying_cte",
            ),
            ("SELECT utl_http.request('x') FROM dual", "forbidden_call"),
            ("SELECT * FROM t@l", "database_link"),
            ("SELECT 'x", "unterminated_literal"),
            ("SELECT /*", "unterminated_comment"),
            ("SELECT\u{00A0}1", "invalid_character"),
            ("SELECT [a;b]", "bad_quoting"),
        ];
        for (sql, code) in cases {
            assert_eq!(err(sql).code(), code, "{sql:?}");
        }
    }

    #[test]
    fn earliest_problem_wins() {
        // The DELETE comes before the broken literal, so it is what gets reported.
        assert_eq!(
            err("DELETE FROM t WHERE x = 'abc").code(),
            "forbidden_keyword"
        );
        // An unterminated literal right after a lone keyword is still a lexer error.
        assert_eq!(err("SELECT 1; 'abc").code(), "unterminated_literal");
        assert_eq!(err("( 'abc").code(), "unterminated_literal");
        assert_eq!(err("'abc").code(), "unterminated_literal");
    }

    #[test]
    fn placeholders_skip_literals_and_comments() {
        let sql = "SELECT ':no', \":no\" /* :no */ FROM t -- :no\nWHERE a = :a AND b = :b_2 OR c = ? OR d = :1 OR e = :a";
        let found: Vec<(&str, Option<&str>)> = placeholders(sql)
            .expect("lexes")
            .iter()
            .map(|p| (p.text, p.name()))
            .collect();
        assert_eq!(
            found,
            vec![
                (":a", Some("a")),
                (":b_2", Some("b_2")),
                ("?", None),
                (":1", None),
                (":a", Some("a")),
            ]
        );
        assert!(matches!(
            placeholders("UPDATE t SET a = :a; DELETE FROM t"),
            Err(GuardError::MultipleStatements { .. })
        ));
        assert_eq!(
            placeholders("DELETE FROM t WHERE id = :id;").map(|p| p.len()),
            Ok(1)
        );
        assert!(placeholders("SELECT 'open").is_err());
    }

    #[test]
    fn nul_is_refused_everywhere() {
        for sql in ["SELECT '\0'", "SELECT 1 -- \0", "SELECT 1\0; DELETE FROM t"] {
            assert!(
                matches!(err(sql), GuardError::InvalidCharacter { ch: '\0', .. }),
                "{sql:?}"
            );
        }
    }

    #[test]
    fn long_names_are_clipped_in_messages() {
        let long = "X".repeat(5000);
        let msg = err(&long).to_string();
        assert!(msg.chars().count() <= 200, "{msg}");
        let msg = err(&format!("SELECT DBMS_CLOUD_{long} FROM dual")).to_string();
        assert!(msg.chars().count() <= 200, "{msg}");
        let msg = err(&format!("SELECT 1 FROM t@{long}")).to_string();
        assert!(msg.chars().count() <= 200, "{msg}");
    }

    #[test]
    fn keyword_substrings_and_quoted_keywords_pass() {
        for sql in [
            "SELECT update_date, deleted_at, created_by, insert_ts, dropped FROM t",
            "SELECT \"delete\", \"DROP\", \"into\", \"begin\" FROM t",
            "SELECT x AS \"MY_NOTE\" FROM t WHERE y = 'DBMS_SQL'",
            "SELECT regexp_replace(a, 'x', 'y'), replace(b, 'x') FROM t",
            "SELECT * FROM t WHERE a = @p AND b = $q AND c = :r AND d = ?1 AND e = ?",
        ] {
            ok(sql);
        }
        assert_eq!(err("SELECT \"DBMS_SQL\".x FROM t").code(), "forbidden_call");
    }

    #[test]
    fn keyword_table_is_sorted_for_binary_search() {
        assert!(KEYWORDS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(KEYWORDS.iter().all(|(k, _)| k.len() <= KEY_LEN));
        assert!(KEYWORD_KEYS.windows(2).all(|w| w[0] < w[1]));
        for (name, rule) in KEYWORDS {
            assert_eq!(keyword(name), Some(*rule));
        }
        assert_eq!(keyword(b"SELECTX"), None);
    }

    /// xorshift64*: deterministic, dependency-free noise for the fuzz-ish tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    /// Accepting implies the reported SQL is a trimmed, re-acceptable slice.
    fn check_invariants(input: &str) {
        if let Ok(q) = check_read_only(input) {
            assert!(!q.sql.is_empty(), "{input:?}");
            assert!(!q.sql.ends_with(';'), "{input:?}");
            assert_eq!(check_read_only(q.sql), Ok(q), "{input:?}");
        } else if let Err(e) = check_read_only(input) {
            assert!(!e.to_string().is_empty());
            assert!(!e.code().is_empty());
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet: &[u8] =
            b"SELECTFROMWHEREdeleteq'\"`[]()/*-;\n\r\t :?@$#.,0123456789xXnN!{}<>";
        for round in 0..20_000 {
            let len = rng.below(48);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if round % 2 == 0 {
                        alphabet[rng.below(alphabet.len())]
                    } else {
                        (rng.next() & 0xFF) as u8
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            check_invariants(&text);
        }
    }

    #[test]
    fn mutated_corpus_never_panics() {
        let c = corpus();
        let all: Vec<String> = c
            .reject
            .iter()
            .map(|r| r.sql.clone())
            .chain(
                c.accept
                    .iter()
                    .chain(&c.accept_oracle)
                    .map(|a| a.sql.clone()),
            )
            .collect();
        for sql in &all {
            for (i, _) in sql.char_indices().chain([(sql.len(), ' ')]) {
                check_invariants(&sql[..i]);
                check_invariants(&sql[i..]);
            }
        }
        let mut rng = Rng(42);
        let inserts = [
            "'", "\"", ";", "/*", "*/", "--", "\n/\n", "q'[", "]'", "(", ")", "é", "\u{200B}",
        ];
        for _ in 0..20_000 {
            let sql = &all[rng.below(all.len())];
            let cut: Vec<usize> = sql.char_indices().map(|(i, _)| i).collect();
            let at = cut.get(rng.below(cut.len().max(1))).copied().unwrap_or(0);
            let mutated = format!(
                "{}{}{}",
                &sql[..at],
                inserts[rng.below(inserts.len())],
                &sql[at..]
            );
            check_invariants(&mutated);
        }
    }

    #[test]
    #[ignore = "timing; run with --release --ignored --nocapture"]
    fn speed() {
        let sql = "SELECT e.employee_id, e.first_name, d.department_name, SUM(o.total_amount) AS total \
                   FROM employees e JOIN departments d ON d.department_id = e.department_id \
                   LEFT JOIN orders o ON o.sales_rep_id = e.employee_id WHERE e.salary > 1000 \
                   GROUP BY 1, 2, 3 ORDER BY total DESC";
        let n = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(check_read_only(std::hint::black_box(sql)).is_ok());
        }
        let per = start.elapsed() / n;
        println!("{} chars: {per:?} per call", sql.len());
    }
}
