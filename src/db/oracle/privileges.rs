//! The privilege check on Oracle: what the connected user can do beyond
//! reading, read from the dictionary views any user may query about
//! itself, with the statement that revokes each finding.
//!
//! Views read (all visible to a least-privilege user unless noted):
//! `USER_USERS`; `SESSION_PRIVS`, `USER_SYS_PRIVS`, `ROLE_SYS_PRIVS`
//! (system privileges, effective and by origin); `USER_ROLE_PRIVS`,
//! `SESSION_ROLES`, `ROLE_ROLE_PRIVS` (roles and what they contain);
//! `USER_SCHEMA_PRIVS`, `ROLE_SCHEMA_PRIVS` (schema privileges, 23ai and
//! later; absent before, which is not a gap); `ALL_TAB_PRIVS`,
//! `ALL_COL_PRIVS` (object and column grants to the user, to PUBLIC or to
//! an enabled role); `USER_HOST_ACES` (network access in effect) and, when
//! readable, `DBA_HOST_ACES` (which principal holds it); `ALL_DB_LINKS`;
//! `USER_OBJECTS` (an owner can change its own tables whatever it was
//! granted). A view the database refuses (ORA-00942 and the like) makes
//! that part "not checked" instead of failing the whole check.
//!
//! Allowed: `CREATE SESSION` (and `SET CONTAINER`, which matters only to
//! common users), `READ`/`SELECT` on anything but a directory, and schema
//! `READ`/`SELECT ANY TABLE`. Everything else is a finding.
//!
//! Every statement is fixed text; the only values sent are the package
//! names below, as binds. Names that come back from the dictionary are
//! cleaned of control characters and quoted where Oracle needs it before
//! they appear in a suggested statement.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::values::{cell_i64, cell_str};
use super::{OracleBind, OracleExec, OracleStatement};
use crate::db::privileges::{FindingKind, PrivilegeFinding, PrivilegeReport, Severity, Unchecked};
use crate::db::{CallContext, DbError};

/// Rows read from one view at most; more is reported as incomplete.
const MAX_ROWS: usize = 5_000;
/// Findings kept in a report; the rest are counted in `omitted`.
const MAX_FINDINGS: usize = 200;
/// Longest name or host shown (Oracle names are at most 128 bytes).
const MAX_TEXT: usize = 256;
/// Items listed per role before "and N more".
const ROLE_ITEMS: usize = 6;

/// What a network or file package needs besides EXECUTE to do harm.
#[derive(Clone, Copy)]
enum Gate {
    /// A network ACE for the user.
    Network,
    /// READ or WRITE on a directory object.
    Directory,
    /// Nothing else that the dictionary shows (cloud credentials, …).
    None,
}

/// Packages (and one object type) that reach the network or the server's
/// files from inside a query.
const NETWORK_PACKAGES: &[(&str, &str, Gate)] = &[
    (
        "UTL_HTTP",
        "sends HTTP requests from the database",
        Gate::Network,
    ),
    (
        "UTL_TCP",
        "opens TCP connections from the database",
        Gate::Network,
    ),
    ("UTL_SMTP", "sends mail from the database", Gate::Network),
    ("UTL_MAIL", "sends mail from the database", Gate::Network),
    (
        "UTL_INADDR",
        "looks up host names (DNS queries can carry data out)",
        Gate::Network,
    ),
    (
        "UTL_FILE",
        "reads and writes files on the database server",
        Gate::Directory,
    ),
    ("UTL_DBWS", "calls web services", Gate::Network),
    (
        "HTTPURITYPE",
        "fetches URLs from inside a query",
        Gate::Network,
    ),
    ("DBMS_LDAP", "connects to LDAP servers", Gate::Network),
    (
        "DBMS_DEBUG_JDWP",
        "connects the session to a debugger on another host",
        Gate::Network,
    ),
    (
        "DBMS_NETWORK_ACL_ADMIN",
        "changes which users may reach the network",
        Gate::None,
    ),
    (
        "DBMS_CLOUD",
        "reads and writes cloud object storage and calls REST endpoints",
        Gate::None,
    ),
    (
        "DBMS_CLOUD_AI",
        "sends prompts and data to AI providers",
        Gate::None,
    ),
    (
        "DBMS_CLOUD_NOTIFICATION",
        "sends messages by mail, Slack or Teams",
        Gate::None,
    ),
    (
        "DBMS_CLOUD_REPO",
        "reads and writes Git repositories",
        Gate::None,
    ),
    (
        "APEX_WEB_SERVICE",
        "calls web services through APEX",
        Gate::Network,
    ),
    ("APEX_MAIL", "sends mail through APEX", Gate::Network),
    (
        "APEX_LDAP",
        "connects to LDAP servers through APEX",
        Gate::Network,
    ),
];

/// Roles whose purpose is known, for the report's wording and for roles
/// whose contents this session cannot see.
const KNOWN_ROLES: &[(&str, &str)] = &[
    ("DBA", "administers the whole database"),
    ("PDB_DBA", "administers the pluggable database"),
    (
        "DWROLE",
        "Autonomous Database's developer role: creates tables, views, procedures and more",
    ),
    (
        "DB_DEVELOPER_ROLE",
        "the developer role: creates tables, views, procedures and more",
    ),
    ("RESOURCE", "creates tables, procedures, types and more"),
    ("EXECUTE_CATALOG_ROLE", "runs the dictionary's packages"),
    ("SCHEDULER_ADMIN", "creates and runs jobs"),
    ("AQ_ADMINISTRATOR_ROLE", "administers queues"),
    ("SODA_APP", "creates SODA collections (tables)"),
    ("EXP_FULL_DATABASE", "exports the whole database"),
    ("IMP_FULL_DATABASE", "imports into the whole database"),
    ("DATAPUMP_EXP_FULL_DATABASE", "exports the whole database"),
    (
        "DATAPUMP_IMP_FULL_DATABASE",
        "imports into the whole database",
    ),
    ("DATAPUMP_CLOUD_EXP", "exports schemas with Data Pump"),
    ("DATAPUMP_CLOUD_IMP", "imports schemas with Data Pump"),
];

/// Oracle's reserved words: a name spelled like one must be quoted.
const RESERVED: &[&str] = &[
    "ACCESS",
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "AUDIT",
    "BETWEEN",
    "BY",
    "CHAR",
    "CHECK",
    "CLUSTER",
    "COLUMN",
    "COMMENT",
    "COMPRESS",
    "CONNECT",
    "CREATE",
    "CURRENT",
    "DATE",
    "DECIMAL",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "EXCLUSIVE",
    "EXISTS",
    "FILE",
    "FLOAT",
    "FOR",
    "FROM",
    "GRANT",
    "GROUP",
    "HAVING",
    "IDENTIFIED",
    "IMMEDIATE",
    "IN",
    "INCREMENT",
    "INDEX",
    "INITIAL",
    "INSERT",
    "INTEGER",
    "INTERSECT",
    "INTO",
    "IS",
    "LEVEL",
    "LIKE",
    "LOCK",
    "LONG",
    "MAXEXTENTS",
    "MINUS",
    "MLSLABEL",
    "MODE",
    "MODIFY",
    "NOAUDIT",
    "NOCOMPRESS",
    "NOT",
    "NOWAIT",
    "NULL",
    "NUMBER",
    "OF",
    "OFFLINE",
    "ON",
    "ONLINE",
    "OPTION",
    "OR",
    "ORDER",
    "PCTFREE",
    "PRIOR",
    "PUBLIC",
    "RAW",
    "RENAME",
    "RESOURCE",
    "REVOKE",
    "ROW",
    "ROWID",
    "ROWNUM",
    "ROWS",
    "SELECT",
    "SESSION",
    "SET",
    "SHARE",
    "SIZE",
    "SMALLINT",
    "START",
    "SUCCESSFUL",
    "SYNONYM",
    "SYSDATE",
    "TABLE",
    "THEN",
    "TO",
    "TRIGGER",
    "UID",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USER",
    "VALIDATE",
    "VALUES",
    "VARCHAR",
    "VARCHAR2",
    "VIEW",
    "WHENEVER",
    "WHERE",
    "WITH",
];

