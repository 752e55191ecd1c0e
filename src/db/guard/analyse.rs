//! The classifier: one statement, starting like a query, with nothing in it
//! that changes data, runs code or leaves the database. It works on the
//! tokens of one dialect's lexer and fails closed.

use super::keywords::{Norm, Rule, SELECT_AI_ACTIONS, TXN, clip, keyword, package_reason};
use super::lexer::{Kind, Token};
use super::{Dialect, GuardError, QueryKind, char_pos};

/// A statement that passed: its kind and the byte range to send.
pub(super) struct Accepted {
    pub(super) kind: QueryKind,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct Analyzer<'s> {
    pub(super) src: &'s str,
    pub(super) dialect: Dialect,
    /// Where the lexer gave up; every token before it is complete.
    pub(super) lex_error: Option<GuardError>,
}

/// Constructs whose arguments may hold words that are keywords elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Construct {
    /// `JSON_TRANSFORM(doc, INSERT '$.a' = 1, REPLACE ...)`.
    JsonTransform,
    /// `MODEL ... RULES (UPSERT s[1] = 2, UPDATE ...)`.
    ModelRules,
}

/// What the walk over a statement's tokens remembers.
#[derive(Default)]
struct Walk {
    depth: usize,
    /// The shallowest depth at which a WITH appeared, to tell a DML CTE body
    /// (`WITH x AS (DELETE ...)`) from DML after a WITH clause.
    with_depth: Option<usize>,
    /// Open constructs with the depth of their argument list.
    open: Vec<(usize, Construct)>,
    /// The next `(` opens this construct's argument list.
    pending: Option<Construct>,
    /// After `ITERATE (n)` / `UNTIL (c)` closes back to this depth, the
    /// MODEL rules list is expected again.
    resume_rules_at: Option<usize>,
}

impl Walk {
    fn inside(&self, c: Construct) -> bool {
        self.open.last() == Some(&(self.depth, c))
    }
}

