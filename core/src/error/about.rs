//! What an error is about: a value's address, a column, a key, a lock and
//! who holds it. Names, kinds and counts only, never a value.

use std::fmt;

/// Where in the database a value lives: its row's address. The primary key is the row's
/// identifier, never its credential.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueAddress {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// The JSON member holding the sealed string, when it is not the whole value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    pub primary_key: String,
}

impl fmt::Display for ValueAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.schema, self.table, self.column)?;
        if let Some(member) = &self.member {
            write!(f, " member {member:?}")?;
        }
        write!(f, " (primary key {})", self.primary_key)
    }
}

/// A column outside the registry, named without any value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// The JSON path of a string inside the column's documents, if it is not
    /// the whole value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.schema, self.table, self.column)?;
        match &self.member {
            Some(member) => write!(f, " (JSON {member})"),
            None => Ok(()),
        }
    }
}

/// Which key an error or warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    Old,
    New,
    Verify,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::Old => "old key",
            KeyRole::New => "new key",
            KeyRole::Verify => "key",
        })
    }
}

/// What a location is missing in this database.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    Table,
    Column,
    /// The column that names rows in reports.
    PrimaryKey(String),
    /// A column the location's row filter compares.
    FilterColumn(String),
    /// A column the location's AAD template is built from.
    AadColumn(String),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Table => f.write_str("the table does not exist"),
            Missing::Column => f.write_str("the table has no such column"),
            Missing::PrimaryKey(c) => write!(f, "its primary key column {c} does not exist"),
            Missing::FilterColumn(c) => write!(f, "its filter column {c} does not exist"),
            Missing::AadColumn(c) => write!(f, "its AAD column {c} does not exist"),
        }
    }
}

/// Why a table that exists cannot be rotated safely.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// Rows are written back by ctid, which names a row only within one
    /// physical table: across partitions or child tables it would write one
    /// row's credential into another.
    PartitionedOrInherited,
    /// Sealed strings live in text (whole values), or in text, json or jsonb
    /// (members of JSON documents).
    ColumnType { ty: String, member: bool },
    /// Locations in one table must name rows by the same column.
    MixedPrimaryKeys,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::PartitionedOrInherited => f.write_str(
                "the table is partitioned or has child tables; register each partition or child table as its own location instead",
            ),
            Unsupported::ColumnType { ty, member: false } => write!(
                f,
                "the column is of type {ty}; sealed values are stored in text"
            ),
            Unsupported::ColumnType { ty, member: true } => write!(
                f,
                "the column is of type {ty}; JSON documents are stored in text, json or jsonb"
            ),
            Unsupported::MixedPrimaryKeys => f.write_str(
                "the table's locations name rows by different columns; give them the same primaryKey",
            ),
        }
    }
}

/// Which lock a run waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LockKind {
    /// The advisory lock every keyrotate run takes: another rotation holds it.
    Rotation,
    /// The EXCLUSIVE locks on the tables that hold locations: a writer, or a
    /// long transaction, holds a conflicting lock.
    Tables,
    /// A lock on a table discovery reads: another session holds it in
    /// ACCESS EXCLUSIVE mode (a migration, `VACUUM FULL`, ...).
    Discovery,
    /// Any other lock a statement waited for.
    Other,
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockKind::Rotation => "another keyrotate run holds the rotation lock",
            LockKind::Tables => "a writer or another session holds a lock on the tables",
            LockKind::Discovery => {
                "another session holds an exclusive lock on a table discovery must search (a migration or VACUUM FULL?)"
            }
            LockKind::Other => "a conflicting lock is held",
        })
    }
}

/// A session holding a lock a run waits for: what an operator needs to find
/// it (`pg_stat_activity`), never what it runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    pub pid: i32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    /// `active`, `idle in transaction`, ...
    pub state: Option<String>,
    /// When its transaction began (UTC, ISO 8601).
    pub since: Option<String>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.pid)?;
        let mut parts = Vec::new();
        if let Some(user) = &self.user {
            parts.push(format!("user {user}"));
        }
        if let Some(app) = self.application_name.as_deref().filter(|a| !a.is_empty()) {
            parts.push(format!("application {app:?}"));
        }
        match (&self.state, &self.since) {
            (Some(state), Some(since)) => {
                parts.push(format!("{state}, in a transaction since {since}"))
            }
            (Some(state), None) => parts.push(state.clone()),
            (None, Some(since)) => parts.push(format!("in a transaction since {since}")),
            (None, None) => {}
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Why one value failed to open, or could not be tried: never the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unopened {
    /// Fewer bytes than an IV and a tag.
    TooShort,
    /// The tag did not verify: wrong key, wrong AAD, or an altered value.
    Authentication,
    /// The column's document is not valid JSON.
    NotJson,
    /// The member is present but is not a string.
    MemberNotAString,
    /// The member appears more than once in the document.
    DuplicateMember,
    /// The stored text is not valid UTF-8.
    NotUtf8,
    /// A column the AAD is built from is not valid UTF-8.
    AadColumnNotUtf8,
    /// A column the AAD is built from is NULL.
    AadColumnNull,
}

impl fmt::Display for Unopened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unopened::TooShort => "too short to hold an IV and a tag",
            Unopened::Authentication => "authentication tag does not verify",
            Unopened::NotJson => "the document is not valid JSON",
            Unopened::MemberNotAString => "the member is present but is not a string",
            Unopened::DuplicateMember => "the member appears more than once in the document",
            Unopened::NotUtf8 => "the stored text is not valid UTF-8",
            Unopened::AadColumnNotUtf8 => "a column the AAD is built from is not valid UTF-8",
            Unopened::AadColumnNull => "a column the AAD is built from is NULL",
        })
    }
}

/// In reports, the words.
impl serde::Serialize for Unopened {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
