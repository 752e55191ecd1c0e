//! ORDS's script engine, as far as its documentation describes it: how a
//! `statementText` becomes statements and commands, and an Oracle-style
//! lexer for the text inside our fixed blocks.
//!
//! From the documents (ORDS 17.3 App. C/D; SQL*Plus User's Guide: SET
//! SQLTERMINATOR, SQLBLANKLINES, SQLPREFIX, DEFINE):
//! * the payload is "SQL, SQL*Plus and SQLcl statements";
//! * `;` ends and runs a SQL statement; `/` alone on a line runs the buffer
//!   (and ends a PL/SQL block; with an empty buffer it runs the previous
//!   statement again); `.` alone on a line ends a block or statement
//!   without running it;
//! * a blank line ends a SQL statement (SQLBLANKLINES OFF, the default);
//! * a line starting with `#` (SQLPREFIX) runs as a command, even in the
//!   middle of a statement; lines starting with `@`, `!` or a SQL*Plus /
//!   SQLcl command word (SET, DEFINE, EXEC, PROMPT, …) are commands;
//! * `&name` / `&&name` are substituted while DEFINE is on, also inside
//!   literals; `SET DEFINE OFF|ON|<c>`, `DEFINE x = v`, `UNDEFINE x`;
//! * a PL/SQL block (DECLARE, BEGIN, CREATE … PROCEDURE …) runs without a
//!   trailing `/` at the end of the text (Oracle's JSON samples).
//!
//! Assumptions (not documented; chosen so that splitting bugs show): DEFINE
//! is on at the start of every request; a `;` anywhere outside literals and
//! comments ends a SQL statement (SQLcl; SQL*Plus only honours it at the end
//! of a line), and the rest of the line starts the next one; the line rules
//! apply even inside a multi-line literal (SQL*Plus is line-oriented); a
//! statement ended by a blank line is run; an undefined `&name` (ORDS cannot
//! prompt) fails that statement.

use std::collections::HashMap;

/// What the engine made of a piece of the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    Sql,
    Plsql,
    Command,
}

/// One statement or command the engine would run.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub kind: UnitKind,
    pub text: String,
    /// 1-based line where it starts.
    pub line: usize,
    /// The engine refused it (undefined substitution variable).
    pub error: Option<String>,
}

/// Substitution state of one request.
#[derive(Debug)]
struct Defines {
    prefix: Option<char>,
    vars: HashMap<String, String>,
}

/// SQL*Plus and SQLcl commands (line starts) the engine treats as commands.
const COMMANDS: &[&str] = &[
    "ACCEPT",
    "ALIAS",
    "APPEND",
    "ARCHIVE",
    "ATTRIBUTE",
    "BREAK",
    "BTITLE",
    "CD",
    "CHANGE",
    "CLEAR",
    "COL",
    "COLUMN",
    "COMPUTE",
    "CONN",
    "CONNECT",
    "COPY",
    "CTAS",
    "DDL",
    "DEF",
    "DEFINE",
    "DEL",
    "DESC",
    "DESCRIBE",
    "DISC",
    "DISCONNECT",
    "EDIT",
    "EXEC",
    "EXECUTE",
    "EXIT",
    "FORMAT",
    "GET",
    "HELP",
    "HISTORY",
    "HOST",
    "INFO",
    "INPUT",
    "LIST",
    "LOAD",
    "OERR",
    "PASSWORD",
    "PAUSE",
    "PRINT",
    "PROMPT",
    "QUIT",
    "REM",
    "REMARK",
    "REPEAT",
    "REPFOOTER",
    "REPHEADER",
    "RUN",
    "SAVE",
    "SCRIPT",
    "SET",
    "SHO",
    "SHOW",
    "SHUTDOWN",
    "SODA",
    "SPOOL",
    "START",
    "STARTUP",
    "STORE",
    "TIMING",
    "TTITLE",
    "UNDEF",
    "UNDEFINE",
    "VAR",
    "VARIABLE",
    "WHENEVER",
    "XQUERY",
];

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(5)
        .map(str::to_uppercase)
        .collect()
}

