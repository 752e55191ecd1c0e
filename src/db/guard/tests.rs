use super::*;
use serde::Deserialize;

const CORPUS: &str = include_str!("../../../tests/fixtures/guard_corpus.toml");

const BOTH: [Dialect; 2] = [Dialect::Sqlite, Dialect::Oracle];
const SQLITE: Dialect = Dialect::Sqlite;
const ORACLE: Dialect = Dialect::Oracle;

#[derive(Deserialize)]
struct Corpus {
    reject: Vec<RejectCase>,
    accept: Vec<AcceptCase>,
}

#[derive(Deserialize)]
struct RejectCase {
    sql: String,
    why: String,
    expect: String,
    #[serde(default)]
    dialects: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct AcceptCase {
    sql: String,
    why: String,
    #[serde(default)]
    dialects: Option<Vec<String>>,
}

fn dialects_of(names: &Option<Vec<String>>) -> Vec<Dialect> {
    match names {
        None => BOTH.to_vec(),
        Some(n) => n
            .iter()
            .map(|d| match d.as_str() {
                "sqlite" => SQLITE,
                "oracle" => ORACLE,
                other => panic!("unknown dialect {other} in the corpus"),
            })
            .collect(),
    }
}

fn corpus() -> Corpus {
    toml::from_str(CORPUS).expect("guard corpus parses")
}

fn err_in(sql: &str, d: Dialect) -> GuardError {
    match check_read_only(sql, d) {
        Ok(q) => panic!("{d:?} accepted {sql:?} as {q:?}"),
        Err(e) => e,
    }
}

fn ok_in(sql: &str, d: Dialect) -> ReadOnlyQuery<'_> {
    check_read_only(sql, d).unwrap_or_else(|e| panic!("{d:?} refused {sql:?}: {e}"))
}

/// Refused in both dialects with the same code.
fn code(sql: &str) -> &'static str {
    let s = err_in(sql, SQLITE).code();
    let o = err_in(sql, ORACLE).code();
    assert_eq!(s, o, "dialects disagree on {sql:?}");
    s
}

fn err(sql: &str) -> GuardError {
    let e = err_in(sql, ORACLE);
    assert_eq!(err_in(sql, SQLITE).code(), e.code(), "{sql:?}");
    e
}

fn ok(sql: &str) -> ReadOnlyQuery<'_> {
    ok_in(sql, SQLITE);
    ok_in(sql, ORACLE)
}

#[test]
fn corpus_has_enough_cases() {
    let c = corpus();
    assert!(c.reject.len() >= 60, "{} rejects", c.reject.len());
    assert!(c.accept.len() >= 40, "{} accepts", c.accept.len());
}

