//! One lexer per dialect. Each reads the text exactly as that dialect's
//! database does (for SQLite, a port of `sqlite3GetToken` from SQLite
//! 3.54's `tokenize.c`), and refuses whatever the database would read
//! differently from the guard, or whatever two common readers disagree on:
//! the guard never blends two readings.
//!
//! Refusing is always safe; accepting text whose token boundaries differ
//! from the database's is the one thing the lexer must never do.

use super::{Dialect, GuardError, char_pos};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Unquoted keyword or identifier.
    Word,
    /// `"..."`; for SQLite also `` `...` `` and `[...]`.
    Quoted,
    /// String or blob literal, including `N'..'`, SQLite `X'..'` and Oracle `q'[..]'`.
    Str,
    Number,
    /// SQLite `?NNN`, `:name`, `@name`, `$name`, `#name`; Oracle `:name`, `:1`.
    Bind,
    /// One ASCII punctuation character, `;` included.
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub(super) kind: Kind,
    /// Byte offsets into the input, always on char boundaries.
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Splits `src` into `out`; returns the error that stopped it, if any. The
/// tokens before the error are complete, so the analyser can still report
/// an earlier problem first.
pub(super) fn tokenize(src: &str, dialect: Dialect, out: &mut Vec<Token>) -> Option<GuardError> {
    let mut lexer = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        dialect,
    };
    loop {
        match lexer.next_token() {
            Ok(Some(t)) => out.push(t),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    dialect: Dialect,
}

/// Line breaks and page controls that some readers take as the end of a
/// `--` comment and others do not.
fn comment_breaker(bytes: &[u8], i: usize) -> Option<(char, usize)> {
    let b = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
    match b(0) {
        b'\r' if b(1) != b'\n' => Some(('\r', 1)),
        0x0b => Some(('\u{0B}', 1)),
        0x0c => Some(('\u{0C}', 1)),
        0xC2 if b(1) == 0x85 => Some(('\u{85}', 2)),
        0xE2 if b(1) == 0x80 && b(2) == 0xA8 => Some(('\u{2028}', 3)),
        0xE2 if b(1) == 0x80 && b(2) == 0xA9 => Some(('\u{2029}', 3)),
        _ => None,
    }
}

/// SQLite's `IdChar`: ASCII letters and digits, `_`, `$`, and every byte of a
/// non-ASCII character.
fn sqlite_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Oracle's nonquoted identifier characters (after the first letter).
fn oracle_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#')
}

