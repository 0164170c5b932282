//! The one error type of keyrotate. Every variant has a stable string code that
//! the JS API puts on `Error.code` and the CLI maps to an exit status, so the
//! codes are part of the public contract: never rename one.
//!
//! No variant ever carries a key, a plaintext or a password. Locations name
//! table, column and primary key only; ciphertext values are never included.

mod about;
mod details;
mod invalid;
mod message;

pub use about::{KeyRole, LockHolder, LockKind, Missing, Place, Unsupported, ValueAddress};
pub use invalid::{Invalid, JsonFault, NameFault, NameOf, TemplateFault};

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
    /// lock timeout, connection string); `reason` says which and how.
    InvalidArgument { reason: Invalid },
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
    OldKeyMismatch { location: Box<ValueAddress> },
    /// `ERR_UNDECRYPTABLE`: a value opens with neither key while others
    /// open with the old key, or (`malformed`) is not in a shape the backend
    /// stores, whatever the key. The whole rotation is rolled back.
    Undecryptable {
        location: Box<ValueAddress>,
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

    /// An invalid argument whose reason is already worded: the catch-all
    /// [`Invalid::Other`], for what `connection` still words itself. Name
    /// an [`Invalid`] reason instead where there is one.
    pub fn invalid_argument(reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            reason: Invalid::Other(reason.into()),
        }
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Error::Internal {
            reason: reason.into(),
        }
    }
}

impl From<Invalid> for Error {
    fn from(reason: Invalid) -> Self {
        Error::InvalidArgument { reason }
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
            location: Box::new(ValueAddress {
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