#[test]
fn corpus_rejects_with_expected_code() {
    let mut failures = Vec::new();
    for case in corpus().reject {
        for d in dialects_of(&case.dialects) {
            match check_read_only(&case.sql, d) {
                Ok(q) => failures.push(format!(
                    "{d:?} accepted {:?} ({}): {q:?}",
                    case.sql, case.why
                )),
                Err(e) if e.code() != case.expect => failures.push(format!(
                    "{d:?} {:?} ({}): expected {}, got {} ({e})",
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_accepts() {
    let mut failures = Vec::new();
    for case in corpus().accept {
        for d in dialects_of(&case.dialects) {
            match check_read_only(&case.sql, d) {
                Ok(q) => {
                    assert!(!q.sql().ends_with(';'), "{:?}", q.sql());
                    assert_eq!(q.sql(), q.sql().trim(), "{:?}", case.sql);
                    assert!(case.sql.contains(q.sql()));
                    // Accepting is idempotent: the trimmed form passes unchanged.
                    assert_eq!(check_read_only(q.sql(), d), Ok(q), "{:?}", case.sql);
                }
                Err(e) => failures.push(format!("{d:?} {:?} ({}): {e}", case.sql, case.why)),
            }
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
        ("SELECT 'a;' || 'b'", "SELECT 'a;' || 'b'"),
        ("SELECT 1 -- x\n FROM dual", "SELECT 1 -- x\n FROM dual"),
        ("SELECT 1\r\n-- c\r\n", "SELECT 1"),
    ];
    for (input, want) in cases {
        for d in BOTH {
            assert_eq!(ok_in(input, d).sql(), want, "{d:?} {input:?}");
        }
    }
    // SQL*Plus's run line ends an Oracle statement; SQLite has no such thing.
    let oracle_only = [
        ("SELECT 1\n/", "SELECT 1"),
        ("SELECT 1\n  /  \n", "SELECT 1"),
        ("SELECT 1;\n/\n", "SELECT 1"),
        ("SELECT 1\r\n/\r\n", "SELECT 1"),
        ("SELECT 1\n/ -- run it", "SELECT 1"),
    ];
    for (input, want) in oracle_only {
        assert_eq!(ok_in(input, ORACLE).sql(), want, "{input:?}");
    }
    assert_eq!(
        err_in("SELECT 1;\n/\n", SQLITE).code(),
        "multiple_statements"
    );
}

#[test]
fn slash_at_line_start_is_division_in_oracle() {
    let q = ok_in("SELECT total\n/ 2 AS half FROM orders", ORACLE);
    assert_eq!(q.sql(), "SELECT total\n/ 2 AS half FROM orders");
    ok_in("SELECT a\n/\nb FROM t", ORACLE);
    // Still one statement: ORDS never sees the text as a script.
    assert_eq!(
        err_in("SELECT 1 FROM dual\n/\nDELETE FROM t", ORACLE).code(),
        "forbidden_keyword"
    );
}

#[test]
fn reports_kind() {
    assert_eq!(ok("select 1").kind(), QueryKind::Select);
    assert_eq!(
        ok("WITH a AS (SELECT 1) SELECT * FROM a").kind(),
        QueryKind::With
    );
    assert_eq!(
        ok_in("with recursive a(n) as (select 1) select n from a", SQLITE).kind(),
        QueryKind::With
    );
    assert_eq!(ok("VALUES (1)").kind(), QueryKind::Values);
    assert_eq!(
        ok("((SELECT 1)) UNION (SELECT 2)").kind(),
        QueryKind::Parenthesized
    );
    assert_eq!(
        ok("(WITH a AS (SELECT 1) SELECT * FROM a)").kind(),
        QueryKind::Parenthesized
    );
    assert_eq!(ok_in("SELECT 1", ORACLE).dialect(), ORACLE);
    assert_eq!(ok_in("SELECT 1", SQLITE).dialect(), SQLITE);
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
            "SELECT 1 -- note\u{0C}x\nFROM dual",
            "character U+000C at character 17 is ambiguous: inside a -- comment, where readers disagree on where the comment ends; end the comment with a plain line break",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(err(sql).to_string(), want, "{sql:?}");
    }
    assert_eq!(
        err_in("SELECT * FROM emp@LINK1", ORACLE).to_string(),
        "database links are not allowed (the query must stay in this database); found @LINK1 at character 18"
    );
    assert_eq!(
        err_in("SELECT * FROM t WHERE a = ?", ORACLE).to_string(),
        "placeholder ? at character 27 is not supported here; use named binds such as :id with params {\"id\": ...}"
    );
    assert_eq!(
        err_in("SELECT :a(x) FROM t", SQLITE).to_string(),
        "character U+0028 ('(') at character 10 is ambiguous: right after a bind variable, which SQLite reads as part of the variable's name; put a space after the bind"
    );
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
        err_in("SELECT 'é', q'[x", ORACLE),
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
        ("SELECT 'x", "unterminated_literal"),
        ("SELECT /*", "unterminated_comment"),
        ("SELECT\u{00A0}1", "invalid_character"),
        ("SELECT 1 -- a\rb", "ambiguous_text"),
    ];
    for (sql, want) in cases {
        assert_eq!(code(sql), want, "{sql:?}");
    }
    assert_eq!(err_in("SELECT * FROM t@l", ORACLE).code(), "database_link");
    assert_eq!(err_in("SELECT `a", ORACLE).code(), "invalid_character");
    assert_eq!(err_in("SELECT X'ABC'", SQLITE).code(), "bad_quoting");
    assert_eq!(err_in("SELECT ?", ORACLE).code(), "unsupported_placeholder");
}

#[test]
fn earliest_problem_wins() {
    // The DELETE comes before the broken literal, so it is what gets reported.
    assert_eq!(code("DELETE FROM t WHERE x = 'abc"), "forbidden_keyword");
    // An unterminated literal right after a lone keyword is still a lexer error.
    assert_eq!(code("SELECT 1; 'abc"), "unterminated_literal");
    assert_eq!(code("( 'abc"), "unterminated_literal");
    assert_eq!(code("'abc"), "unterminated_literal");
}

#[test]
fn placeholders_skip_literals_and_comments() {
    let sql = "SELECT ':no', \":no\" /* :no */ FROM t -- :no\nWHERE a = :a AND b = :b_2 OR d = :1 OR e = :a";
    for d in BOTH {
        let found: Vec<(&str, Option<&str>)> = super::placeholders(sql, d)
            .expect("lexes")
            .iter()
            .map(|p| (p.text, p.name()))
            .collect();
        assert_eq!(
            found,
            vec![
                (":a", Some("a")),
                (":b_2", Some("b_2")),
                (":1", None),
                (":a", Some("a")),
            ],
            "{d:?}"
        );
    }
    let sqlite: Vec<&str> = super::placeholders("SELECT ?, ?2, @a, $b, #c", SQLITE)
        .expect("lexes")
        .iter()
        .map(|p| p.text)
        .collect();
    assert_eq!(sqlite, vec!["?", "?2", "@a", "$b", "#c"]);
    assert!(matches!(
        super::placeholders("UPDATE t SET a = :a; DELETE FROM t", ORACLE),
        Err(GuardError::MultipleStatements { .. })
    ));
    assert_eq!(
        super::placeholders("DELETE FROM t WHERE id = :id;", SQLITE).map(|p| p.len()),
        Ok(1)
    );
    assert!(super::placeholders("SELECT 'open", SQLITE).is_err());
}

#[test]
fn nul_is_refused_everywhere() {
    for sql in ["SELECT '\0'", "SELECT 1 -- \0", "SELECT 1\0; DELETE FROM t"] {
        for d in BOTH {
            assert!(
                matches!(
                    err_in(sql, d),
                    GuardError::InvalidCharacter { ch: '\0', .. }
                ),
                "{d:?} {sql:?}"
            );
        }
    }
}

#[test]
fn long_names_are_clipped_in_messages() {
    let long = "X".repeat(5000);
    let msg = err(&long).to_string();
    assert!(msg.chars().count() <= 200, "{msg}");
    let msg = err(&format!("SELECT DBMS_CLOUD_{long}.x() FROM dual")).to_string();
    assert!(msg.chars().count() <= 200, "{msg}");
    let msg = err_in(&format!("SELECT 1 FROM t@{long}"), ORACLE).to_string();
    assert!(msg.chars().count() <= 200, "{msg}");
}

#[test]
fn keyword_substrings_and_quoted_keywords_pass() {
    for sql in [
        "SELECT update_date, deleted_at, created_by, insert_ts, dropped FROM t",
        "SELECT \"delete\", \"DROP\", \"into\", \"begin\", \"utl_http\" FROM t",
        "SELECT x AS \"MY_NOTE\" FROM t WHERE y = 'DBMS_SQL'",
        "SELECT regexp_replace(a, 'x', 'y'), replace(b, 'x') FROM t",
        "SELECT * FROM t WHERE c = :r",
    ] {
        ok(sql);
    }
    ok_in(
        "SELECT * FROM t WHERE a = @p AND b = $q AND d = ?1 AND e = ?",
        SQLITE,
    );
    assert_eq!(code("SELECT \"DBMS_SQL\".x FROM t"), "forbidden_call");
    assert_eq!(
        code("SELECT \"SYS\".\"UTL_HTTP\".request('u') FROM t"),
        "forbidden_call"
    );
    assert_eq!(
        code("SELECT \"SYS.UTL_HTTP\".request('u') FROM t"),
        "forbidden_call"
    );
    assert_eq!(code("SELECT \"load_extension\"('x')"), "forbidden_call");
}

/// Issue 11, item 1: the guard and the database must read comments alike.
#[test]
fn comment_line_breaks_are_never_read_two_ways() {
    for breaker in ["\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}"] {
        let sql = format!("SELECT 1 -- {breaker}'\n, pwned() --'");
        for d in BOTH {
            assert_eq!(err_in(&sql, d).code(), "ambiguous_text", "{d:?} {sql:?}");
        }
    }
    // CRLF is a line break everywhere.
    ok("SELECT 1 -- note\r\nFROM t");
    // A quote after a properly ended comment opens a real literal.
    assert_eq!(code("SELECT 1 -- c\n'"), "unterminated_literal");
    // Vertical tab and friends outside comments.
    assert_eq!(code("SELECT\u{0B}1"), "invalid_character");
    assert_eq!(code("SELECT\u{2028}1"), "invalid_character");
    // Form feed is whitespace to SQLite, refused for Oracle.
    ok_in("SELECT\u{0C}1", SQLITE);
    assert_eq!(err_in("SELECT\u{0C}1", ORACLE).code(), "invalid_character");
}

/// Issue 11, item 2: SQLite's Tcl variables swallow text up to `)`.
#[test]
fn tcl_style_binds_are_refused() {
    for sql in [
        "SELECT :a(') FROM t WHERE pwned() --') FROM t",
        "SELECT $a(/*) , pwned() --*/) FROM t",
        "SELECT @a(x) FROM t",
        "SELECT #a(x) FROM t",
        "SELECT $a::b FROM t",
        "SELECT :a::b FROM t",
    ] {
        assert_eq!(err_in(sql, SQLITE).code(), "ambiguous_text", "{sql:?}");
        assert!(check_read_only(sql, ORACLE).is_err(), "{sql:?}");
    }
    ok_in("SELECT * FROM t WHERE a = :a AND b IN (:b, :c)", SQLITE);
    ok_in("SELECT :a , (:b) FROM t", SQLITE);
}

/// Issue 11, item 3: no q-literal re-reading; each dialect reads its own way.
#[test]
fn q_literals_belong_to_oracle_only() {
    let sql = "SELECT q'[Don't drop the ball]' FROM dual";
    assert_eq!(ok_in(sql, ORACLE).sql(), sql);
    assert!(check_read_only(sql, SQLITE).is_err());
    // SQLite reads the would-be literal as code: refused, whatever follows.
    assert_eq!(
        err_in("SELECT q'[x' , load_extension('a') --]' FROM t", SQLITE).code(),
        "forbidden_call"
    );
    // Read SQLite's way, what SQLite runs is what the guard checked.
    let q = ok_in("SELECT q'[x' , pwned() --]' FROM t", SQLITE);
    assert_eq!(q.sql(), "SELECT q'[x' , pwned()");
    // The old re-reading stopped at characters its lexer refused; now the
    // SQLite reading is the whole reading.
    assert_eq!(
        ok_in("SELECT q'[x/y]', '¤'", SQLITE).sql(),
        "SELECT q'[x/y]', '¤'"
    );
    assert_eq!(
        err_in("SELECT q'[x/y]', '¤', load_extension('z') --]'", SQLITE).code(),
        "forbidden_call"
    );
    ok_in("SELECT q'{a;b}', nq'<c>' FROM dual", ORACLE);
}

#[test]
fn sqlite_brackets_and_backticks_are_identifiers() {
    let sql = "SELECT [Unit Price (USD)], `odd name` FROM products";
    assert_eq!(ok_in(sql, SQLITE).sql(), sql);
    ok_in("SELECT [a;b] FROM t", SQLITE);
    // In Oracle brackets are JSON array steps, never quoting.
    ok_in("SELECT t.doc.items[0] FROM t", ORACLE);
    assert_eq!(
        err_in("SELECT [a;b] FROM t", ORACLE).code(),
        "multiple_statements"
    );
}

#[test]
fn numbers_glued_to_names_are_refused() {
    for d in BOTH {
        assert_eq!(err_in("SELECT 1DELETE", d).code(), "ambiguous_text");
        assert_eq!(err_in("SELECT 1abc FROM t", d).code(), "ambiguous_text");
    }
    ok_in("SELECT 1_000, 0x1F, 1e5, .5, 3. FROM t", SQLITE);
    ok_in("SELECT 1.5f, 2d, 1e-3 FROM dual", ORACLE);
}

/// Issue 11, item 7: database links, Select AI and package gaps.
#[test]
fn links_select_ai_and_packages() {
    for sql in [
        "SELECT * FROM emp @ link",
        "SELECT * FROM emp@/*c*/link",
        "SELECT * FROM emp@\"LINK\"",
        "SELECT * FROM \"EMP\"@link",
    ] {
        assert_eq!(err_in(sql, ORACLE).code(), "database_link", "{sql:?}");
    }
    for sql in [
        "SELECT AI showsql how many customers",
        "SELECT AI WHERE is the money",
        "SELECT AI IS there a table",
        "SELECT AI FOR each region",
        "SELECT AI 5 most valuable customers",
        "SELECT AI what FROM sales",
        "SELECT AI 'how many customers'",
    ] {
        let e = err_in(sql, ORACLE);
        assert_eq!(e.code(), "forbidden_call", "{sql:?}");
        assert!(e.to_string().contains("SELECT AI"), "{e}");
    }
    for sql in [
        "SELECT ai FROM t",
        "SELECT ai, b FROM t",
        "SELECT ai AS x FROM t",
        "SELECT ai || 'x' FROM t",
        "SELECT ai.col FROM t ai",
    ] {
        ok_in(sql, ORACLE);
    }
    for sql in [
        "SELECT apex_ldap.authenticate('u', 'p', 'h') FROM dual",
        "SELECT apex_util.get_print_document('a', 'b') FROM dual",
        "SELECT apex_ai.generate('x') FROM dual",
        "SELECT * FROM TABLE(apex_plugin_util.get_display_data('x'))",
        "SELECT to_clob(bfilename('DIR', 'passwd')) FROM dual",
        "SELECT dbms_lob.substr(bfilename('DIR', 'f'), 100) FROM dual",
        "SELECT dbms_utility.exec_ddl_statement('drop table t') FROM dual",
        "SELECT sys.dbms_sql.open_cursor FROM dual",
        "SELECT HTTPURITYPE('http://attacker.example/').GETCLOB() FROM dual",
        "SELECT sys.urifactory.getUri('http://x') FROM dual",
    ] {
        assert_eq!(err_in(sql, ORACLE).code(), "forbidden_call", "{sql:?}");
    }
}

/// Issue 11, item 8: legitimate reads the old guard refused.
#[test]
fn legitimate_reads_are_accepted() {
    for sql in [
        "SELECT JSON_TRANSFORM(doc, INSERT '$.a' = 1, REPLACE '$.b' = 2, RENAME '$.c' = 'd') FROM t",
        "SELECT JSON_TRANSFORM(doc, SET '$.a' = 1, REMOVE '$.b', APPEND '$.c' = 3) FROM t",
        "SELECT utl_pct, dbms_flag FROM t",
        "SELECT * FROM apex_mail_queue",
        "SELECT * FROM \"APEX_MAIL_QUEUE\"",
        "SELECT q'[Don't drop the ball]' FROM dual",
        "SELECT country, prod, year, s FROM sales MODEL PARTITION BY (country) DIMENSION BY (prod, year) MEASURES (sale s) RULES UPSERT (s[prod = 'A', 2001] = 1, UPDATE s['B', 2002] = 2, UPSERT ALL s[ANY, 2003] = 3)",
        "SELECT * FROM t MODEL DIMENSION BY (a) MEASURES (b) RULES AUTOMATIC ORDER ITERATE (3) UNTIL (b[1] > 5) (UPSERT b[1] = b[1] + 1)",
        "SELECT JSON_SERIALIZE(doc RETURNING VARCHAR2(20) TRUNCATE) FROM t",
        "SELECT LISTAGG(name, ',' ON OVERFLOW TRUNCATE) WITHIN GROUP (ORDER BY name) FROM t",
        "SELECT dbms_utility.get_time, dbms_utility.get_hash_value('x', 1, 100) FROM dual",
        "SELECT begin, ai, \"end\" FROM t",
        "SELECT total\n/ 2 FROM orders",
        "SELECT * FROM apex_240200.apex_applications",
    ] {
        ok_in(sql, ORACLE);
    }
    for sql in [
        "SELECT [Unit Price (USD)] FROM t",
        "SELECT * FROM pragma_table_list",
        "SELECT begin FROM t",
    ] {
        ok_in(sql, SQLITE);
    }
    // The exemptions are narrow: DML words elsewhere still count.
    assert_eq!(
        err_in(
            "SELECT JSON_TRANSFORM(doc, SET '$.a' = 1) FROM t WHERE x IN (INSERT)",
            ORACLE
        )
        .code(),
        "forbidden_keyword"
    );
    assert_eq!(
        err_in(
            "SELECT json_transform FROM t UNION SELECT 1 FROM t WHERE (UPDATE)",
            ORACLE
        )
        .code(),
        "forbidden_keyword"
    );
    assert_eq!(
        err_in(
            "SELECT JSON_TRANSFORM(doc, INSERT '$.a' = 1) FROM t",
            SQLITE
        )
        .code(),
        "forbidden_keyword"
    );
    assert_eq!(
        err_in("SELECT rules FROM t WHERE a IN (UPDATE)", ORACLE).code(),
        "forbidden_keyword"
    );
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
    for d in BOTH {
        match check_read_only(input, d) {
            Ok(q) => {
                assert!(!q.sql().is_empty(), "{input:?}");
                assert!(!q.sql().ends_with(';'), "{input:?}");
                assert_eq!(check_read_only(q.sql(), d), Ok(q), "{input:?}");
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert!(!e.code().is_empty());
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let alphabet: &[u8] =
        b"SELECTFROMWHEREdeleteq'\"`[]()/*-;\n\r\t\x0b\x0c :?@$#.,0123456789xXnN!{}<>";
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
        .chain(c.accept.iter().map(|a| a.sql.clone()))
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
        "\u{0C}", "\r", ":a(", "@",
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
fn deep_and_long_input_is_linear_and_bounded() {
    let deep = format!(
        "SELECT {}1{} FROM t",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    ok(&deep);
    let many = "SELECT 1;".repeat(100_000);
    assert_eq!(code(&many), "multiple_statements");
    let calls = format!(
        "SELECT {}1{}",
        "json_transform(".repeat(50_000),
        ")".repeat(50_000)
    );
    ok_in(&calls, ORACLE);
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn speed() {
    let sql = "SELECT e.employee_id, e.first_name, d.department_name, SUM(o.total_amount) AS total \
               FROM employees e JOIN departments d ON d.department_id = e.department_id \
               LEFT JOIN orders o ON o.sales_rep_id = e.employee_id WHERE e.salary > 1000 \
               GROUP BY 1, 2, 3 ORDER BY total DESC";
    let n = 200_000;
    for d in BOTH {
        let start = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(check_read_only(std::hint::black_box(sql), d).is_ok());
        }
        let per = start.elapsed() / n;
        println!("{d:?}: {} chars: {per:?} per call", sql.len());
    }
}