/// Whether the `/` at `slash` is an SQL*Plus run line: only blanks before it
/// on its line and nothing but blanks, a comment or a `;` after it.
fn slash_line_at(bytes: &[u8], slash: usize) -> bool {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
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

impl<'s> Analyzer<'s> {
    pub(super) fn run(mut self, toks: &[Token]) -> Result<Accepted, GuardError> {
        let semi = toks.iter().position(|t| t.kind == Kind::Punct(b';'));
        let mut body = toks.get(..semi.unwrap_or(toks.len())).unwrap_or_default();
        let mut tail = semi.and_then(|s| toks.get(s + 1..)).unwrap_or_default();
        // Oracle scripts end a statement with a `/` line; only a final one is
        // a terminator (elsewhere `/` is division).
        if self.dialect == Dialect::Oracle {
            if let [t] = tail
                && self.is_slash_line(t)
            {
                tail = &[];
            } else if tail.is_empty()
                && semi.is_none()
                && let Some((last, rest)) = body.split_last()
                && self.is_slash_line(last)
            {
                body = rest;
            }
            // A second run line would run the statement twice.
            if let Some(last) = body.last()
                && self.is_slash_line(last)
                && body.len() < toks.len()
            {
                return Err(self.multiple(last.start));
            }
        }

        let (Some(first), Some(last)) = (body.first(), body.last()) else {
            return match tail.first() {
                None => Err(self.at_end(GuardError::Empty)),
                Some(t) => Err(self.multiple(t.start)),
            };
        };

        let kind = self.classify(body)?;
        self.check_body(body)?;
        if let Some(t) = tail.first() {
            return Err(self.multiple(t.start));
        }
        if let Some(e) = self.lex_error.take() {
            return Err(e);
        }
        Ok(Accepted {
            kind,
            start: first.start,
            end: last.end,
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

    /// An unquoted word, folded for the keyword tables.
    fn norm(&self, t: &Token) -> Option<Norm> {
        (t.kind == Kind::Word)
            .then(|| Norm::of(self.text(t)))
            .flatten()
    }

    /// The name a word or quoted identifier stands for, folded.
    fn name(&self, t: &Token) -> Option<Norm> {
        match t.kind {
            Kind::Word => Norm::of(self.text(t)),
            Kind::Quoted => Norm::of(self.quoted_inner(t)),
            _ => None,
        }
    }

    fn quoted_inner(&self, t: &Token) -> &'s str {
        self.src
            .get(t.start + 1..t.end.saturating_sub(1))
            .unwrap_or_default()
    }

    fn word_is(&self, t: Option<&Token>, kw: &[u8]) -> bool {
        t.and_then(|t| self.norm(t))
            .is_some_and(|n| n.bytes() == kw)
    }

    fn word_in(&self, t: Option<&Token>, kws: &[&[u8]]) -> bool {
        t.and_then(|t| self.norm(t))
            .is_some_and(|n| kws.contains(&n.bytes()))
    }

    fn is_punct(t: Option<&Token>, c: u8) -> bool {
        t.is_some_and(|t| t.kind == Kind::Punct(c))
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
        if let Err(e) = self.check_token(body, i, i, &mut Walk::default()) {
            return e;
        }
        let found = match t.kind {
            Kind::Word => clip(&self.text(t).to_uppercase()),
            Kind::Quoted => "a quoted identifier".to_owned(),
            Kind::Str => "a string literal".to_owned(),
            Kind::Number => format!("the number {}", clip(self.text(t))),
            Kind::Bind => "a bind variable".to_owned(),
            Kind::Punct(c) => format!("'{}'", char::from(c)),
        };
        GuardError::NotAQuery { found }
    }

    pub(super) fn check_body(&self, body: &[Token]) -> Result<(), GuardError> {
        let first_word = body
            .iter()
            .position(|t| t.kind != Kind::Punct(b'('))
            .unwrap_or(0);
        let mut walk = Walk::default();
        for i in 0..body.len() {
            self.check_token(body, i, first_word, &mut walk)?;
        }
        Ok(())
    }

    fn check_token(
        &self,
        body: &[Token],
        i: usize,
        first_word: usize,
        w: &mut Walk,
    ) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        match t.kind {
            Kind::Word => {
                self.check_word(body, i, i == first_word, w)?;
                self.check_qualified(body, i)
            }
            Kind::Quoted => self.check_qualified(body, i),
            Kind::Punct(b'(') => {
                w.depth += 1;
                if let Some(c) = w.pending.take() {
                    w.open.push((w.depth, c));
                }
                Ok(())
            }
            Kind::Punct(b')') => {
                if w.open.last().is_some_and(|&(d, _)| d == w.depth) {
                    w.open.pop();
                }
                w.depth = w.depth.saturating_sub(1);
                if w.resume_rules_at == Some(w.depth) {
                    w.resume_rules_at = None;
                    w.pending = Some(Construct::ModelRules);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_word(
        &self,
        body: &[Token],
        i: usize,
        at_start: bool,
        w: &mut Walk,
    ) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        let Some(norm) = self.norm(t) else {
            return Ok(());
        };
        let word = norm.bytes();
        let prev = i.checked_sub(1).and_then(|p| body.get(p));
        let next = body.get(i + 1);
        let next_is_paren = Self::is_punct(next, b'(');
        let oracle = self.dialect == Dialect::Oracle;
        // Computed only on the error path: counting characters is O(n).
        let position = || self.pos(t.start);
        let forbidden = |category| GuardError::ForbiddenKeyword {
            keyword: norm.text(),
            category,
            position: position(),
        };

        if oracle {
            self.track_constructs(word, next_is_paren, w);
        }

        match keyword(word) {
            Some(Rule::Dml) => {
                // replace(str, from, to) is a string function in both dialects.
                if word == b"REPLACE" && next_is_paren {
                    return Ok(());
                }
                if word == b"UPDATE" && self.word_is(prev, b"FOR") {
                    return Err(GuardError::ForUpdate {
                        position: position(),
                    });
                }
                let after_separator = Self::is_punct(prev, b'(') || Self::is_punct(prev, b',');
                if oracle {
                    // The MODEL clause only rewrites cells of the query result.
                    let model_option = matches!(word, b"UPDATE" | b"UPSERT")
                        && (self.word_is(prev, b"RULES")
                            || (w.inside(Construct::ModelRules) && after_separator));
                    // JSON_TRANSFORM operations edit a JSON value, not a table.
                    let json_operation = matches!(word, b"INSERT" | b"REPLACE" | b"MERGE")
                        && w.inside(Construct::JsonTransform)
                        && after_separator;
                    if model_option || json_operation {
                        return Ok(());
                    }
                }
                if w.with_depth.is_some_and(|d| w.depth > d) {
                    return Err(GuardError::DataModifyingCte {
                        keyword: norm.text(),
                        position: position(),
                    });
                }
                Err(forbidden("data modification"))
            }
            Some(Rule::Block) if at_start => {
                const TXN_MODES: &[&[u8]] =
                    &[b"TRANSACTION", b"DEFERRED", b"IMMEDIATE", b"EXCLUSIVE"];
                if next.is_none() || self.word_in(next, TXN_MODES) {
                    Err(forbidden(TXN))
                } else {
                    Err(GuardError::PlsqlBlock {
                        keyword: norm.text(),
                        position: position(),
                    })
                }
            }
            Some(Rule::AtStart(category)) if at_start => Err(forbidden(category)),
            Some(Rule::Into) => Err(GuardError::SelectInto {
                position: position(),
            }),
            Some(Rule::QueryStart(QueryKind::With)) => {
                if self.word_in(next, &[b"FUNCTION", b"PROCEDURE"]) {
                    return Err(GuardError::InlinePlsql {
                        position: position(),
                    });
                }
                w.with_depth = Some(w.with_depth.map_or(w.depth, |d| d.min(w.depth)));
                Ok(())
            }
            Some(Rule::QueryStart(QueryKind::Select)) if oracle => self.check_select_ai(body, i),
            Some(Rule::Anywhere(category)) => Err(forbidden(category)),
            Some(Rule::Call(reason)) if next_is_paren => Err(GuardError::ForbiddenCall {
                name: clip(&norm.text()),
                reason,
                position: position(),
            }),
            _ => Ok(()),
        }
    }

    /// Notes where JSON_TRANSFORM's and MODEL's argument lists open:
    /// `RULES [UPDATE | UPSERT [ALL]] [AUTOMATIC | SEQUENTIAL ORDER]
    /// [ITERATE (n) [UNTIL (c)]] (rule, ...)`.
    fn track_constructs(&self, word: &[u8], next_is_paren: bool, w: &mut Walk) {
        const RULES_PREAMBLE: &[&[u8]] = &[
            b"UPDATE",
            b"UPSERT",
            b"ALL",
            b"AUTOMATIC",
            b"SEQUENTIAL",
            b"ORDER",
        ];
        match word {
            b"JSON_TRANSFORM" if next_is_paren => w.pending = Some(Construct::JsonTransform),
            b"RULES" => w.pending = Some(Construct::ModelRules),
            // Their own parentheses come first; the rules list follows them.
            b"ITERATE" | b"UNTIL" if w.pending == Some(Construct::ModelRules) => {
                w.pending = None;
                w.resume_rules_at = Some(w.depth);
            }
            _ if w.pending == Some(Construct::ModelRules) && !RULES_PREAMBLE.contains(&word) => {
                w.pending = None;
            }
            _ => {}
        }
    }

    /// Packages and functions, named plainly or quoted: `utl_http.request(`,
    /// `"SYS"."DBMS_SQL".x`, `"load_extension"(`. A name alone is just a
    /// name (a column `utl_pct`, a view `APEX_MAIL_QUEUE`): only a qualified
    /// reference or a call can reach code.
    fn check_qualified(&self, body: &[Token], i: usize) -> Result<(), GuardError> {
        let Some(t) = body.get(i) else {
            return Ok(());
        };
        let next = body.get(i + 1);
        let dotted = Self::is_punct(next, b'.');
        let called = Self::is_punct(next, b'(');
        // Names inside one quoted identifier ("SYS.UTL_HTTP") count as parts.
        let text = match t.kind {
            Kind::Quoted => self.quoted_inner(t),
            _ => self.text(t),
        };
        if !dotted && !called && !text.contains('.') {
            return Ok(());
        }
        let mut parts = text.split('.').peekable();
        let member = if dotted {
            body.get(i + 2).and_then(|m| self.name(m))
        } else {
            None
        };
        let refuse = |n: &Norm, reason| GuardError::ForbiddenCall {
            name: clip(&n.text()),
            reason,
            position: self.pos(t.start),
        };
        while let Some(part) = parts.next() {
            let Some(n) = Norm::of(part) else {
                continue;
            };
            if let Some(following) = parts.peek() {
                let following = Norm::of(following);
                if let Some(reason) = package_reason(n.bytes(), following.as_ref().map(Norm::bytes))
                {
                    return Err(refuse(&n, reason));
                }
            } else if dotted || called {
                // `utl_http.request(`, and types called as constructors:
                // `HTTPURITYPE('http://…').getclob()`.
                if let Some(reason) = package_reason(n.bytes(), member.as_ref().map(Norm::bytes)) {
                    return Err(refuse(&n, reason));
                }
                if called
                    && t.kind == Kind::Quoted
                    && let Some(Rule::Call(reason)) = keyword(n.bytes())
                {
                    return Err(refuse(&n, reason));
                }
            }
        }
        Ok(())
    }

    /// `SELECT AI <prompt>` on Autonomous Database sends the prompt and schema
    /// to an external model; the prompt is free text, so anything but what can
    /// follow a column named `ai` is taken for one.
    fn check_select_ai(&self, body: &[Token], i: usize) -> Result<(), GuardError> {
        let Some(ai) = body.get(i + 1) else {
            return Ok(());
        };
        if !self.word_is(Some(ai), b"AI") {
            return Ok(());
        }
        let after = body.get(i + 2);
        let like_a_column = match after {
            None => true,
            Some(t) => match t.kind {
                Kind::Punct(c) => !matches!(c, b'(' | b'['),
                Kind::Word => {
                    self.word_in(Some(t), &[b"FROM", b"AS"])
                        && !self.word_in(after, SELECT_AI_ACTIONS)
                }
                _ => false,
            },
        };
        if like_a_column {
            return Ok(());
        }
        Err(GuardError::ForbiddenCall {
            name: "SELECT AI".to_owned(),
            reason: "sends a prompt to an external AI service; for a column named ai write ai AS name",
            position: self.pos(ai.start),
        })
    }
}