const USER_SQL: &str = "SELECT username FROM user_users";
const SESSION_PRIVS_SQL: &str = "SELECT privilege FROM session_privs ORDER BY privilege";
const USER_SYS_SQL: &str =
    "SELECT username, privilege, admin_option FROM user_sys_privs ORDER BY privilege, username";
const ROLE_SYS_SQL: &str =
    "SELECT role, privilege, admin_option FROM role_sys_privs ORDER BY role, privilege";
const USER_ROLES_SQL: &str = "SELECT username, granted_role, admin_option, default_role \
     FROM user_role_privs ORDER BY granted_role, username";
const SESSION_ROLES_SQL: &str = "SELECT role FROM session_roles ORDER BY role";
const ROLE_ROLES_SQL: &str =
    "SELECT role, granted_role FROM role_role_privs ORDER BY role, granted_role";
const USER_SCHEMA_SQL: &str = "SELECT username, privilege, schema, admin_option \
     FROM user_schema_privs ORDER BY schema, privilege, username";
const ROLE_SCHEMA_SQL: &str = "SELECT role, privilege, schema, admin_option \
     FROM role_schema_privs ORDER BY role, schema, privilege";
const HOST_ACES_SQL: &str = "SELECT host, lower_port, upper_port, privilege, status \
     FROM user_host_aces WHERE status = 'GRANTED' ORDER BY host, lower_port, privilege";
const DBA_ACES_SQL: &str = "SELECT host, lower_port, upper_port, principal, privilege \
     FROM dba_host_aces WHERE grant_type = 'GRANT' AND inverted_principal = 'NO' \
     AND (principal = (SELECT username FROM user_users) OR principal = 'PUBLIC' \
          OR principal IN (SELECT role FROM session_roles)) \
     ORDER BY host, lower_port, principal, privilege";
const LINKS_SQL: &str = "SELECT owner, db_link, host FROM all_db_links \
     WHERE owner = (SELECT username FROM user_users) OR owner = 'PUBLIC' \
     ORDER BY owner, db_link";
const OWNED_SQL: &str = "SELECT object_type, COUNT(*) AS n, MIN(object_name) AS example \
     FROM user_objects WHERE object_name <> 'PLAN_TABLE' AND object_name NOT LIKE 'BIN$%' \
     GROUP BY object_type ORDER BY object_type";
const COL_PRIVS_SQL: &str = "SELECT p.grantee, p.table_schema, p.table_name, p.column_name, \
     p.privilege, p.grantable FROM all_col_privs p \
     WHERE p.privilege NOT IN ('SELECT', 'READ') \
     AND (p.grantee = (SELECT username FROM user_users) \
          OR p.grantee IN (SELECT role FROM session_roles) \
          OR (p.grantee = 'PUBLIC' AND p.table_schema NOT IN \
              (SELECT username FROM all_users WHERE oracle_maintained = 'Y'))) \
     ORDER BY p.table_schema, p.table_name, p.privilege, p.column_name, p.grantee";

/// Object grants beyond reading held by the user, an enabled role or
/// PUBLIC. PUBLIC holds thousands of Oracle's own grants, so only those
/// that matter are read: the network packages (bound as `:1..:n`),
/// directories, and grants on objects of schemas Oracle does not maintain.
fn tab_privs_statement() -> OracleStatement {
    let list: Vec<String> = (1..=NETWORK_PACKAGES.len())
        .map(|i| format!(":{i}"))
        .collect();
    OracleStatement {
        sql: format!(
            "SELECT p.grantee, p.table_schema, p.table_name, p.privilege, p.grantable, \
             p.type AS object_type FROM all_tab_privs p \
             WHERE (p.privilege NOT IN ('SELECT', 'READ') OR p.type = 'DIRECTORY') \
             AND (p.grantee = (SELECT username FROM user_users) \
                  OR p.grantee IN (SELECT role FROM session_roles) \
                  OR (p.grantee = 'PUBLIC' AND (p.type = 'DIRECTORY' \
                      OR (p.privilege = 'EXECUTE' AND p.table_name IN ({})) \
                      OR (p.privilege NOT IN ('INHERIT PRIVILEGES', 'INHERIT REMOTE PRIVILEGES') \
                          AND p.table_schema NOT IN \
                          (SELECT username FROM all_users WHERE oracle_maintained = 'Y'))))) \
             ORDER BY p.table_schema, p.table_name, p.privilege, p.grantee",
            list.join(", ")
        ),
        binds: NETWORK_PACKAGES
            .iter()
            .map(|(name, _, _)| OracleBind::Text((*name).to_owned()))
            .collect(),
    }
}

/// Reads the dictionary and turns what it says into findings.
pub async fn privilege_report(
    exec: &dyn OracleExec,
    ctx: &CallContext,
) -> Result<PrivilegeReport, DbError> {
    let mut r = Reader {
        exec,
        ctx,
        checked: Vec::new(),
        unchecked: Vec::new(),
    };
    let user = r
        .fetch(&plain(USER_SQL))
        .await?
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(cell_str)
        .map(|u| clean(&u))
        .ok_or_else(|| DbError::Internal("USER_USERS returned no row".into()))?;
    let facts = Facts::read(&mut r).await?;
    let mut findings = analyze(&user, &facts);
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
    let omitted = findings.len().saturating_sub(MAX_FINDINGS);
    findings.truncate(MAX_FINDINGS);
    Ok(PrivilegeReport {
        user,
        findings,
        omitted,
        checked: r.checked,
        unchecked: r.unchecked,
    })
}

fn plain(sql: &str) -> OracleStatement {
    OracleStatement {
        sql: sql.to_owned(),
        binds: vec![],
    }
}

struct Reader<'a> {
    exec: &'a dyn OracleExec,
    ctx: &'a CallContext,
    checked: Vec<String>,
    unchecked: Vec<Unchecked>,
}

