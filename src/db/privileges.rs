//! What the database user can do beyond reading, as the Oracle backends
//! find it in the data dictionary ([`crate::db::oracle::privileges`]).
//!
//! The guard and the read-only transaction stop writes that arrive as SQL;
//! the user's privileges decide what is left when either is bypassed. This
//! report turns "use a least-privilege user" into something `adb-mcp
//! doctor` and the startup log can check, with the statement that takes
//! each finding away.

use serde::Serialize;

/// How bad a finding is: `Fail` can change data or reach outside the
/// database; `Warn` reads more than it should, or is a common default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Fail,
}

/// Which part of the dictionary a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    OwnedObjects,
    SystemPrivilege,
    SchemaPrivilege,
    Role,
    ObjectGrant,
    NetworkPackage,
    NetworkAce,
    DatabaseLink,
}

impl FindingKind {
    /// Words for the human report (`system privilege CREATE TABLE`).
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::OwnedObjects => "owned objects:",
            FindingKind::SystemPrivilege => "system privilege",
            FindingKind::SchemaPrivilege => "schema privilege",
            FindingKind::Role => "role",
            FindingKind::ObjectGrant => "object grant",
            FindingKind::NetworkPackage => "network/file package:",
            FindingKind::NetworkAce => "network ACE:",
            FindingKind::DatabaseLink => "database link",
        }
    }
}

/// One thing the user can do beyond reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivilegeFinding {
    pub severity: Severity,
    pub kind: FindingKind,
    /// What was found: `CREATE TABLE`, `INSERT, UPDATE on APP.ORDERS`,
    /// `DWROLE`, `http on api.example.com`, a link or object count.
    pub item: String,
    /// How the user holds it: `granted directly`, `granted to PUBLIC`,
    /// `through role R`.
    pub via: String,
    /// Why it matters for a read-only service.
    pub why: String,
    /// The exact statement that takes it away (run as ADMIN unless the
    /// note says otherwise); for owned objects, the step instead.
    pub fix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PrivilegeFinding {
    /// One line for the doctor: `system privilege CREATE TABLE (granted
    /// directly): …`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} ({}): {}",
            self.kind.label(),
            self.item,
            self.via,
            self.why
        );
        if let Some(n) = &self.note {
            s.push_str("; ");
            s.push_str(n);
        }
        s
    }

    /// A few words for the startup log line.
    pub fn short(&self) -> String {
        format!("{} {}", self.kind.label().trim_end_matches(':'), self.item)
    }
}

/// A part of the dictionary that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unchecked {
    /// `network ACEs`, `object grants`, …
    pub what: String,
    /// The view that failed and the database's message.
    pub reason: String,
}

/// Everything the check found for one database user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivilegeReport {
    /// The database user the backend connects as.
    pub user: String,
    /// Worst first.
    pub findings: Vec<PrivilegeFinding>,
    /// Findings left out of `findings` to keep the report bounded.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// The parts that were read (`system privileges`, `roles`, …).
    pub checked: Vec<String>,
    pub unchecked: Vec<Unchecked>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PrivilegeReport {
    /// The worst severity found, `None` when the user can only read.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// One line for the startup log: counts and the first few findings,
    /// never SQL text from users (there is none in here) or secrets.
    pub fn summary(&self) -> String {
        const SHOWN: usize = 6;
        let total = self.findings.len() + self.omitted;
        if total == 0 {
            return format!("database user {} can only read", self.user);
        }
        let mut items: Vec<String> = self
            .findings
            .iter()
            .take(SHOWN)
            .map(|f| f.short())
            .collect();
        if total > SHOWN {
            items.push(format!("and {} more", total - SHOWN));
        }
        format!(
            "database user {} can do more than read: {} finding(s) ({} fail, {} warn): {}; `adb-mcp doctor` lists the statements that revoke them",
            self.user,
            total,
            self.count(Severity::Fail),
            self.count(Severity::Warn),
            items.join("; ")
        )
    }
}
