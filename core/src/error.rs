//! The one error type of keyrotate. Every variant has a stable string code that
//! the JS API puts on `Error.code` and the CLI maps to an exit status, so the
//! codes are part of the public contract: never rename one.
//!
//! No variant ever carries a key, a plaintext or a password. Locations name
//! table, column and primary key only; ciphertext values are never included.

use std::fmt;

/// Where in the database a value lives. The primary key is the row's
/// identifier, never its credential.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// The JSON member holding the sealed string, when it is not the whole value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    pub primary_key: String,
}

impl fmt::Display for Location {
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

/// Every way a keyrotate call fails. Each variant's doc names its code.
/// Variants carry names, counts and kinds, never a key, a plaintext, a
/// ciphertext or a password; new variants may be added (`non_exhaustive`),
/// codes are never renamed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `ERR_KEY_INVALID`: a key is missing, too short, not UTF-8, holds a NUL,
    /// has surrounding whitespace, or (new key only) looks like a placeholder.
    /// Raised before any database connection is made.
    KeyInvalid { role: KeyRole, reason: String },
    /// `ERR_KEY_UNCHANGED`: old and new keys derive the same 32-byte AES key,
    /// so a rotation would change nothing.
    KeyUnchanged,
    /// `ERR_INVALID_ARG`: an option is malformed (column spec, columns file,
    /// lock timeout, connection string).
    InvalidArgument { reason: String },
    /// `ERR_COLUMN_NOT_FOUND`: a location the operator named, or the one every
    /// AnythingMCP database has (`required`: `connectors.auth_config`), is
    /// missing its table or a column it needs. Registry defaults that are
    /// absent are reported, not raised.
    ColumnNotFound {
        place: Box<Place>,
        missing: Missing,
        required: bool,
    },
    /// `ERR_TABLE_UNSUPPORTED`: a location's table exists but cannot be
    /// rotated safely.
    TableUnsupported { place: Box<Place>, why: Unsupported },
    /// `ERR_ROW_SECURITY`: row-level security on a table that holds a
    /// location would hide rows from the connecting role, so a rotation
    /// would leave them behind.
    RowSecurity { schema: String, table: String },
    /// `ERR_OLD_KEY_MISMATCH`: values open with neither key and not one opens
    /// with the old key, so the old key is almost certainly wrong. `location`
    /// is the first value that failed.
    OldKeyMismatch { location: Box<Location> },
    /// `ERR_UNDECRYPTABLE`: a value opens with neither key while others
    /// open with the old key, or (`malformed`) is not in a shape the backend
    /// stores, whatever the key. The whole rotation is rolled back.
    Undecryptable {
        location: Box<Location>,
        reason: String,
        malformed: bool,
    },
    /// `ERR_UNREGISTERED_CIPHERTEXT`: a column outside the registry holds
    /// values that open with the old key; rotating would leave them behind.
    /// Raised before anything is written.
    UnregisteredCiphertext { place: Box<Place>, more: usize },
    /// `ERR_DB_CONNECT`: the server could not be reached, refused TLS, or
    /// rejected the credentials. `target` is `host:port/database`.
    DbConnect { target: String, reason: String },
    /// `ERR_LOCK_TIMEOUT`: another session held a conflicting lock (a writer
    /// or a concurrent rotation) for longer than the lock timeout. `holders`
    /// are the sessions seen holding it last (empty when none could be seen).
    LockTimeout {
        lock: LockKind,
        holders: Vec<LockHolder>,
    },
    /// `ERR_DB`: any other database error; the transaction was rolled back.
    /// `detail` and `hint` are the server's own, when it gave them (a detail
    /// that may quote row values is withheld: see `dberror`).
    Db {
        reason: String,
        sqlstate: Option<String>,
        detail: Option<String>,
        hint: Option<String>,
    },
    /// `ERR_COMMIT_UNKNOWN`: the connection failed while COMMIT was in
    /// flight, so whether the rotation committed cannot be known from here.
    /// Re-running the same rotation is safe either way.
    CommitUnknown { reason: String },
    /// `ERR_ALREADY_ON_NEW_KEY`: not one value opens with the old key, and
    /// `values` already open with the new one (`fingerprint`): a re-run of a
    /// finished rotation, or swapped keys. Nothing was written. It is not a
    /// success, because an operator who swapped the keys would otherwise
    /// start the backend on a key the data is not on.
    AlreadyOnNewKey { fingerprint: String, values: u64 },
    /// `ERR_KG_UNPINNED`: the knowledge graph's `kg_value_seen` holds hashes
    /// keyed by `ENCRYPTION_KEY` (`KG_HASH_SECRET` is not set), so a rotation
    /// would silently re-key it. Raised before anything is written, until
    /// the operator pins the key or accepts a relink.
    KnowledgeGraphUnpinned { schema: String },
    /// `ERR_SCHEMA_AMBIGUOUS`: the URL names a schema other than `public`,
    /// and both hold AnythingMCP's tables with sealed values; the backend's
    /// adapter reads `public` whatever the URL says, so the caller must
    /// choose which to rotate.
    SchemaAmbiguous { named: String },
    /// `ABORT_ERR` (Node's code for an aborted operation): the caller
    /// cancelled the run before its COMMIT was sent; the transaction was
    /// rolled back.
    Aborted,
    /// `ERR_INTERNAL`: a bug or an invariant violation (for example a freshly
    /// sealed value that does not re-open). Nothing was committed.
    Internal { reason: String },
}