impl Reader<'_> {
    async fn fetch(&self, stmt: &OracleStatement) -> Result<crate::db::QueryResult, DbError> {
        self.exec.fetch(stmt, 0, MAX_ROWS, self.ctx).await
    }

    /// Rows of one view, or `None` when the database refused the query
    /// (recorded under `what` unless `optional`). Connection failures and
    /// time limits end the whole check.
    async fn rows(
        &mut self,
        what: &str,
        view: &str,
        stmt: &OracleStatement,
        optional: bool,
    ) -> Result<Option<Vec<Vec<Value>>>, DbError> {
        match self.fetch(stmt).await {
            Ok(result) => {
                if result.has_more {
                    self.unchecked.push(Unchecked {
                        what: what.to_owned(),
                        reason: format!("only the first {MAX_ROWS} rows of {view} were read"),
                    });
                }
                Ok(Some(result.rows))
            }
            Err(DbError::Sql { code, message }) => {
                if !optional {
                    let reason = if code.as_deref() == Some("ORA-00942") {
                        format!("{view} is not visible to this user (ORA-00942)")
                    } else {
                        format!("{view}: {}", clip(&clean(&message), 200))
                    };
                    self.unchecked.push(Unchecked {
                        what: what.to_owned(),
                        reason,
                    });
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn mark(&mut self, what: &str) {
        if !self.checked.iter().any(|c| c == what) {
            self.checked.push(what.to_owned());
        }
    }
}

/// A row's cell as cleaned text ("" for NULL).
fn text(row: &[Value], i: usize) -> String {
    row.get(i)
        .and_then(cell_str)
        .map(|s| clean(&s))
        .unwrap_or_default()
}

fn yes(row: &[Value], i: usize) -> bool {
    text(row, i).eq_ignore_ascii_case("YES")
}

/// Dictionary text made safe to print and to place in a statement:
/// trimmed (CHAR columns are padded), control and bidirectional-override
/// characters replaced, length capped.
fn clean(s: &str) -> String {
    let cleaned: String = s
        .trim()
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    clip(&cleaned, MAX_TEXT)
}

use crate::db::text::clip;

/// An identifier as Oracle needs it written: bare when it is an ordinary
/// upper-case name, double-quoted otherwise.
fn ident(name: &str) -> String {
    let mut chars = name.chars();
    let simple = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '_' | '$' | '#'))
        && !RESERVED.contains(&name);
    if simple {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A grantee: `PUBLIC` is a keyword here, not a name.
fn grantee(name: &str) -> String {
    if name == "PUBLIC" {
        "PUBLIC".to_owned()
    } else {
        ident(name)
    }
}

/// A role in GRANT/REVOKE, where Oracle accepts its classic role names bare.
fn role_name(name: &str) -> String {
    if matches!(name, "CONNECT" | "RESOURCE") {
        name.to_owned()
    } else {
        ident(name)
    }
}

/// A privilege name as a keyword sequence (`CREATE ANY TABLE`).
fn keyword(p: &str) -> String {
    if p.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '_')
    {
        p.to_owned()
    } else {
        ident(p)
    }
}

/// A string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn qualified(owner: &str, name: &str) -> String {
    if owner.is_empty() {
        ident(name)
    } else {
        format!("{}.{}", ident(owner), ident(name))
    }
}

/// How a grant reaches the user, in the report's words.
fn via_grantee(g: &str, user: &str) -> String {
    if g == "PUBLIC" {
        "granted to PUBLIC".to_owned()
    } else if g == user {
        "granted directly".to_owned()
    } else {
        format!("through role {g}")
    }
}

const PUBLIC_NOTE: &str =
    "a grant to PUBLIC applies to every user: check that nothing else relies on it before revoking";

fn package(name: &str) -> Option<(&'static str, Gate)> {
    NETWORK_PACKAGES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, what, gate)| (*what, *gate))
}

fn known_role(name: &str) -> Option<&'static str> {
    KNOWN_ROLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
}

/// A system privilege's severity and why, or `None` when it is allowed.
fn classify_system(p: &str) -> Option<(Severity, &'static str)> {
    use Severity::{Fail, Warn};
    Some(match p {
        "CREATE SESSION" | "SET CONTAINER" => return None,
        _ if p.starts_with("SELECT ANY ") || p.starts_with("READ ANY ") => (
            Warn,
            "reads objects of every schema, not only those granted to it",
        ),
        "ALTER SESSION" => (Warn, "changes its session's settings (no data is written)"),
        "UNLIMITED TABLESPACE" => (Fail, "may fill every tablespace"),
        "EXEMPT ACCESS POLICY" | "EXEMPT REDACTION POLICY" => {
            (Fail, "bypasses row-level security or data redaction")
        }
        _ if p.contains(" ANY ") || p.ends_with(" ANY") || p.starts_with("GRANT ") => {
            (Fail, "acts on objects of every schema")
        }
        _ if p.starts_with("CREATE ") => (
            Fail,
            "creates objects in its own schema, which writes to the database",
        ),
        _ if p.starts_with("ALTER ") || p.starts_with("DROP ") => (Fail, "changes the database"),
        _ => (Fail, "a system privilege beyond CREATE SESSION"),
    })
}

/// A schema privilege (23ai): reading every table of a schema is allowed.
fn classify_schema(p: &str) -> Option<(Severity, &'static str)> {
    match p {
        "SELECT ANY TABLE" | "READ ANY TABLE" => None,
        _ if p.starts_with("SELECT ANY ") || p.starts_with("READ ANY ") => Some((
            Severity::Warn,
            "reads more than tables in the schema (SELECT on a sequence advances it)",
        )),
        _ => Some((Severity::Fail, "acts on every object of the schema")),
    }
}

/// An object privilege: severity, whether it is a network/file package,
/// and why; `None` when it only reads.
fn classify_object(
    privilege: &str,
    object_type: &str,
    name: &str,
    public: bool,
) -> Option<(Severity, bool, String)> {
    use Severity::{Fail, Warn};
    let directory = object_type == "DIRECTORY";
    // PUBLIC grants of Oracle's packages and directories are defaults on
    // some releases: worth knowing, not an error of this deployment.
    let default_sev = if public { Warn } else { Fail };
    Some(match privilege {
        "SELECT" | "READ" if directory => (
            default_sev,
            false,
            "reads files on the database server (BFILENAME, external tables)".into(),
        ),
        "SELECT" | "READ" => return None,
        "WRITE" if directory => (default_sev, false, "writes files on the database server".into()),
        "EXECUTE" if directory => (
            default_sev,
            false,
            "runs programs on the database server (external table preprocessors)".into(),
        ),
        "EXECUTE" => match package(name) {
            Some((what, _)) => (default_sev, true, what.to_owned()),
            None => (
                Warn,
                false,
                "runs this code: a function called from a query can write if it uses an autonomous transaction".into(),
            ),
        },
        "INSERT" | "UPDATE" | "DELETE" | "MERGE VIEW" | "WRITE" => {
            (Fail, false, "changes the data in it".into())
        }
        "ALTER" | "INDEX" | "UNDER" | "ON COMMIT REFRESH" | "QUERY REWRITE" => {
            (Fail, false, "changes the object or builds on it".into())
        }
        "DEBUG" => (Fail, false, "debugs its code, reading and changing its variables".into()),
        "REFERENCES" => (
            Warn,
            false,
            "may point foreign keys at it (with CREATE TABLE), which blocks deletes there".into(),
        ),
        "FLASHBACK" => (Warn, false, "reads past versions of its rows".into()),
        "INHERIT PRIVILEGES" | "INHERIT REMOTE PRIVILEGES" => (
            Warn,
            false,
            "code owned by this user would run with that user's privileges".into(),
        ),
        _ => (Warn, false, "an object privilege beyond READ and SELECT".into()),
    })
}

/// `ON APP.ORDERS`, `ON DIRECTORY DATA_PUMP_DIR`, `ON USER HR`, …
fn on_object(owner: &str, name: &str, object_type: &str) -> String {
    match object_type {
        "DIRECTORY" | "USER" | "EDITION" => format!("ON {object_type} {}", ident(name)),
        "MINING MODEL"
        | "JAVA SOURCE"
        | "JAVA RESOURCE"
        | "JAVA CLASS"
        | "SQL TRANSLATION PROFILE" => {
            format!("ON {object_type} {}", qualified(owner, name))
        }
        _ => format!("ON {}", qualified(owner, name)),
    }
}

fn object_label(owner: &str, name: &str, object_type: &str) -> String {
    match object_type {
        "DIRECTORY" => format!("directory {name}"),
        "USER" => format!("user {name}"),
        _ if owner.is_empty() => name.to_owned(),
        _ => format!("{owner}.{name}"),
    }
}

struct SysRow {
    grantee: String,
    privilege: String,
    admin: bool,
}

struct RoleRow {
    grantee: String,
    role: String,
    admin: bool,
    default: bool,
}

struct SchemaRow {
    grantee: String,
    privilege: String,
    schema: String,
    admin: bool,
}

struct TabRow {
    grantee: String,
    owner: String,
    name: String,
    privilege: String,
    grantable: bool,
    object_type: String,
}

struct ColRow {
    grantee: String,
    owner: String,
    table: String,
    column: String,
    privilege: String,
}