/// How a statement that starts with `text` is read.
fn classify(text: &str) -> UnitKind {
    let t = text.trim_start();
    if t.starts_with(['#', '@', '!']) {
        return UnitKind::Command;
    }
    let w = words(t);
    let first = w.first().map(String::as_str).unwrap_or("");
    let second = w.get(1).map(String::as_str).unwrap_or("");
    match first {
        "SET"
            if matches!(
                second,
                "ROLE" | "TRANSACTION" | "CONSTRAINT" | "CONSTRAINTS"
            ) =>
        {
            UnitKind::Sql
        }
        "DECLARE" | "BEGIN" => UnitKind::Plsql,
        "CREATE" => {
            let rest: Vec<&str> = w[1..]
                .iter()
                .map(String::as_str)
                .filter(|x| !matches!(*x, "OR" | "REPLACE" | "EDITIONABLE" | "NONEDITIONABLE"))
                .collect();
            match rest.first() {
                Some(&("FUNCTION" | "PROCEDURE" | "PACKAGE" | "TRIGGER" | "TYPE" | "LIBRARY")) => {
                    UnitKind::Plsql
                }
                _ => UnitKind::Sql,
            }
        }
        f if COMMANDS.contains(&f) => UnitKind::Command,
        _ => UnitKind::Sql,
    }
}

impl Defines {
    /// Applies a command's effect on substitution.
    fn command(&mut self, text: &str) {
        let w = words(text);
        match (w.first().map(String::as_str), w.get(1).map(String::as_str)) {
            (Some("SET"), Some("DEFINE" | "DEF")) => {
                let arg = text
                    .split_whitespace()
                    .nth(2)
                    .unwrap_or("")
                    .trim_matches('\'');
                self.prefix = match arg.to_uppercase().as_str() {
                    "OFF" => None,
                    "ON" | "" => Some('&'),
                    other => other.chars().next(),
                };
            }
            (Some("DEFINE" | "DEF"), Some(_)) => {
                let rest = text.trim_start()[w[0].len()..].trim();
                if let Some((name, value)) = rest.split_once('=') {
                    let value = value.trim().trim_matches('\'').trim_matches('"');
                    self.vars
                        .insert(name.trim().to_uppercase(), value.to_owned());
                }
            }
            (Some("UNDEFINE" | "UNDEF"), Some(name)) => {
                self.vars.remove(name);
            }
            _ => {}
        }
    }

    /// `&x`/`&&x` replaced, or the first undefined name.
    fn substitute(&self, line: &str) -> Result<String, String> {
        let Some(p) = self.prefix else {
            return Ok(line.to_owned());
        };
        let mut out = String::with_capacity(line.len());
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c != p {
                out.push(c);
                continue;
            }
            if chars.peek() == Some(&p) {
                chars.next();
            }
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || matches!(n, '_' | '#' | '$') {
                    name.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push(c);
                continue;
            }
            if chars.peek() == Some(&'.') {
                chars.next();
            }
            match self.vars.get(&name.to_uppercase()) {
                Some(v) => out.push_str(v),
                None => return Err(name),
            }
        }
        Ok(out)
    }
}

/// Where a `;` may end a statement: outside literals and comments, with
/// the state carried from line to line.
#[derive(Debug, Default)]
struct Scanner {
    /// Closing delimiter of the literal or quoted name we are in; `'\''`
    /// for a plain literal (where `''` is an escaped quote).
    quote: Option<char>,
    q_literal: bool,
    block_comment: bool,
}

impl Scanner {
    /// Byte offset of the first terminating `;` in `line`, if any.
    fn terminator(&mut self, line: &str) -> Option<usize> {
        let b: Vec<(usize, char)> = line.char_indices().collect();
        let mut i = 0;
        while i < b.len() {
            let (pos, c) = b[i];
            let next = b.get(i + 1).map(|x| x.1);
            if self.block_comment {
                if c == '*' && next == Some('/') {
                    self.block_comment = false;
                    i += 1;
                }
            } else if let Some(q) = self.quote {
                if self.q_literal {
                    if c == q && next == Some('\'') {
                        self.quote = None;
                        self.q_literal = false;
                        i += 1;
                    }
                } else if c == q {
                    if q == '\'' && next == Some('\'') {
                        i += 1;
                    } else {
                        self.quote = None;
                    }
                }
            } else {
                match c {
                    '-' if next == Some('-') => return None,
                    '/' if next == Some('*') => {
                        self.block_comment = true;
                        i += 1;
                    }
                    'q' | 'Q' if next == Some('\'') => {
                        if let Some(&(_, d)) = b.get(i + 2) {
                            self.quote = Some(match d {
                                '[' => ']',
                                '(' => ')',
                                '{' => '}',
                                '<' => '>',
                                other => other,
                            });
                            self.q_literal = true;
                            i += 2;
                        }
                    }
                    '\'' => self.quote = Some('\''),
                    '"' => self.quote = Some('"'),
                    ';' => return Some(pos),
                    _ => {}
                }
            }
            i += 1;
        }
        None
    }
}