impl Error {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::KeyInvalid { .. } => "ERR_KEY_INVALID",
            Error::KeyUnchanged => "ERR_KEY_UNCHANGED",
            Error::InvalidArgument { .. } => "ERR_INVALID_ARG",
            Error::ColumnNotFound { .. } => "ERR_COLUMN_NOT_FOUND",
            Error::TableUnsupported { .. } => "ERR_TABLE_UNSUPPORTED",
            Error::RowSecurity { .. } => "ERR_ROW_SECURITY",
            Error::UnregisteredCiphertext { .. } => "ERR_UNREGISTERED_CIPHERTEXT",
            Error::OldKeyMismatch { .. } => "ERR_OLD_KEY_MISMATCH",
            Error::Undecryptable { .. } => "ERR_UNDECRYPTABLE",
            Error::DbConnect { .. } => "ERR_DB_CONNECT",
            Error::LockTimeout { .. } => "ERR_LOCK_TIMEOUT",
            Error::Db { .. } => "ERR_DB",
            Error::CommitUnknown { .. } => "ERR_COMMIT_UNKNOWN",
            Error::AlreadyOnNewKey { .. } => "ERR_ALREADY_ON_NEW_KEY",
            Error::KnowledgeGraphUnpinned { .. } => "ERR_KG_UNPINNED",
            Error::SchemaAmbiguous { .. } => "ERR_SCHEMA_AMBIGUOUS",
            Error::Aborted => "ABORT_ERR",
            Error::Internal { .. } => "ERR_INTERNAL",
        }
    }

    /// Machine-readable details, tagged by `kind`: the value's location
    /// (`value`), the column (`place`), the table (`table`), the key (`key`),
    /// the keys' fingerprints (`keys`), the lock and who holds it (`lock`),
    /// the server's error (`database`), the server (`connection`). Never a
    /// value.
    pub fn details(&self) -> Option<serde_json::Value> {
        let (kind, mut body) = match self {
            Error::OldKeyMismatch { location } | Error::Undecryptable { location, .. } => {
                ("value", serde_json::to_value(&**location).ok()?)
            }
            Error::UnregisteredCiphertext { place, .. }
            | Error::ColumnNotFound { place, .. }
            | Error::TableUnsupported { place, .. } => {
                ("place", serde_json::to_value(&**place).ok()?)
            }
            Error::RowSecurity { schema, table } => (
                "table",
                serde_json::json!({ "schema": schema, "table": table }),
            ),
            Error::KeyInvalid { role, .. } => ("key", serde_json::json!({ "role": role })),
            Error::KnowledgeGraphUnpinned { schema } => (
                "place",
                serde_json::json!({ "schema": schema, "table": "kg_value_seen", "column": "value_hash" }),
            ),
            Error::AlreadyOnNewKey {
                fingerprint,
                values,
            } => (
                "keys",
                serde_json::json!({ "dataKeyFingerprint": fingerprint, "valuesOnNewKey": values }),
            ),
            Error::LockTimeout { lock, holders } => (
                "lock",
                serde_json::json!({ "lock": lock, "holders": holders }),
            ),
            Error::Db {
                sqlstate,
                detail,
                hint,
                ..
            } => (
                "database",
                serde_json::json!({ "sqlstate": sqlstate, "detail": detail, "hint": hint }),
            ),
            Error::DbConnect { target, .. } => {
                ("connection", serde_json::json!({ "target": target }))
            }
            Error::SchemaAmbiguous { named } => (
                "schemas",
                serde_json::json!({ "named": named, "backendReads": "public" }),
            ),
            _ => return None,
        };
        body.as_object_mut()?
            .insert("kind".to_owned(), serde_json::Value::from(kind));
        Some(body)
    }

    /// What to do next, in the operator's words. Never a value: fingerprints
    /// and names only.
    pub fn hint(&self) -> String {
        const UNTOUCHED: &str = "Nothing was changed.";
        match self {
            Error::KeyInvalid { role: KeyRole::New, .. } => "Use a new key of at least 32 characters that is not a placeholder, from a file, standard input or the environment; `generate-key` prints a strong one. Nothing was touched.".into(),
            Error::KeyInvalid { role: KeyRole::Old, .. } => "The old key must be the ENCRYPTION_KEY the backend runs with now, exactly as it is set there (from a file, standard input or the environment). Nothing was touched.".into(),
            Error::KeyInvalid { role: KeyRole::Verify, .. } => "Give the key to check exactly as the backend has it in ENCRYPTION_KEY (from a file, standard input or the environment). Nothing was touched.".into(),
            Error::KeyUnchanged => "The new key must differ from the old one in its first 32 bytes, the only ones the backend uses. Nothing was touched.".into(),
            Error::InvalidArgument { .. } => "Check the option the message names (--help for the command, index.d.ts for the API). Nothing was touched.".into(),
            Error::ColumnNotFound { .. } => format!("Check the location (--column, --columns-file) against the database and the schema the URL names. {UNTOUCHED}"),
            Error::TableUnsupported { .. } => format!("Check the location against the table (docs/locations.md). {UNTOUCHED}"),
            Error::RowSecurity { .. } => format!("Run as the table's owner (without FORCE ROW LEVEL SECURITY), a role with BYPASSRLS, or a superuser. {UNTOUCHED}"),
            Error::OldKeyMismatch { .. } => format!("The old key is not the one this database was encrypted with: use the ENCRYPTION_KEY the backend runs with now. {UNTOUCHED}"),
            Error::Undecryptable { .. } => format!("This one value is damaged, is not stored the way the backend stores it, or was sealed elsewhere (a value copied from another row does not open under its own row); the message says which. Re-enter or clear that credential in the backend, then run again. {UNTOUCHED}"),
            Error::UnregisteredCiphertext { .. } => format!("Add the location with a locations file (--columns-file, columnsFile; docs/locations.md) and run again; leaving it behind (--leave-unregistered, allowUnregistered) rotates anyway and leaves those values on the old key, unreadable to the backend. {UNTOUCHED}"),
            Error::AlreadyOnNewKey { fingerprint, .. } => format!("{UNTOUCHED} The data is on the key given as new ({fingerprint}). After a finished rotation, this re-run has nothing left to do: verify with that key. If the keys were swapped, the data was never on the other key: the backend must keep starting with the key whose fingerprint is {fingerprint} (check a key with `fingerprint`)."),
            Error::DbConnect { .. } => "Check DATABASE_URL (or --database-url), that the database is reachable, and its TLS settings (sslmode, sslrootcert). Nothing was changed.".into(),
            Error::LockTimeout { .. } => format!("Another rotation or a long transaction holds the tables (the message names the session). Retry, stop the backend, or raise the lock timeout (--lock-timeout, lockTimeoutMs). {UNTOUCHED}"),
            Error::Db { .. } => format!("The transaction was rolled back. {UNTOUCHED} The SQLSTATE and the server's words say what to fix."),
            Error::CommitUnknown { .. } => "Do not switch ENCRYPTION_KEY and do not restore a backup yet. Run the same rotation again with the same keys: values already on the new key are left alone, so it is safe whether or not the commit happened (it ends with ERR_ALREADY_ON_NEW_KEY if it had). Then verify with the new key, and only then switch.".into(),
            Error::SchemaAmbiguous { named } => format!("Choose the schema to rotate: --schema public, the one the backend reads, or --schema {named} (API: the schema option). {UNTOUCHED}"),
            Error::KnowledgeGraphUnpinned { .. } => format!("{UNTOUCHED} Choose before rotating. Pin: set KG_HASH_SECRET to the current ENCRYPTION_KEY, all of it, in the backend's environment (and in this shell), then rotate; the graph keeps its links, and after a leak it stays keyed by the leaked key. Or relink: rotate with --kg-relink (kgRelink: true); the graph starts new links from its next observation."),
            Error::Aborted => format!("The run was cancelled before its COMMIT; the transaction was rolled back. {UNTOUCHED}"),
            Error::Internal { .. } => "Nothing was committed. Please report this.".into(),
        }
    }

    pub fn invalid_argument(reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            reason: reason.into(),
        }
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Error::Internal {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyInvalid { role, reason } => write!(f, "{role} is invalid: {reason}"),
            Error::KeyUnchanged => f.write_str(
                "old and new keys are the same (their first 32 bytes are equal); nothing to rotate",
            ),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Error::ColumnNotFound {
                place,
                missing,
                required,
            } => {
                write!(f, "location {place}: {missing}")?;
                f.write_str(match required {
                    true => ". This is not an AnythingMCP database, or not its schema (check the database name and ?schema=)",
                    false => " (check the spelling and the schema)",
                })
            }
            Error::TableUnsupported { place, why } => write!(f, "location {place}: {why}"),
            Error::RowSecurity { schema, table } => write!(
                f,
                "row-level security on {schema}.{table} would hide rows from this role, so they would be left on the old key; nothing was changed. Run as the table's owner (with row security not forced), a role with BYPASSRLS, or a superuser"
            ),
            Error::OldKeyMismatch { location } => write!(
                f,
                "old key does not match: no value opens with it (the first that failed: {location}); nothing was changed"
            ),
            Error::UnregisteredCiphertext { place, more } => {
                write!(
                    f,
                    "{place} is not in the registry but holds values sealed under the old key; rotating would leave them behind, so nothing was changed"
                )?;
                if *more > 0 {
                    write!(f, " ({more} more such column(s) in the report)")?;
                }
                Ok(())
            }
            Error::Undecryptable {
                location,
                reason,
                malformed: false,
            } => write!(
                f,
                "value at {location} opens with neither key ({reason}); the rotation was rolled back and nothing was changed"
            ),
            Error::Undecryptable {
                location,
                reason,
                malformed: true,
            } => write!(
                f,
                "value at {location} is not stored as the backend stores it ({reason}), whatever the key; the rotation was rolled back and nothing was changed"
            ),
            Error::DbConnect { target, reason } => {
                write!(f, "cannot connect to database {target}: {reason}")
            }
            Error::LockTimeout { lock, holders } => {
                write!(f, "timed out waiting for a lock ({lock})")?;
                if !holders.is_empty() {
                    let named: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
                    write!(f, "; held by {}", named.join("; "))?;
                }
                f.write_str(". Nothing was changed")
            }
            Error::Db {
                reason,
                sqlstate,
                detail,
                hint,
            } => {
                f.write_str("database error")?;
                if let Some(state) = sqlstate {
                    write!(f, " [{state}]")?;
                }
                write!(f, ": {reason}")?;
                if let Some(detail) = detail {
                    write!(f, " (detail: {detail})")?;
                }
                if let Some(hint) = hint {
                    write!(f, " (PostgreSQL's hint: {hint})")?;
                }
                f.write_str("; the transaction was rolled back")
            }
            Error::CommitUnknown { reason } => write!(
                f,
                "the connection failed during COMMIT ({reason}); the rotation may or may not have committed. Do not switch keys: run the same rotation again with the same keys (values already on the new key are left alone), then verify with the new key"
            ),
            Error::AlreadyOnNewKey {
                fingerprint,
                values,
            } => write!(
                f,
                "nothing is sealed with the old key: all {values} sealed value(s) already open with the key given as new ({fingerprint}). This is a re-run of a finished rotation, or the keys are swapped; nothing was changed"
            ),
            Error::KnowledgeGraphUnpinned { schema } => write!(
                f,
                "{schema}.kg_value_seen holds knowledge-graph hashes keyed by ENCRYPTION_KEY (KG_HASH_SECRET is not set): rotating the key would silently re-key the graph; nothing was changed"
            ),
            Error::SchemaAmbiguous { named } => write!(
                f,
                "the URL names schema {named:?}, but the backend (Prisma 7 with @prisma/adapter-pg) reads \"public\" whatever ?schema= says, and both hold AnythingMCP tables with sealed values; nothing was changed"
            ),
            Error::Aborted => f.write_str(
                "the run was cancelled before its COMMIT; the transaction was rolled back and nothing was changed",
            ),
            Error::Internal { reason } => write!(f, "internal error: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Box<Place> {
        Box::new(Place {
            schema: "public".into(),
            table: "connectors".into(),
            column: "auth_config".into(),
            member: None,
        })
    }

    #[test]
    fn structured_variants_give_codes_details_and_words() {
        let missing = Error::ColumnNotFound {
            place: place(),
            missing: Missing::Table,
            required: true,
        };
        assert_eq!(missing.code(), "ERR_COLUMN_NOT_FOUND");
        assert_eq!(
            missing.details().unwrap(),
            serde_json::json!({"kind": "place", "schema": "public", "table": "connectors", "column": "auth_config"})
        );
        assert!(missing.to_string().contains("not an AnythingMCP database"));

        let split = Error::TableUnsupported {
            place: place(),
            why: Unsupported::PartitionedOrInherited,
        };
        assert_eq!(split.code(), "ERR_TABLE_UNSUPPORTED");
        assert!(split
            .to_string()
            .contains("partitioned or has child tables"));
        let typed = Error::TableUnsupported {
            place: place(),
            why: Unsupported::ColumnType {
                ty: "boolean".into(),
                member: false,
            },
        };
        assert!(typed.to_string().contains("of type boolean"));

        let lock = Error::LockTimeout {
            lock: LockKind::Rotation,
            holders: vec![LockHolder {
                pid: 4242,
                user: Some("amcp".into()),
                application_name: Some("psql".into()),
                state: Some("idle in transaction".into()),
                since: Some("2026-12-04T01:02:03Z".into()),
            }],
        };
        assert_eq!(lock.code(), "ERR_LOCK_TIMEOUT");
        assert!(lock.to_string().contains("another keyrotate run"));
        assert!(lock.to_string().contains(
            "held by pid 4242 (user amcp, application \"psql\", idle in transaction, in a transaction since 2026-12-04T01:02:03Z)"
        ));
        assert_eq!(
            lock.details().unwrap(),
            serde_json::json!({"kind": "lock", "lock": "rotation", "holders": [{
                "pid": 4242, "user": "amcp", "applicationName": "psql",
                "state": "idle in transaction", "since": "2026-12-04T01:02:03Z"
            }]})
        );
    }

    #[test]
    fn value_locations_name_the_member() {
        let e = Error::Undecryptable {
            location: Box::new(Location {
                schema: "public".into(),
                table: "org_settings".into(),
                column: "value".into(),
                member: Some("secretEnc".into()),
                primary_key: "os1".into(),
            }),
            reason: "authentication tag does not verify".into(),
            malformed: false,
        };
        assert_eq!(
            e.details().unwrap(),
            serde_json::json!({"kind": "value", "schema": "public", "table": "org_settings", "column": "value", "member": "secretEnc", "primaryKey": "os1"})
        );
        assert!(e
            .to_string()
            .contains("public.org_settings.value member \"secretEnc\" (primary key os1)"));
    }

    #[test]
    fn hints_fit_the_key_and_never_send_an_old_key_to_generate_key() {
        let invalid = |role| Error::KeyInvalid {
            role,
            reason: "it is 3 characters long".into(),
        };
        assert!(invalid(KeyRole::New).hint().contains("generate-key"));
        for role in [KeyRole::Old, KeyRole::Verify] {
            assert!(!invalid(role).hint().contains("generate"), "{role}");
            assert!(invalid(role).hint().contains("ENCRYPTION_KEY"), "{role}");
        }
        let done = Error::AlreadyOnNewKey {
            fingerprint: "0123456789ab".into(),
            values: 14,
        };
        assert_eq!(done.code(), "ERR_ALREADY_ON_NEW_KEY");
        assert!(done.hint().contains("0123456789ab"));
        assert_eq!(
            done.details().unwrap(),
            serde_json::json!({"kind": "keys", "dataKeyFingerprint": "0123456789ab", "valuesOnNewKey": 14})
        );
    }
}