struct AceRow {
    host: String,
    lower: Option<i64>,
    upper: Option<i64>,
    privilege: String,
}

struct DbaAceRow {
    ace: AceRow,
    principal: String,
}

struct LinkRow {
    owner: String,
    name: String,
    host: String,
}

struct OwnedRow {
    object_type: String,
    count: i64,
    example: String,
}

/// What the dictionary said; `None` where it could not be read.
#[derive(Default)]
struct Facts {
    session_privs: Option<Vec<String>>,
    user_sys: Option<Vec<SysRow>>,
    role_sys: Option<Vec<SysRow>>,
    user_roles: Option<Vec<RoleRow>>,
    session_roles: Option<BTreeSet<String>>,
    role_roles: Option<Vec<(String, String)>>,
    user_schema: Option<Vec<SchemaRow>>,
    role_schema: Option<Vec<SchemaRow>>,
    tab_privs: Option<Vec<TabRow>>,
    col_privs: Option<Vec<ColRow>>,
    host_aces: Option<Vec<AceRow>>,
    dba_aces: Option<Vec<DbaAceRow>>,
    links: Option<Vec<LinkRow>>,
    owned: Option<Vec<OwnedRow>>,
}

impl Facts {
    async fn read(r: &mut Reader<'_>) -> Result<Self, DbError> {
        let sys_row = |row: &Vec<Value>| SysRow {
            grantee: text(row, 0),
            privilege: text(row, 1),
            admin: yes(row, 2),
        };
        let schema_row = |row: &Vec<Value>| SchemaRow {
            grantee: text(row, 0),
            privilege: text(row, 1),
            schema: text(row, 2),
            admin: yes(row, 3),
        };
        let ace_row = |row: &Vec<Value>, p: usize| AceRow {
            host: text(row, 0),
            lower: row.get(1).and_then(cell_i64),
            upper: row.get(2).and_then(cell_i64),
            privilege: text(row, p).to_ascii_lowercase(),
        };
        let mut f = Facts::default();

        const SYS: &str = "system privileges";
        f.session_privs = r
            .rows(SYS, "SESSION_PRIVS", &plain(SESSION_PRIVS_SQL), false)
            .await?
            .map(|rows| rows.iter().map(|row| text(row, 0)).collect());
        f.user_sys = r
            .rows(SYS, "USER_SYS_PRIVS", &plain(USER_SYS_SQL), false)
            .await?
            .map(|rows| rows.iter().map(sys_row).collect());
        f.role_sys = r
            .rows(SYS, "ROLE_SYS_PRIVS", &plain(ROLE_SYS_SQL), false)
            .await?
            .map(|rows| rows.iter().map(sys_row).collect());
        if f.session_privs.is_some() || f.user_sys.is_some() {
            r.mark(SYS);
        }

        const ROLES: &str = "roles";
        f.user_roles = r
            .rows(ROLES, "USER_ROLE_PRIVS", &plain(USER_ROLES_SQL), false)
            .await?
            .map(|rows| {
                rows.iter()
                    .map(|row| RoleRow {
                        grantee: text(row, 0),
                        role: text(row, 1),
                        admin: yes(row, 2),
                        default: yes(row, 3),
                    })
                    .collect()
            });
        f.session_roles = r
            .rows(ROLES, "SESSION_ROLES", &plain(SESSION_ROLES_SQL), false)
            .await?
            .map(|rows| rows.iter().map(|row| text(row, 0)).collect());
        f.role_roles = r
            .rows(ROLES, "ROLE_ROLE_PRIVS", &plain(ROLE_ROLES_SQL), false)
            .await?
            .map(|rows| {
                rows.iter()
                    .map(|row| (text(row, 0), text(row, 1)))
                    .collect()
            });
        if f.user_roles.is_some() || f.session_roles.is_some() {
            r.mark(ROLES);
        }

        // Schema privileges exist from 23ai on; without the view there is
        // nothing to find, so its absence is not a gap.
        f.user_schema = r
            .rows(
                "schema privileges",
                "USER_SCHEMA_PRIVS",
                &plain(USER_SCHEMA_SQL),
                true,
            )
            .await?
            .map(|rows| rows.iter().map(schema_row).collect());
        if f.user_schema.is_some() {
            r.mark("schema privileges");
            f.role_schema = r
                .rows(
                    "schema privileges",
                    "ROLE_SCHEMA_PRIVS",
                    &plain(ROLE_SCHEMA_SQL),
                    false,
                )
                .await?
                .map(|rows| rows.iter().map(schema_row).collect());
        }

        const OBJECTS: &str = "object grants";
        f.tab_privs = r
            .rows(OBJECTS, "ALL_TAB_PRIVS", &tab_privs_statement(), false)
            .await?
            .map(|rows| {
                rows.iter()
                    .map(|row| TabRow {
                        grantee: text(row, 0),
                        owner: text(row, 1),
                        name: text(row, 2),
                        privilege: text(row, 3),
                        grantable: yes(row, 4),
                        object_type: text(row, 5),
                    })
                    .collect()
            });
        if f.tab_privs.is_some() {
            r.mark(OBJECTS);
        }
        f.col_privs = r
            .rows(
                "column grants",
                "ALL_COL_PRIVS",
                &plain(COL_PRIVS_SQL),
                false,
            )
            .await?
            .map(|rows| {
                rows.iter()
                    .map(|row| ColRow {
                        grantee: text(row, 0),
                        owner: text(row, 1),
                        table: text(row, 2),
                        column: text(row, 3),
                        privilege: text(row, 4),
                    })
                    .collect()
            });
        if f.col_privs.is_some() {
            r.mark("column grants");
        }

        const ACES: &str = "network ACEs";
        f.host_aces = r
            .rows(ACES, "USER_HOST_ACES", &plain(HOST_ACES_SQL), false)
            .await?
            .map(|rows| rows.iter().map(|row| ace_row(row, 3)).collect());
        if let Some(aces) = &f.host_aces {
            r.mark(ACES);
            // Who holds each ACE is only in DBA_HOST_ACES, which a
            // least-privilege user usually cannot read.
            if !aces.is_empty() {
                f.dba_aces = r
                    .rows(ACES, "DBA_HOST_ACES", &plain(DBA_ACES_SQL), true)
                    .await?
                    .map(|rows| {
                        rows.iter()
                            .map(|row| DbaAceRow {
                                ace: ace_row(row, 4),
                                principal: text(row, 3),
                            })
                            .collect()
                    });
            }
        }

        f.links = r
            .rows("database links", "ALL_DB_LINKS", &plain(LINKS_SQL), false)
            .await?
            .map(|rows| {
                rows.iter()
                    .map(|row| LinkRow {
                        owner: text(row, 0),
                        name: text(row, 1),
                        host: text(row, 2),
                    })
                    .collect()
            });
        if f.links.is_some() {
            r.mark("database links");
        }
        f.owned = r
            .rows("owned objects", "USER_OBJECTS", &plain(OWNED_SQL), false)
            .await?
            .map(|rows| {
                rows.iter()
                    .map(|row| OwnedRow {
                        object_type: text(row, 0),
                        count: row.get(1).and_then(cell_i64).unwrap_or(0),
                        example: text(row, 2),
                    })
                    .collect()
            });
        if f.owned.is_some() {
            r.mark("owned objects");
        }
        Ok(f)
    }
}

/// Something a role carries, for the role's finding.
struct Carried {
    severity: Severity,
    text: String,
    network: bool,
}