/// Splits a script into the units ORDS's engine would run, in order.
pub(crate) fn split(script: &str) -> Vec<Unit> {
    let mut defines = Defines {
        prefix: Some('&'),
        vars: HashMap::new(),
    };
    let mut units: Vec<Unit> = Vec::new();
    let mut last_run: Option<Unit> = None;
    // The statement being entered: kind, first line, text.
    let mut buffer: Option<(UnitKind, usize, String)> = None;
    let mut scanner = Scanner::default();
    let mut pending_error: Option<String> = None;

    let finish = |buffer: &mut Option<(UnitKind, usize, String)>,
                  units: &mut Vec<Unit>,
                  last_run: &mut Option<Unit>,
                  error: &mut Option<String>,
                  run: bool| {
        if let Some((kind, line, text)) = buffer.take() {
            let text = text.trim().to_owned();
            if run && !text.is_empty() {
                let unit = Unit {
                    kind,
                    text,
                    line,
                    error: error.take(),
                };
                *last_run = Some(unit.clone());
                units.push(unit);
            }
        }
        *error = None;
    };

    for (n, raw_line) in script.split('\n').enumerate() {
        let line_no = n + 1;
        let raw_line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = match defines.substitute(raw_line) {
            Ok(l) => l,
            Err(name) => {
                pending_error = Some(format!(
                    "SP2-0546: substitution variable &{name} is not defined (the engine cannot prompt)"
                ));
                raw_line.to_owned()
            }
        };
        let trimmed = line.trim();
        // Line rules, whatever the lexical state.
        if let Some((kind, _, _)) = &buffer {
            let kind = *kind;
            if trimmed == "/" {
                finish(
                    &mut buffer,
                    &mut units,
                    &mut last_run,
                    &mut pending_error,
                    true,
                );
                scanner = Scanner::default();
                continue;
            }
            if trimmed == "." {
                finish(
                    &mut buffer,
                    &mut units,
                    &mut last_run,
                    &mut pending_error,
                    false,
                );
                scanner = Scanner::default();
                continue;
            }
            if trimmed.starts_with('#') {
                defines.command(trimmed.trim_start_matches('#'));
                units.push(Unit {
                    kind: UnitKind::Command,
                    text: trimmed.to_owned(),
                    line: line_no,
                    error: None,
                });
                continue;
            }
            if kind == UnitKind::Sql && trimmed.is_empty() {
                finish(
                    &mut buffer,
                    &mut units,
                    &mut last_run,
                    &mut pending_error,
                    true,
                );
                scanner = Scanner::default();
                continue;
            }
        } else if trimmed == "/" {
            if let Some(again) = &last_run {
                units.push(again.clone());
            }
            continue;
        } else if trimmed.is_empty() || trimmed == "." {
            continue;
        }
        // The line (or what is left of it) joins or starts a statement.
        let mut rest: &str = &line;
        loop {
            if buffer.is_none() {
                if rest.trim().is_empty() {
                    break;
                }
                match classify(rest) {
                    UnitKind::Command => {
                        let text = rest.trim().to_owned();
                        defines.command(text.trim_start_matches('#'));
                        let unit = Unit {
                            kind: UnitKind::Command,
                            text,
                            line: line_no,
                            error: pending_error.take(),
                        };
                        last_run = Some(unit.clone());
                        units.push(unit);
                        break;
                    }
                    kind => buffer = Some((kind, line_no, String::new())),
                }
            }
            let Some((kind, _, text)) = buffer.as_mut() else {
                break;
            };
            if *kind == UnitKind::Plsql {
                text.push_str(rest);
                text.push('\n');
                break;
            }
            match scanner.terminator(rest) {
                Some(pos) => {
                    text.push_str(&rest[..pos]);
                    finish(
                        &mut buffer,
                        &mut units,
                        &mut last_run,
                        &mut pending_error,
                        true,
                    );
                    scanner = Scanner::default();
                    rest = &rest[pos + 1..];
                }
                None => {
                    text.push_str(rest);
                    text.push('\n');
                    break;
                }
            }
        }
    }
    finish(
        &mut buffer,
        &mut units,
        &mut last_run,
        &mut pending_error,
        true,
    );
    units
}