impl Lexer<'_> {
    fn byte(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.src.get(i..).and_then(|s| s.chars().next())
    }

    fn position(&self, byte: usize) -> usize {
        char_pos(self.src, byte)
    }

    fn invalid(&self, at: usize) -> GuardError {
        GuardError::InvalidCharacter {
            ch: self.char_at(at).unwrap_or(char::REPLACEMENT_CHARACTER),
            position: self.position(at),
        }
    }

    fn is_space(&self, i: usize) -> bool {
        match self.byte(i) {
            b' ' | b'\t' | b'\n' | b'\r' => true,
            // Whitespace to SQLite; Oracle's treatment is not documented.
            0x0c => self.dialect == Dialect::Sqlite,
            _ => false,
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, GuardError> {
        loop {
            while self.is_space(self.pos) {
                self.pos += 1;
            }
            // SQLite skips a UTF-8 byte-order mark as whitespace.
            if self.dialect == Dialect::Sqlite
                && self.bytes.get(self.pos..self.pos + 3) == Some(&[0xEF, 0xBB, 0xBF][..])
            {
                self.pos += 3;
                continue;
            }
            if self.pos >= self.bytes.len() {
                return Ok(None);
            }
            let start = self.pos;
            match (self.byte(start), self.byte(start + 1)) {
                (b'-', b'-') => self.line_comment()?,
                (b'/', b'*') => self.block_comment()?,
                _ => return self.token(start).map(Some),
            }
        }
    }

    /// Both dialects end a `--` comment at a line feed only. Any other line
    /// or page break inside it is refused: editors, proxies and other SQL
    /// tools end the comment there, and the text after it would be code to
    /// them but comment to the database (or the other way round).
    fn line_comment(&mut self) -> Result<(), GuardError> {
        let mut i = self.pos + 2;
        while i < self.bytes.len() && self.byte(i) != b'\n' {
            if let Some((ch, _)) = comment_breaker(self.bytes, i) {
                return Err(GuardError::AmbiguousText {
                    ch,
                    position: self.position(i),
                    reason: "inside a -- comment, where readers disagree on where the comment ends; end the comment with a plain line break",
                });
            }
            i += 1;
        }
        self.pos = i;
        Ok(())
    }

    /// Block comments do not nest in either dialect. SQLite would accept an
    /// unterminated one; the guard does not.
    fn block_comment(&mut self) -> Result<(), GuardError> {
        let start = self.pos;
        let body = self.bytes.get(start + 2..).unwrap_or_default();
        match body.windows(2).position(|w| w == b"*/") {
            Some(k) => {
                self.pos = start + 2 + k + 2;
                Ok(())
            }
            None => Err(GuardError::UnterminatedComment {
                position: self.position(start),
            }),
        }
    }

    fn token(&mut self, start: usize) -> Result<Token, GuardError> {
        let (kind, end) = match self.dialect {
            Dialect::Sqlite => self.sqlite_token(start)?,
            Dialect::Oracle => self.oracle_token(start)?,
        };
        self.pos = end;
        Ok(Token { kind, start, end })
    }

    // -------------------------------------------------------------------------
    // SQLite
    // -------------------------------------------------------------------------

    fn sqlite_token(&self, start: usize) -> Result<(Kind, usize), GuardError> {
        let b = self.byte(start);
        let next = self.byte(start + 1);
        Ok(match b {
            b'\'' => (
                Kind::Str,
                self.quoted_end(start, b'\'', true, "string literal")?,
            ),
            b'"' => (
                Kind::Quoted,
                self.quoted_end(start, b'"', true, "quoted identifier")?,
            ),
            b'`' => (
                Kind::Quoted,
                self.quoted_end(start, b'`', true, "quoted identifier")?,
            ),
            b'[' => (Kind::Quoted, self.bracket_end(start)?),
            b'x' | b'X' if next == b'\'' => (Kind::Str, self.blob_end(start)?),
            b'0'..=b'9' => (Kind::Number, self.sqlite_number_end(start)?),
            b'.' if next.is_ascii_digit() => (Kind::Number, self.sqlite_number_end(start)?),
            b'?' => (Kind::Bind, self.digits_end(start + 1)),
            b':' | b'@' | b'$' | b'#' => (Kind::Bind, self.sqlite_variable_end(start)?),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | 0x80.. => (Kind::Word, self.sqlite_word_end(start)?),
            // Operators SQLite knows; everything else is an illegal token to it.
            b'!' if next == b'=' => (Kind::Punct(b), start + 1),
            b'(' | b')' | b';' | b'+' | b'-' | b'*' | b'/' | b'%' | b'=' | b'<' | b'>' | b'|'
            | b',' | b'&' | b'~' | b'.' => (Kind::Punct(b), start + 1),
            _ => return Err(self.invalid(start)),
        })
    }

    /// Letters, digits, `_`, `$` and any non-ASCII character form one SQLite
    /// identifier. The guard accepts only non-ASCII letters and digits there:
    /// SQLite would glue a no-break space or `¤` into the name, other readers
    /// would not.
    fn sqlite_word_end(&self, start: usize) -> Result<usize, GuardError> {
        let mut i = start;
        while sqlite_id_byte(self.byte(i)) {
            if self.byte(i) >= 0x80 {
                match self.char_at(i) {
                    Some(c) if c.is_alphanumeric() => i += c.len_utf8(),
                    _ => return Err(self.invalid(i)),
                }
            } else {
                i += 1;
            }
        }
        Ok(i)
    }

    /// `x'..'`: an even number of hex digits, or SQLite's illegal token.
    fn blob_end(&self, start: usize) -> Result<usize, GuardError> {
        let mut i = start + 2;
        while self.byte(i).is_ascii_hexdigit() {
            i += 1;
        }
        if self.byte(i) == b'\'' && (i - start - 2).is_multiple_of(2) {
            Ok(i + 1)
        } else if self.bytes.get(i..).is_some_and(|r| r.contains(&b'\'')) {
            Err(GuardError::BadQuoting {
                quoting: "blob literal X'..'",
                advice: "write an even number of hexadecimal digits, e.g. X'0A1B'",
                position: self.position(start),
            })
        } else {
            Err(GuardError::UnterminatedLiteral {
                what: "blob literal",
                position: self.position(start),
            })
        }
    }

    /// SQLite numbers: digits with `_` separators, hex `0x..`, fraction and
    /// exponent. Identifier characters glued to a number make the whole run
    /// one illegal token to SQLite (`1abc`); the guard refuses it.
    fn sqlite_number_end(&self, start: usize) -> Result<usize, GuardError> {
        let digits = |mut i: usize, hex: bool| {
            while self.byte(i) == b'_'
                || (hex && self.byte(i).is_ascii_hexdigit())
                || self.byte(i).is_ascii_digit()
            {
                i += 1;
            }
            i
        };
        let mut i;
        if self.byte(start) == b'0'
            && matches!(self.byte(start + 1), b'x' | b'X')
            && self.byte(start + 2).is_ascii_hexdigit()
        {
            i = digits(start + 2, true);
        } else {
            i = digits(start, false);
            if self.byte(i) == b'.' {
                i = digits(i + 1, false);
            }
            if matches!(self.byte(i), b'e' | b'E') {
                let sign = usize::from(matches!(self.byte(i + 1), b'+' | b'-'));
                if self.byte(i + 1 + sign).is_ascii_digit() {
                    i = digits(i + 1 + sign, false);
                }
            }
        }
        if sqlite_id_byte(self.byte(i)) {
            return Err(self.glued_to_number(i));
        }
        Ok(i)
    }

    /// A name character right after a number: the dialects disagree on where
    /// the number ends (SQLite: one illegal token; Oracle: `1D` is a literal).
    fn glued_to_number(&self, at: usize) -> GuardError {
        match self.char_at(at) {
            Some(c) if c.is_alphanumeric() || c.is_ascii() => GuardError::AmbiguousText {
                ch: c,
                position: self.position(at),
                reason: "glued to a number; put a space between the number and the name",
            },
            _ => self.invalid(at),
        }
    }

    /// `:name`, `@name`, `$name`, `#name`. SQLite also reads Tcl-style
    /// `$name(...)` and `$a::b` as ONE variable up to the `)`, swallowing
    /// quotes and comment markers; the guard refuses both forms.
    fn sqlite_variable_end(&self, start: usize) -> Result<usize, GuardError> {
        let mut i = start + 1;
        while sqlite_id_byte(self.byte(i)) {
            if self.byte(i) >= 0x80 {
                match self.char_at(i) {
                    Some(c) if c.is_alphanumeric() => i += c.len_utf8(),
                    _ => return Err(self.invalid(i)),
                }
            } else {
                i += 1;
            }
        }
        if i == start + 1 {
            return Err(self.invalid(start));
        }
        self.refuse_glued_bind(i)?;
        Ok(i)
    }

    /// A bind followed by `(` or `::` is one token to SQLite's Tcl syntax.
    fn refuse_glued_bind(&self, end: usize) -> Result<(), GuardError> {
        let glued = match self.byte(end) {
            b'(' => true,
            b':' => self.byte(end + 1) == b':',
            _ => false,
        };
        if glued {
            return Err(GuardError::AmbiguousText {
                ch: char::from(self.byte(end)),
                position: self.position(end),
                reason: "right after a bind variable, which SQLite reads as part of the variable's name; put a space after the bind",
            });
        }
        Ok(())
    }

    /// `[...]` ends at the first `]`; nothing inside is special to SQLite.
    fn bracket_end(&self, start: usize) -> Result<usize, GuardError> {
        let body = self.bytes.get(start + 1..).unwrap_or_default();
        match body.iter().position(|&b| b == b']') {
            Some(len) => Ok(start + 1 + len + 1),
            None => Err(GuardError::UnterminatedLiteral {
                what: "quoted identifier",
                position: self.position(start),
            }),
        }
    }

    // -------------------------------------------------------------------------
    // Oracle
    // -------------------------------------------------------------------------

    fn oracle_token(&self, start: usize) -> Result<(Kind, usize), GuardError> {
        let b = self.byte(start);
        let next = self.byte(start + 1);
        Ok(match b {
            b'\'' => (
                Kind::Str,
                self.quoted_end(start, b'\'', true, "string literal")?,
            ),
            // Oracle has no escape inside a quoted identifier: it ends at the
            // next double quote.
            b'"' => (Kind::Quoted, self.oracle_quoted_end(start)?),
            b'0'..=b'9' => (Kind::Number, self.oracle_number_end(start)?),
            b'.' if next.is_ascii_digit() => (Kind::Number, self.oracle_number_end(start)?),
            b':' if oracle_id_byte(next) && next != b'$' && next != b'#' => {
                let mut i = start + 1;
                while oracle_id_byte(self.byte(i)) {
                    i += 1;
                }
                self.refuse_glued_bind(i)?;
                (Kind::Bind, i)
            }
            b'?' => {
                return Err(GuardError::UnsupportedPlaceholder {
                    position: self.position(start),
                });
            }
            // `emp@link`, `emp @ link`, `emp@"LINK"`: `@` has no other use
            // in Oracle SQL.
            b'@' => {
                return Err(GuardError::DatabaseLink {
                    link: self.link_text(start),
                    position: self.position(start),
                });
            }
            b'a'..=b'z' | b'A'..=b'Z' => return self.oracle_word(start),
            0x80.. => match self.char_at(start) {
                Some(c) if c.is_alphabetic() => return self.oracle_word(start),
                _ => return Err(self.invalid(start)),
            },
            b'(' | b')' | b';' | b'+' | b'-' | b'*' | b'/' | b'%' | b'=' | b'<' | b'>' | b'|'
            | b',' | b'&' | b'.' | b'!' | b'^' | b'[' | b']' | b':' | b'~' => {
                (Kind::Punct(b), start + 1)
            }
            _ => return Err(self.invalid(start)),
        })
    }

    /// The `@` and the name after it, for the message.
    fn link_text(&self, at: usize) -> String {
        let rest = self.src.get(at..).unwrap_or_default();
        let end = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '#' | '"' | '.')))
            .map_or(rest.len(), |(k, _)| k);
        super::keywords::clip(&rest.get(..end).unwrap_or_default().to_uppercase())
    }

    /// A word, or a prefixed literal: `N'..'` and the alternative quoting
    /// `q'[..]'` / `nq'[..]'`.
    fn oracle_word(&self, start: usize) -> Result<(Kind, usize), GuardError> {
        let mut i = start;
        loop {
            let b = self.byte(i);
            if oracle_id_byte(b) {
                i += 1;
            } else if b >= 0x80 {
                match self.char_at(i) {
                    Some(c) if c.is_alphanumeric() => i += c.len_utf8(),
                    _ => return Err(self.invalid(i)),
                }
            } else {
                break;
            }
        }
        if self.byte(i) != b'\'' {
            return Ok((Kind::Word, i));
        }
        let prefix = self.bytes.get(start..i).unwrap_or_default();
        if prefix.eq_ignore_ascii_case(b"q") || prefix.eq_ignore_ascii_case(b"nq") {
            Ok((Kind::Str, self.q_quote_end(start, i)?))
        } else if prefix.eq_ignore_ascii_case(b"n") {
            Ok((
                Kind::Str,
                self.quoted_end(i, b'\'', true, "string literal")
                    .map_err(|e| restart(e, self.position(start)))?,
            ))
        } else {
            Ok((Kind::Word, i))
        }
    }

    fn oracle_quoted_end(&self, start: usize) -> Result<usize, GuardError> {
        let body = self.bytes.get(start + 1..).unwrap_or_default();
        match body.iter().position(|&b| b == b'"') {
            Some(0) => Err(GuardError::BadQuoting {
                quoting: "empty quoted identifier \"\"",
                advice: "quoted names cannot be empty or contain a double quote in Oracle",
                position: self.position(start),
            }),
            Some(len) => Ok(start + 1 + len + 1),
            None => Err(GuardError::UnterminatedLiteral {
                what: "quoted identifier",
                position: self.position(start),
            }),
        }
    }

    /// Digits, fraction, exponent and the `f`/`d` suffix of binary floats.
    /// Any other letter glued to a number is refused: Oracle reads `1D` of
    /// `1DELETE` as a BINARY_DOUBLE literal, so its boundaries are subtle.
    fn oracle_number_end(&self, start: usize) -> Result<usize, GuardError> {
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
        if matches!(self.byte(i), b'f' | b'F' | b'd' | b'D') && !oracle_id_byte(self.byte(i + 1)) {
            i += 1;
        }
        if oracle_id_byte(self.byte(i)) || self.byte(i) >= 0x80 {
            return Err(self.glued_to_number(i));
        }
        Ok(i)
    }

    /// Oracle alternative quoting: `q'<delim>...<close>'`, where brackets pair
    /// up and any other delimiter closes itself.
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

    // -------------------------------------------------------------------------
    // Shared
    // -------------------------------------------------------------------------

    fn digits_end(&self, mut i: usize) -> usize {
        while self.byte(i).is_ascii_digit() {
            i += 1;
        }
        i
    }

    /// End of a literal opened at `start` by `quote`, with a doubled quote as
    /// an escape when `doubling`.
    fn quoted_end(
        &self,
        start: usize,
        quote: u8,
        doubling: bool,
        what: &'static str,
    ) -> Result<usize, GuardError> {
        let mut i = start + 1;
        while i < self.bytes.len() {
            if self.byte(i) == quote {
                if doubling && self.byte(i + 1) == quote {
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
}

/// Reports a literal error at the start of its prefix (`N'...`).
fn restart(e: GuardError, position: usize) -> GuardError {
    match e {
        GuardError::UnterminatedLiteral { what, .. } => {
            GuardError::UnterminatedLiteral { what, position }
        }
        other => other,
    }
}