fn analyze(user: &str, f: &Facts) -> Vec<PrivilegeFinding> {
    let mut out = Vec::new();
    let empty_set = BTreeSet::new();
    let session_roles = f.session_roles.as_ref().unwrap_or(&empty_set);
    let is_role = |g: &str| g != user && g != "PUBLIC";

    owned_objects(user, f, &mut out);

    // System privileges held directly or through PUBLIC.
    let mut explained: BTreeSet<&str> = BTreeSet::new();
    for row in f.user_sys.iter().flatten() {
        explained.insert(&row.privilege);
        let Some((severity, why)) = classify_system(&row.privilege) else {
            continue;
        };
        out.push(PrivilegeFinding {
            severity,
            kind: FindingKind::SystemPrivilege,
            item: row.privilege.clone(),
            via: via_grantee(&row.grantee, user),
            why: why.to_owned(),
            fix: format!(
                "REVOKE {} FROM {};",
                keyword(&row.privilege),
                grantee(&row.grantee)
            ),
            note: note_for(
                &row.grantee,
                row.admin
                    .then_some("granted WITH ADMIN OPTION: it can grant it on"),
            ),
        });
    }
    for row in f.user_schema.iter().flatten() {
        let Some((severity, why)) = classify_schema(&row.privilege) else {
            continue;
        };
        out.push(PrivilegeFinding {
            severity,
            kind: FindingKind::SchemaPrivilege,
            item: format!("{} on schema {}", row.privilege, row.schema),
            via: via_grantee(&row.grantee, user),
            why: why.to_owned(),
            fix: format!(
                "REVOKE {} ON SCHEMA {} FROM {};",
                keyword(&row.privilege),
                ident(&row.schema),
                grantee(&row.grantee)
            ),
            note: note_for(
                &row.grantee,
                row.admin
                    .then_some("granted WITH ADMIN OPTION: it can grant it on"),
            ),
        });
    }

    // What each role carries by itself (not through the roles it contains).
    let mut carried: BTreeMap<&str, Vec<Carried>> = BTreeMap::new();
    for row in f.role_sys.iter().flatten() {
        explained.insert(&row.privilege);
        if let Some((severity, _)) = classify_system(&row.privilege) {
            carried.entry(&row.grantee).or_default().push(Carried {
                severity,
                text: row.privilege.clone(),
                network: false,
            });
        }
    }
    for row in f.role_schema.iter().flatten() {
        if let Some((severity, _)) = classify_schema(&row.privilege) {
            carried.entry(&row.grantee).or_default().push(Carried {
                severity,
                text: format!("{} on schema {}", row.privilege, row.schema),
                network: false,
            });
        }
    }
    for row in f.tab_privs.iter().flatten().filter(|r| is_role(&r.grantee)) {
        if let Some((severity, network, _)) =
            classify_object(&row.privilege, &row.object_type, &row.name, false)
        {
            carried.entry(&row.grantee).or_default().push(Carried {
                severity,
                text: format!(
                    "{} on {}",
                    row.privilege,
                    object_label(&row.owner, &row.name, &row.object_type)
                ),
                network,
            });
        }
    }
    for row in f.col_privs.iter().flatten().filter(|r| is_role(&r.grantee)) {
        carried.entry(&row.grantee).or_default().push(Carried {
            severity: column_severity(&row.privilege),
            text: format!(
                "{} ({}) on {}.{}",
                row.privilege, row.column, row.owner, row.table
            ),
            network: false,
        });
    }

    // Roles granted to the user (or PUBLIC), each with everything it and
    // the roles inside it carry.
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (role, granted) in f.role_roles.iter().flatten() {
        children.entry(role).or_default().push(granted);
    }
    let tops: Vec<(String, String, bool, bool)> = match &f.user_roles {
        Some(rows) => rows
            .iter()
            .map(|r| (r.grantee.clone(), r.role.clone(), r.admin, r.default))
            .collect(),
        None => session_roles
            .iter()
            .map(|r| (String::new(), r.clone(), false, true))
            .collect(),
    };
    let mut attributed: BTreeSet<&str> = BTreeSet::new();
    for (holder, role, admin, default) in &tops {
        let mut inside: Vec<&str> = vec![role.as_str()];
        let mut seen: BTreeSet<&str> = BTreeSet::from([role.as_str()]);
        let mut i = 0;
        while let Some(r) = inside.get(i).copied() {
            for c in children.get(r).into_iter().flatten() {
                if seen.insert(c) {
                    inside.push(c);
                }
            }
            i += 1;
        }
        attributed.extend(seen.iter().copied());
        let mut items: Vec<(&Carried, &str)> = inside
            .iter()
            .flat_map(|r| carried.get(r).into_iter().flatten().map(move |c| (c, *r)))
            .collect();
        items.sort_by_key(|c| std::cmp::Reverse(c.0.severity));
        let via = if holder.is_empty() {
            "enabled in this session".to_owned()
        } else {
            via_grantee(holder, user).replace("granted directly", "granted to the user")
        };
        let target = if holder.is_empty() {
            user
        } else {
            holder.as_str()
        };
        let fix = format!("REVOKE {} FROM {};", role_name(role), grantee(target));
        let known = known_role(role);
        let mut notes: Vec<String> = Vec::new();
        if *admin {
            notes.push("granted WITH ADMIN OPTION: it can grant the role on".into());
        }
        if items.is_empty() {
            let enabled = f.session_roles.is_none() || session_roles.contains(role);
            if enabled {
                continue;
            }
            let why = format!(
                "granted but not enabled in this session ({}), so what it carries cannot be read here; SET ROLE would enable it{}",
                if *default {
                    "password-protected or limited"
                } else {
                    "not a default role"
                },
                known.map(|k| format!("; it {k}")).unwrap_or_default()
            );
            out.push(PrivilegeFinding {
                severity: if known.is_some() {
                    Severity::Fail
                } else {
                    Severity::Warn
                },
                kind: FindingKind::Role,
                item: role.clone(),
                via,
                why,
                fix,
                note: note_for(holder, notes.first().map(String::as_str)),
            });
            continue;
        }
        let severity = items
            .iter()
            .map(|(c, _)| c.severity)
            .max()
            .unwrap_or(Severity::Warn);
        let mut list: Vec<String> = items
            .iter()
            .take(ROLE_ITEMS)
            .map(|(c, r)| {
                if *r == role.as_str() {
                    c.text.clone()
                } else {
                    format!("{} (through {r})", c.text)
                }
            })
            .collect();
        if items.len() > ROLE_ITEMS {
            list.push(format!("and {} more", items.len() - ROLE_ITEMS));
        }
        let why = format!(
            "{}carries {}",
            known.map(|k| format!("{k}; ")).unwrap_or_default(),
            list.join(", ")
        );
        if items.iter().any(|(c, _)| c.network) {
            notes.push("includes network or file packages".into());
        }
        let extra = (!notes.is_empty()).then(|| notes.join("; "));
        out.push(PrivilegeFinding {
            severity,
            kind: FindingKind::Role,
            item: role.clone(),
            via,
            why,
            fix,
            note: note_for(holder, extra.as_deref()),
        });
    }

    // Effective system privileges whose origin this user cannot see.
    for p in f.session_privs.iter().flatten() {
        if explained.contains(p.as_str()) {
            continue;
        }
        let Some((severity, why)) = classify_system(p) else {
            continue;
        };
        out.push(PrivilegeFinding {
            severity,
            kind: FindingKind::SystemPrivilege,
            item: p.clone(),
            via: "in effect, granted by a path this user cannot see".into(),
            why: why.to_owned(),
            fix: format!("REVOKE {} FROM {};", keyword(p), grantee(user)),
            note: Some("if Oracle answers ORA-01952 (not granted), it comes through a role or PUBLIC: DBA_SYS_PRIVS shows the grantee".into()),
        });
    }

    object_grants(user, f, &attributed, &mut out);
    column_grants(user, f, &attributed, &mut out);
    // Role-held system privileges of roles no granted role leads to.
    for row in f
        .role_sys
        .iter()
        .flatten()
        .filter(|r| !attributed.contains(r.grantee.as_str()))
    {
        if let Some((severity, why)) = classify_system(&row.privilege) {
            out.push(PrivilegeFinding {
                severity,
                kind: FindingKind::SystemPrivilege,
                item: row.privilege.clone(),
                via: via_grantee(&row.grantee, user),
                why: why.to_owned(),
                fix: format!(
                    "REVOKE {} FROM {};",
                    keyword(&row.privilege),
                    role_name(&row.grantee)
                ),
                note: Some("revoking from the role affects every holder of the role".into()),
            });
        }
    }
    network_aces(user, f, &mut out);
    database_links(user, f, &mut out);
    out
}