/// A token of Oracle text (comments and whitespace dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Word(String),
    Literal,
    Quoted,
    Number,
    Placeholder,
    Punct(char),
}

/// A token with its byte range.
pub(crate) type Spanned = (Tok, usize, usize);
/// An Oracle error: code and message.
pub(crate) type OraError = (i64, String);

/// Lexes Oracle SQL text: literals (`'…'` with `''`, `N'…'`, `q'[…]'`),
/// quoted names, `--` and `/* */` comments, `:name` placeholders. Returns
/// each token with its byte range; unterminated text is Oracle's error.
pub(crate) fn lex(text: &str) -> Result<Vec<Spanned>, OraError> {
    let b: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| b.get(i).map_or(text.len(), |x| x.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (start, c) = b[i];
        let next = b.get(i + 1).map(|x| x.1);
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            while i < b.len() && b[i].1 != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            loop {
                match (b.get(i).map(|x| x.1), b.get(i + 1).map(|x| x.1)) {
                    (Some('*'), Some('/')) => {
                        i += 2;
                        break;
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => {
                        return Err((1742, "ORA-01742: comment not terminated properly".into()));
                    }
                }
            }
        } else if matches!(c, 'q' | 'Q' | 'n' | 'N')
            && (next == Some('\'')
                || (matches!(c, 'n' | 'N')
                    && matches!(next, Some('q' | 'Q'))
                    && b.get(i + 2).map(|x| x.1) == Some('\'')))
        {
            let mut j = i + 1;
            if matches!(c, 'n' | 'N') && matches!(next, Some('q' | 'Q')) {
                j += 1;
            }
            let is_q = matches!(b[j - 1].1, 'q' | 'Q');
            j += 1; // past the quote
            if is_q {
                let d = b.get(j).map(|x| x.1).ok_or(unterminated())?;
                let close = match d {
                    '[' => ']',
                    '(' => ')',
                    '{' => '}',
                    '<' => '>',
                    other => other,
                };
                j += 1;
                loop {
                    match (b.get(j).map(|x| x.1), b.get(j + 1).map(|x| x.1)) {
                        (Some(x), Some('\'')) if x == close => {
                            j += 2;
                            break;
                        }
                        (Some(_), _) => j += 1,
                        (None, _) => return Err(unterminated()),
                    }
                }
            } else {
                j = plain_literal_end(&b, j)?;
            }
            out.push((Tok::Literal, start, end_of(j)));
            i = j;
        } else if c == '\'' {
            let j = plain_literal_end(&b, i + 1)?;
            out.push((Tok::Literal, start, end_of(j)));
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j].1 != '"' {
                j += 1;
            }
            if j >= b.len() {
                return Err((1740, "ORA-01740: missing double quote in identifier".into()));
            }
            out.push((Tok::Quoted, start, end_of(j + 1)));
            i = j + 1;
        } else if c == ':' && next.is_some_and(|n| n.is_alphanumeric() || n == '_') {
            let mut j = i + 1;
            while j < b.len() && (b[j].1.is_alphanumeric() || matches!(b[j].1, '_' | '$' | '#')) {
                j += 1;
            }
            out.push((Tok::Placeholder, start, end_of(j)));
            i = j;
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < b.len() && (b[j].1.is_alphanumeric() || matches!(b[j].1, '_' | '$' | '#')) {
                j += 1;
            }
            out.push((
                Tok::Word(text[start..end_of(j)].to_uppercase()),
                start,
                end_of(j),
            ));
            i = j;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && (b[j].1.is_ascii_alphanumeric() || b[j].1 == '.') {
                j += 1;
            }
            out.push((Tok::Number, start, end_of(j)));
            i = j;
        } else {
            out.push((Tok::Punct(c), start, end_of(i + 1)));
            i += 1;
        }
    }
    Ok(out)
}

