//! Every way a keyrotate call fails: the enum, one variant per stable code.

use super::about::{
    KeyRole, LockHolder, LockKind, Missing, Place, Unopened, Unsupported, ValueAddress,
};
use super::invalid::Invalid;

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
        reason: Unopened,
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