fn column_severity(privilege: &str) -> Severity {
    if privilege == "REFERENCES" {
        Severity::Warn
    } else {
        Severity::Fail
    }
}

/// The PUBLIC note when the grantee is PUBLIC, joined with `extra`.
fn note_for(holder: &str, extra: Option<&str>) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(e) = extra {
        parts.push(e);
    }
    if holder == "PUBLIC" {
        parts.push(PUBLIC_NOTE);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn owned_objects(user: &str, f: &Facts, out: &mut Vec<PrivilegeFinding>) {
    // Parts of other objects (indexes, LOB segments, partitions, bodies)
    // are covered by their parent.
    const PARTS: &[&str] = &[
        "INDEX",
        "LOB",
        "INDEX PARTITION",
        "INDEX SUBPARTITION",
        "LOB PARTITION",
        "LOB SUBPARTITION",
        "TABLE PARTITION",
        "TABLE SUBPARTITION",
        "PACKAGE BODY",
        "TYPE BODY",
    ];
    let Some(rows) = &f.owned else { return };
    let fix = format!(
        "connect as a separate user that owns nothing and has READ grants on these objects (GRANT READ ON {}.<table> TO <that user>;)",
        ident(user)
    );
    if let Some(t) = rows
        .iter()
        .find(|r| r.object_type == "TABLE" && r.count > 0)
    {
        out.push(PrivilegeFinding {
            severity: Severity::Fail,
            kind: FindingKind::OwnedObjects,
            item: format!("{} table(s), e.g. {}", t.count, t.example),
            via: format!("owned by {user}"),
            why: "an owner can insert, update, delete, alter and drop its own tables whatever it was granted".into(),
            fix: fix.clone(),
            note: None,
        });
    }
    let others: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.count > 0 && r.object_type != "TABLE" && !PARTS.contains(&r.object_type.as_str())
        })
        .map(|r| format!("{} {}", r.count, r.object_type))
        .collect();
    if !others.is_empty() {
        out.push(PrivilegeFinding {
            severity: Severity::Warn,
            kind: FindingKind::OwnedObjects,
            item: others.join(", "),
            via: format!("owned by {user}"),
            why: "objects in the user's own schema: code there runs with the owner's rights, a sequence advances when read".into(),
            fix,
            note: None,
        });
    }
}

fn object_grants(
    user: &str,
    f: &Facts,
    attributed: &BTreeSet<&str>,
    out: &mut Vec<PrivilegeFinding>,
) {
    // One finding per grantee and object, with all its privileges.
    type Key<'a> = (&'a str, &'a str, &'a str, &'a str);
    let mut groups: BTreeMap<Key<'_>, Vec<&TabRow>> = BTreeMap::new();
    for row in f.tab_privs.iter().flatten() {
        if row.grantee != user
            && row.grantee != "PUBLIC"
            && attributed.contains(row.grantee.as_str())
        {
            continue; // reported with the role that carries it
        }
        groups
            .entry((&row.grantee, &row.owner, &row.name, &row.object_type))
            .or_default()
            .push(row);
    }
    for ((holder, owner, name, object_type), rows) in groups {
        let public = holder == "PUBLIC";
        let mut privileges: Vec<&str> = Vec::new();
        let mut whys: Vec<String> = Vec::new();
        let mut severity = None;
        let mut network = false;
        for row in &rows {
            let Some((s, net, why)) = classify_object(&row.privilege, object_type, name, public)
            else {
                continue;
            };
            if !privileges.contains(&row.privilege.as_str()) {
                privileges.push(&row.privilege);
            }
            if !whys.contains(&why) {
                whys.push(why);
            }
            severity = severity.max(Some(s));
            network |= net;
        }
        let Some(severity) = severity else { continue };
        let mut notes: Vec<String> = Vec::new();
        if rows.iter().any(|r| r.grantable) {
            notes.push("granted WITH GRANT OPTION: it can pass it on".into());
        }
        if network && public {
            notes.push(match package(name).map(|(_, g)| g) {
                Some(Gate::Network) => {
                    let none = f.host_aces.as_ref().is_some_and(Vec::is_empty);
                    format!(
                        "Oracle grants it to PUBLIC by default on some releases; it reaches a host only where a network ACE allows it{}",
                        if none { " (this user has none)" } else { "" }
                    )
                }
                Some(Gate::Directory) => "Oracle grants it to PUBLIC by default on some releases; it reaches files only through directories the user may read or write".into(),
                _ => "Oracle may grant it to PUBLIC by default".into(),
            });
            notes.push("on Autonomous Database, Oracle manages PUBLIC grants on its packages: if the revoke is refused, make sure the user has no network ACE".into());
        }
        if !public && !attributed.contains(holder) && holder != user {
            notes.push("revoking from the role affects every holder of the role".into());
        }
        let extra = (!notes.is_empty()).then(|| notes.join("; "));
        let target = if holder == user || public {
            grantee(holder)
        } else {
            role_name(holder)
        };
        out.push(PrivilegeFinding {
            severity,
            kind: if network {
                FindingKind::NetworkPackage
            } else {
                FindingKind::ObjectGrant
            },
            item: format!(
                "{} on {}",
                privileges.join(", "),
                object_label(owner, name, object_type)
            ),
            via: via_grantee(holder, user),
            why: whys.join("; "),
            fix: format!(
                "REVOKE {} {} FROM {};",
                privileges
                    .iter()
                    .map(|p| keyword(p))
                    .collect::<Vec<_>>()
                    .join(", "),
                on_object(owner, name, object_type),
                target
            ),
            note: note_for(holder, extra.as_deref()),
        });
    }
}

fn column_grants(
    user: &str,
    f: &Facts,
    attributed: &BTreeSet<&str>,
    out: &mut Vec<PrivilegeFinding>,
) {
    type Key<'a> = (&'a str, &'a str, &'a str);
    let mut groups: BTreeMap<Key<'_>, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for row in f.col_privs.iter().flatten() {
        if row.grantee != user
            && row.grantee != "PUBLIC"
            && attributed.contains(row.grantee.as_str())
        {
            continue;
        }
        groups
            .entry((&row.grantee, &row.owner, &row.table))
            .or_default()
            .entry(&row.privilege)
            .or_default()
            .push(&row.column);
    }
    for ((holder, owner, table), privileges) in groups {
        let severity = privileges
            .keys()
            .map(|p| column_severity(p))
            .max()
            .unwrap_or(Severity::Warn);
        let item = privileges
            .iter()
            .map(|(p, cols)| format!("{p} ({})", cols.join(", ")))
            .collect::<Vec<_>>()
            .join(", ");
        let target = if holder == user || holder == "PUBLIC" {
            grantee(holder)
        } else {
            role_name(holder)
        };
        out.push(PrivilegeFinding {
            severity,
            kind: FindingKind::ObjectGrant,
            item: format!("{item} on {owner}.{table}"),
            via: via_grantee(holder, user),
            why: "changes the data in these columns".into(),
            fix: format!(
                "REVOKE {} ON {} FROM {};",
                privileges
                    .keys()
                    .map(|p| keyword(p))
                    .collect::<Vec<_>>()
                    .join(", "),
                qualified(owner, table),
                target
            ),
            note: note_for(
                holder,
                Some("Oracle revokes column grants for the whole table"),
            ),
        });
    }
}