fn unterminated() -> (i64, String) {
    (
        1756,
        "ORA-01756: quoted string not properly terminated".into(),
    )
}

/// Index just past a `'…'` literal whose body starts at `j`.
fn plain_literal_end(b: &[(usize, char)], mut j: usize) -> Result<usize, (i64, String)> {
    loop {
        match (b.get(j).map(|x| x.1), b.get(j + 1).map(|x| x.1)) {
            (Some('\''), Some('\'')) => j += 2,
            (Some('\''), _) => return Ok(j + 1),
            (Some(_), _) => j += 1,
            (None, _) => return Err(unterminated()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<(UnitKind, String)> {
        split(script)
            .into_iter()
            .map(|u| (u.kind, u.text))
            .collect()
    }

    #[test]
    fn the_engine_splits_like_sqlplus_and_sqlcl() {
        use UnitKind::*;
        assert_eq!(
            texts("SELECT 1 FROM dual;\nDELETE FROM t"),
            [
                (Sql, "SELECT 1 FROM dual".into()),
                (Sql, "DELETE FROM t".into())
            ]
        );
        assert_eq!(texts("SELECT 1 FROM dual; COMMIT;").len(), 2);
        assert_eq!(texts("SELECT ';' FROM dual -- ;\n").len(), 1);
        assert_eq!(
            texts("SELECT 1 FROM dual\n\nDELETE FROM t").len(),
            2,
            "a blank line ends a statement"
        );
        assert_eq!(
            texts("SELECT 1 FROM dual\n/\n/"),
            [
                (Sql, "SELECT 1 FROM dual".into()),
                (Sql, "SELECT 1 FROM dual".into())
            ],
            "/ runs the buffer, then runs it again"
        );
        assert_eq!(texts("SELECT 1 FROM dual;\n/").len(), 2);
        assert_eq!(
            texts("DELETE FROM t\n.\nSELECT 1 FROM dual"),
            [(Sql, "SELECT 1 FROM dual".into())]
        );
        let mid = texts("SELECT 1\n#SET ROLE ALL\nFROM dual");
        assert_eq!(mid[0], (Command, "#SET ROLE ALL".into()));
        assert_eq!(mid[1], (Sql, "SELECT 1\nFROM dual".into()));
        assert_eq!(texts("SET ROLE ALL")[0].0, Sql);
        assert_eq!(texts("SET DEFINE OFF")[0].0, Command);
        assert_eq!(texts("exec p(1)")[0].0, Command);
        assert_eq!(texts("@evil.sql")[0].0, Command);
        assert_eq!(
            texts("BEGIN a; b; END;\n/\nSELECT 1 FROM dual"),
            [
                (Plsql, "BEGIN a; b; END;".into()),
                (Sql, "SELECT 1 FROM dual".into())
            ]
        );
        assert_eq!(texts("DECLARE x NUMBER; BEGIN NULL; END;").len(), 1);
        assert_eq!(texts("SELECT q'[;]' FROM dual").len(), 1);
    }

    #[test]
    fn substitution_follows_define() {
        let u = split("DEFINE x = 'y'\nSELECT '&x' FROM dual");
        assert_eq!(u[1].text, "SELECT 'y' FROM dual");
        let u = split("SELECT '&undefined' FROM dual");
        assert!(u[0].error.is_some());
        let u = split("SET DEFINE OFF\nSELECT '&x' FROM dual");
        assert_eq!(u[1].text, "SELECT '&x' FROM dual");
        assert!(u[1].error.is_none());
    }

    #[test]
    fn the_lexer_reads_oracle_literals_and_placeholders() {
        let toks =
            lex("SELECT q'[it's; :x]', 'a''b', \"c;\" FROM dual WHERE a = :1 -- ;\n").expect("lex");
        assert_eq!(toks.iter().filter(|t| t.0 == Tok::Placeholder).count(), 1);
        assert!(!toks.iter().any(|t| t.0 == Tok::Punct(';')));
        assert!(lex("SELECT 'x").is_err());
        assert!(lex("SELECT 1 /* x").is_err());
    }
}
