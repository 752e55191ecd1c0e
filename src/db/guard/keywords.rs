//! What the guard reacts to: keywords, refused packages and functions, and
//! the folding that makes look-alike letters count as the keywords they
//! resemble. Tables only; the rules that use them are in `analyse`.

use super::QueryKind;

/// Longest prefix of a name kept for matching; longer than any keyword or package.
const NORM_CAP: usize = 32;

/// Longest piece of user text echoed back in a message.
const MAX_ECHO: usize = 40;

/// A name folded to upper-case ASCII for table look-ups. Unicode letters that fold
/// or compatibility-map to ASCII (`ı`, `ſ`, fullwidth and mathematical letters) are
/// mapped too, so a database with looser keyword rules cannot see a keyword that
/// the guard missed.
pub(super) struct Norm {
    buf: [u8; NORM_CAP],
    len: usize,
}

impl Norm {
    /// `None` when the name cannot spell anything in ASCII, so is no keyword.
    pub(super) fn of(name: &str) -> Option<Self> {
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

    pub(super) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    pub(super) fn text(&self) -> String {
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

/// Clips user text before it is echoed in a message.
pub(super) fn clip(text: &str) -> String {
    crate::db::text::clip(text, MAX_ECHO)
}

pub(super) const SCHEMA: &str = "schema change";
pub(super) const TXN: &str = "transaction control";
const CONFIG: &str = "database configuration";
const MAINTENANCE: &str = "database maintenance";

/// What a keyword means to the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// SELECT, WITH, VALUES.
    QueryStart(QueryKind),
    /// Changes rows; REPLACE only when not the `replace(...)` function.
    Dml,
    /// Refused wherever it appears, described by this category.
    Anywhere(&'static str),
    /// Refused only as the first word: later it is a name (`comment`, `begin`)
    /// or a clause (`SEARCH ... SET`, `CASE ... END`, `... TRUNCATE`).
    AtStart(&'static str),
    /// A PL/SQL block opener, refused as the first word.
    Block,
    /// A function refused when called (`name(`).
    Call(&'static str),
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
    (b"BEGIN", Rule::Block),
    (b"BFILENAME", Rule::Call(FILES)),
    (b"CALL", Rule::Anywhere("procedure call")),
    (b"COMMENT", Rule::AtStart(SCHEMA)),
    (b"COMMIT", Rule::Anywhere(TXN)),
    (b"CREATE", Rule::Anywhere(SCHEMA)),
    (b"DECLARE", Rule::Block),
    (b"DELETE", Rule::Dml),
    (b"DETACH", Rule::Anywhere(CONFIG)),
    (b"DISASSOCIATE", Rule::AtStart(SCHEMA)),
    (b"DROP", Rule::Anywhere(SCHEMA)),
    (b"EDIT", Rule::Call("runs a program on the server")),
    (b"END", Rule::AtStart(TXN)),
    (b"EXEC", Rule::Anywhere("procedure call")),
    (b"EXECUTE", Rule::Anywhere("procedure call")),
    (
        b"EXPLAIN",
        Rule::AtStart("use the explain_query tool for plans"),
    ),
    (
        b"EXTERNAL",
        Rule::Call("inline external tables read server files or URLs"),
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
    (b"RENAME", Rule::AtStart(SCHEMA)),
    (b"REPLACE", Rule::Dml),
    (b"REVOKE", Rule::Anywhere("privilege change")),
    (b"ROLLBACK", Rule::Anywhere(TXN)),
    (b"SAVEPOINT", Rule::Anywhere(TXN)),
    (b"SELECT", Rule::QueryStart(QueryKind::Select)),
    (b"SET", Rule::AtStart("session setting")),
    (b"SHUTDOWN", Rule::Anywhere("instance control")),
    (b"STARTUP", Rule::Anywhere("instance control")),
    (b"TRUNCATE", Rule::AtStart(SCHEMA)),
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

pub(super) fn keyword(w: &[u8]) -> Option<Rule> {
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
    (b"APEX_LDAP", NETWORK),
    (b"APEX_AI", "sends data to an external AI service"),
    (b"APEX_EXEC", RUNS_CODE),
    (b"APEX_PLUGIN_UTIL", RUNS_CODE),
    (b"APEX_UTIL", CHANGES),
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

/// `DBMS_UTILITY` also runs DDL (`EXEC_DDL_STATEMENT`) and compiles schemas,
/// so only these read-only functions of it are allowed.
const DBMS_UTILITY_READ_ONLY: &[&[u8]] = &[
    b"CURRENT_INSTANCE",
    b"FORMAT_CALL_STACK",
    b"FORMAT_ERROR_BACKTRACE",
    b"FORMAT_ERROR_STACK",
    b"GET_CPU_TIME",
    b"GET_ENDIANNESS",
    b"GET_HASH_VALUE",
    b"GET_TIME",
    b"IS_CLUSTER_DATABASE",
    b"PORT_STRING",
];

/// Why the package or type `w`, named as `w.member`, may not be used, if it
/// is refused. `member` is the next name, when there is one.
pub(super) fn package_reason(w: &[u8], member: Option<&[u8]>) -> Option<&'static str> {
    // Cheap first-byte filter: almost every identifier stops here.
    if !matches!(w.first(), Some(b'D' | b'U' | b'H' | b'A' | b'C')) {
        return None;
    }
    if w == b"DBMS_UTILITY" {
        return match member {
            Some(m) if DBMS_UTILITY_READ_ONLY.contains(&m) => None,
            _ => Some(RUNS_CODE),
        };
    }
    if let Some(rest) = w.strip_prefix(b"DBMS_") {
        let known = DBMS_PACKAGES.iter().find(|(p, _)| rest.starts_with(p));
        return match known {
            Some(&(_, reason)) => Some(reason),
            None if READ_ONLY_PACKAGES.contains(&w) => None,
            None => Some(UNKNOWN_PACKAGE),
        };
    }
    if let Some(rest) = w.strip_prefix(b"APEX_") {
        // APEX_240200 is the APEX schema (its views are read through it).
        if rest.first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let known = OTHER_PACKAGES.iter().find(|(p, _)| w.starts_with(p));
        return Some(known.map_or(UNKNOWN_PACKAGE, |&(_, reason)| reason));
    }
    let known = OTHER_PACKAGES.iter().find(|(p, _)| w.starts_with(p));
    match known {
        Some(&(_, reason)) => Some(reason),
        None if w.starts_with(b"UTL_") && !READ_ONLY_PACKAGES.contains(&w) => Some(UNKNOWN_PACKAGE),
        None => None,
    }
}

/// Autonomous Database `SELECT AI <action>` verbs.
pub(super) const SELECT_AI_ACTIONS: &[&[u8]] = &[
    b"AGENT",
    b"CHAT",
    b"EXPLAINSQL",
    b"FEEDBACK",
    b"NARRATE",
    b"RUNSQL",
    b"SHOWPROMPT",
    b"SHOWSQL",
    b"SUMMARIZE",
    b"TRANSLATE",
];

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn packages_by_family_and_member() {
        assert_eq!(package_reason(b"DBMS_SQL", None), Some(RUNS_CODE));
        assert_eq!(package_reason(b"DBMS_LOB", Some(b"SUBSTR")), None);
        assert_eq!(package_reason(b"DBMS_UTILITY", Some(b"GET_TIME")), None);
        assert_eq!(
            package_reason(b"DBMS_UTILITY", Some(b"EXEC_DDL_STATEMENT")),
            Some(RUNS_CODE)
        );
        assert_eq!(package_reason(b"APEX_240200", Some(b"APEX_APPS")), None);
        assert!(package_reason(b"APEX_STRING", None).is_some());
        assert!(package_reason(b"APEX_LDAP", None).is_some());
        assert_eq!(package_reason(b"UTL_RAW", None), None);
        assert!(package_reason(b"UTL_PCT", None).is_some());
        assert_eq!(package_reason(b"EMPLOYEES", None), None);
    }
}