fn ports(lower: Option<i64>, upper: Option<i64>) -> String {
    match (lower, upper) {
        (None, None) => "any port".into(),
        (Some(l), Some(u)) if l == u => format!("port {l}"),
        (Some(l), Some(u)) => format!("ports {l}-{u}"),
        (Some(l), None) => format!("ports {l} and up"),
        (None, Some(u)) => format!("ports up to {u}"),
    }
}

fn port_literal(p: Option<i64>) -> String {
    p.map_or_else(|| "NULL".to_owned(), |n| n.to_string())
}

fn network_aces(user: &str, f: &Facts, out: &mut Vec<PrivilegeFinding>) {
    type Key = (String, Option<i64>, Option<i64>);
    let mut groups: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for a in f.host_aces.iter().flatten() {
        let p = groups
            .entry((a.host.clone(), a.lower, a.upper))
            .or_default();
        if !p.contains(&a.privilege) {
            p.push(a.privilege.clone());
        }
    }
    for ((host, lower, upper), privileges) in groups {
        // Principal → privileges, from DBA_HOST_ACES when readable.
        let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in f.dba_aces.iter().flatten() {
            if d.ace.host == host
                && d.ace.lower == lower
                && d.ace.upper == upper
                && privileges.contains(&d.ace.privilege)
            {
                let p = holders.entry(d.principal.clone()).or_default();
                if !p.contains(&d.ace.privilege) {
                    p.push(d.ace.privilege.clone());
                }
            }
        }
        let guessed = holders.is_empty();
        if guessed {
            holders.insert(user.to_owned(), privileges.clone());
        }
        let only_resolve = privileges.iter().all(|p| p == "resolve");
        for (principal, privs) in holders {
            let list = privs
                .iter()
                .map(|p| literal(p))
                .collect::<Vec<_>>()
                .join(", ");
            let mut notes: Vec<&str> = Vec::new();
            if guessed {
                notes.push("DBA_HOST_ACES is not readable by this user: if the ACE names a role or PUBLIC, put that principal in the statement instead");
            }
            out.push(PrivilegeFinding {
                severity: Severity::Fail,
                kind: FindingKind::NetworkAce,
                item: format!("{} on {host} ({})", privs.join(", "), ports(lower, upper)),
                via: if guessed { "in effect for the user".into() } else { via_grantee(&principal, user) },
                why: if only_resolve {
                    "the database may look up this host's names for the user: DNS queries can carry data out".into()
                } else {
                    "the database may connect to this host for the user: with a network package (often granted to PUBLIC) a query can send what it reads there".into()
                },
                fix: format!(
                    "BEGIN DBMS_NETWORK_ACL_ADMIN.REMOVE_HOST_ACE(host => {}, lower_port => {}, upper_port => {}, ace => xs$ace_type(privilege_list => xs$name_list({list}), principal_name => {}, principal_type => xs_acl.ptype_db)); END;",
                    literal(&host),
                    port_literal(lower),
                    port_literal(upper),
                    literal(&principal)
                ),
                note: note_for(&principal, (!notes.is_empty()).then(|| notes.join("; ")).as_deref()),
            });
        }
    }
}

fn database_links(user: &str, f: &Facts, out: &mut Vec<PrivilegeFinding>) {
    for l in f.links.iter().flatten() {
        let public = l.owner == "PUBLIC";
        let name = link_name(&l.name);
        let target = if l.host.is_empty() {
            String::new()
        } else {
            format!(" to {}", clip(&l.host, 80))
        };
        out.push(PrivilegeFinding {
            severity: if public { Severity::Warn } else { Severity::Fail },
            kind: FindingKind::DatabaseLink,
            item: format!("{}{target}", l.name),
            via: if public { "public link".into() } else { format!("owned by {user}") },
            why: "queries can read another database through it with the credentials stored in the link".into(),
            fix: if public {
                format!("DROP PUBLIC DATABASE LINK {name};")
            } else {
                format!("DROP DATABASE LINK {name};")
            },
            note: Some(if public {
                format!(
                    "a public link is usable by every user; on Autonomous Database: BEGIN DBMS_CLOUD_ADMIN.DROP_DATABASE_LINK(db_link_name => {}, public_link => TRUE); END;",
                    literal(&l.name)
                )
            } else {
                format!(
                    "run it as {user}: only the owner can drop a private link (on Autonomous Database: BEGIN DBMS_CLOUD_ADMIN.DROP_DATABASE_LINK(db_link_name => {}); END;)",
                    literal(&l.name)
                )
            }),
        });
    }
}

/// A link name: dotted parts (`REMOTE.EXAMPLE.COM`) are written bare.
fn link_name(name: &str) -> String {
    let bare = !name.is_empty()
        && name.split('.').all(|part| {
            let mut c = part.chars();
            c.next().is_some_and(|c| c.is_ascii_uppercase())
                && c.all(|c| {
                    c.is_ascii_uppercase()
                        || c.is_ascii_digit()
                        || matches!(c, '_' | '$' | '#' | '@')
                })
        });
    if bare {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(grantee: &str, p: &str) -> SysRow {
        SysRow {
            grantee: grantee.into(),
            privilege: p.into(),
            admin: false,
        }
    }

    fn tab(grantee: &str, owner: &str, name: &str, p: &str, t: &str) -> TabRow {
        TabRow {
            grantee: grantee.into(),
            owner: owner.into(),
            name: name.into(),
            privilege: p.into(),
            grantable: false,
            object_type: t.into(),
        }
    }

    fn least() -> Facts {
        Facts {
            session_privs: Some(vec!["CREATE SESSION".into()]),
            user_sys: Some(vec![sys("MCP_RO", "CREATE SESSION")]),
            role_sys: Some(vec![]),
            user_roles: Some(vec![]),
            session_roles: Some(BTreeSet::new()),
            role_roles: Some(vec![]),
            tab_privs: Some(vec![tab("MCP_RO", "APP", "ORDERS", "READ", "TABLE")]),
            col_privs: Some(vec![]),
            host_aces: Some(vec![]),
            links: Some(vec![]),
            owned: Some(vec![]),
            ..Facts::default()
        }
    }

    #[test]
    fn a_least_privilege_user_has_no_findings() {
        assert!(analyze("MCP_RO", &least()).is_empty());
    }

    #[test]
    fn system_privileges_are_classified_and_revoked_by_name() {
        assert_eq!(classify_system("CREATE SESSION"), None);
        assert_eq!(
            classify_system("CREATE ANY TABLE").map(|c| c.0),
            Some(Severity::Fail)
        );
        assert_eq!(
            classify_system("DROP ANY TABLE").map(|c| c.0),
            Some(Severity::Fail)
        );
        assert_eq!(
            classify_system("ALTER SYSTEM").map(|c| c.0),
            Some(Severity::Fail)
        );
        assert_eq!(
            classify_system("UNLIMITED TABLESPACE").map(|c| c.0),
            Some(Severity::Fail)
        );
        assert_eq!(
            classify_system("SELECT ANY TABLE").map(|c| c.0),
            Some(Severity::Warn)
        );
        let mut f = least();
        f.user_sys = Some(vec![
            sys("MCP_RO", "CREATE TABLE"),
            sys("PUBLIC", "CREATE VIEW"),
        ]);
        let out = analyze("MCP_RO", &f);
        assert_eq!(out[0].fix, "REVOKE CREATE TABLE FROM MCP_RO;");
        assert_eq!(out[1].fix, "REVOKE CREATE VIEW FROM PUBLIC;");
        assert!(
            out[1]
                .note
                .as_deref()
                .is_some_and(|n| n.contains("every user"))
        );
    }

    #[test]
    fn roles_carry_what_they_and_their_inner_roles_hold() {
        let mut f = least();
        f.user_roles = Some(vec![RoleRow {
            grantee: "MCP_RO".into(),
            role: "APP_ADMIN".into(),
            admin: false,
            default: true,
        }]);
        f.session_roles = Some(["APP_ADMIN".to_owned(), "APP_WRITER".to_owned()].into());
        f.role_roles = Some(vec![("APP_ADMIN".into(), "APP_WRITER".into())]);
        f.role_sys = Some(vec![sys("APP_ADMIN", "CREATE ANY TABLE")]);
        f.tab_privs = Some(vec![tab("APP_WRITER", "APP", "ORDERS", "DELETE", "TABLE")]);
        let out = analyze("MCP_RO", &f);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, FindingKind::Role);
        assert_eq!(out[0].fix, "REVOKE APP_ADMIN FROM MCP_RO;");
        assert!(out[0].why.contains("CREATE ANY TABLE"), "{}", out[0].why);
        assert!(
            out[0]
                .why
                .contains("DELETE on APP.ORDERS (through APP_WRITER)"),
            "{}",
            out[0].why
        );
    }

    #[test]
    fn a_role_that_only_reads_is_fine_and_a_hidden_one_is_reported() {
        let mut f = least();
        f.user_roles = Some(vec![
            RoleRow {
                grantee: "MCP_RO".into(),
                role: "READERS".into(),
                admin: false,
                default: true,
            },
            RoleRow {
                grantee: "MCP_RO".into(),
                role: "DWROLE".into(),
                admin: false,
                default: false,
            },
        ]);
        f.session_roles = Some(["READERS".to_owned()].into());
        f.tab_privs = Some(vec![tab("READERS", "APP", "ORDERS", "SELECT", "TABLE")]);
        let out = analyze("MCP_RO", &f);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].item, "DWROLE");
        assert_eq!(out[0].severity, Severity::Fail, "a known developer role");
        assert!(out[0].why.contains("not a default role"));
    }

    #[test]
    fn object_grants_group_per_object_and_public_packages_warn() {
        let mut f = least();
        f.tab_privs = Some(vec![
            tab("MCP_RO", "APP", "ORDERS", "INSERT", "TABLE"),
            tab("MCP_RO", "APP", "ORDERS", "UPDATE", "TABLE"),
            tab("PUBLIC", "SYS", "UTL_HTTP", "EXECUTE", "PACKAGE"),
            tab("MCP_RO", "SYS", "DATA_PUMP_DIR", "READ", "DIRECTORY"),
            tab("MCP_RO", "app", "Mixed Case", "DELETE", "TABLE"),
        ]);
        f.host_aces = Some(vec![]);
        let out = analyze("MCP_RO", &f);
        let fixes: Vec<&str> = out.iter().map(|o| o.fix.as_str()).collect();
        assert!(
            fixes.contains(&"REVOKE INSERT, UPDATE ON APP.ORDERS FROM MCP_RO;"),
            "{fixes:?}"
        );
        assert!(
            fixes.contains(&"REVOKE EXECUTE ON SYS.UTL_HTTP FROM PUBLIC;"),
            "{fixes:?}"
        );
        assert!(
            fixes.contains(&"REVOKE READ ON DIRECTORY DATA_PUMP_DIR FROM MCP_RO;"),
            "{fixes:?}"
        );
        assert!(
            fixes.contains(&"REVOKE DELETE ON \"app\".\"Mixed Case\" FROM MCP_RO;"),
            "{fixes:?}"
        );
        let http = out
            .iter()
            .find(|o| o.item.contains("UTL_HTTP"))
            .expect("utl_http");
        assert_eq!(http.severity, Severity::Warn);
        assert_eq!(http.kind, FindingKind::NetworkPackage);
        assert!(
            http.note
                .as_deref()
                .is_some_and(|n| n.contains("has none") && n.contains("every user"))
        );
    }

    #[test]
    fn aces_name_their_principal_when_the_dba_view_is_readable() {
        let mut f = least();
        let ace = |p: &str| AceRow {
            host: "api.example.com".into(),
            lower: Some(443),
            upper: Some(443),
            privilege: p.into(),
        };
        f.host_aces = Some(vec![ace("http"), ace("connect")]);
        let out = analyze("MCP_RO", &f);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .fix
                .contains("host => 'api.example.com', lower_port => 443, upper_port => 443"),
            "{}",
            out[0].fix
        );
        assert!(
            out[0]
                .fix
                .contains("xs$name_list('http', 'connect'), principal_name => 'MCP_RO'"),
            "{}",
            out[0].fix
        );
        assert!(
            out[0]
                .note
                .as_deref()
                .is_some_and(|n| n.contains("DBA_HOST_ACES"))
        );
        f.dba_aces = Some(vec![DbaAceRow {
            ace: ace("http"),
            principal: "PUBLIC".into(),
        }]);
        let out = analyze("MCP_RO", &f);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .fix
                .contains("xs$name_list('http'), principal_name => 'PUBLIC'"),
            "{}",
            out[0].fix
        );
        assert_eq!(out[0].via, "granted to PUBLIC");
    }

    #[test]
    fn links_owned_objects_and_unexplained_privileges() {
        let mut f = least();
        f.links = Some(vec![
            LinkRow {
                owner: "MCP_RO".into(),
                name: "REMOTE.EXAMPLE.COM".into(),
                host: "remote".into(),
            },
            LinkRow {
                owner: "PUBLIC".into(),
                name: "shared".into(),
                host: String::new(),
            },
        ]);
        f.owned = Some(vec![
            OwnedRow {
                object_type: "TABLE".into(),
                count: 3,
                example: "T1".into(),
            },
            OwnedRow {
                object_type: "INDEX".into(),
                count: 3,
                example: "I1".into(),
            },
            OwnedRow {
                object_type: "SEQUENCE".into(),
                count: 1,
                example: "S".into(),
            },
        ]);
        f.session_privs = Some(vec!["CREATE SESSION".into(), "CREATE PROCEDURE".into()]);
        let out = analyze("MCP_RO", &f);
        let fixes: Vec<&str> = out.iter().map(|o| o.fix.as_str()).collect();
        assert!(
            fixes.contains(&"DROP DATABASE LINK REMOTE.EXAMPLE.COM;"),
            "{fixes:?}"
        );
        assert!(
            fixes.contains(&"DROP PUBLIC DATABASE LINK \"shared\";"),
            "{fixes:?}"
        );
        assert!(
            fixes.contains(&"REVOKE CREATE PROCEDURE FROM MCP_RO;"),
            "{fixes:?}"
        );
        let owned: Vec<&PrivilegeFinding> = out
            .iter()
            .filter(|o| o.kind == FindingKind::OwnedObjects)
            .collect();
        assert_eq!(owned.len(), 2);
        assert_eq!(owned[0].item, "3 table(s), e.g. T1");
        assert_eq!(
            owned[1].item, "1 SEQUENCE",
            "indexes belong to their tables"
        );
    }

    #[test]
    fn names_are_quoted_and_cleaned() {
        assert_eq!(ident("MCP_RO"), "MCP_RO");
        assert_eq!(ident("select"), "\"select\"");
        assert_eq!(ident("TABLE"), "\"TABLE\"");
        assert_eq!(ident("A\"B"), "\"A\"\"B\"");
        assert_eq!(role_name("CONNECT"), "CONNECT");
        assert_eq!(grantee("PUBLIC"), "PUBLIC");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(clean(" X\u{1b}[31mY \u{202E}"), "X\u{FFFD}[31mY \u{FFFD}");
        assert_eq!(clean(&"x".repeat(1000)).chars().count(), MAX_TEXT + 1);
    }
}
