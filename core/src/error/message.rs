//! An error's message, in the operator's words.

use std::fmt;

use super::about::{LockHolder, LockKind, Missing, Place};
use super::variants::Error;

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
            } => column_not_found(f, place, missing, *required),
            Error::TableUnsupported { place, why } => write!(f, "location {place}: {why}"),
            Error::RowSecurity { schema, table } => write!(
                f,
                "row-level security on {schema}.{table} would hide rows from this role, so they would be left on the old key; nothing was changed. Run as the table's owner (with row security not forced), a role with BYPASSRLS, or a superuser"
            ),
            Error::OldKeyMismatch { location } => write!(
                f,
                "old key does not match: no value opens with it (the first that failed: {location}); nothing was changed"
            ),
            Error::UnregisteredCiphertext { place, more } => unregistered(f, place, *more),
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
            Error::LockTimeout { lock, holders } => lock_timeout(f, lock, holders),
            Error::Db {
                reason,
                sqlstate,
                detail,
                hint,
            } => database(f, reason, [sqlstate, detail, hint].map(Option::as_deref)),
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

fn column_not_found(
    f: &mut fmt::Formatter<'_>,
    place: &Place,
    missing: &Missing,
    required: bool,
) -> fmt::Result {
    write!(f, "location {place}: {missing}")?;
    f.write_str(match required {
        true => ". This is not an AnythingMCP database, or not its schema (check the database name and ?schema=)",
        false => " (check the spelling and the schema)",
    })
}

fn unregistered(f: &mut fmt::Formatter<'_>, place: &Place, more: usize) -> fmt::Result {
    write!(
        f,
        "{place} is not in the registry but holds values sealed under the old key; rotating would leave them behind, so nothing was changed"
    )?;
    if more > 0 {
        write!(f, " ({more} more such column(s) in the report)")?;
    }
    Ok(())
}

fn lock_timeout(
    f: &mut fmt::Formatter<'_>,
    lock: &LockKind,
    holders: &[LockHolder],
) -> fmt::Result {
    write!(f, "timed out waiting for a lock ({lock})")?;
    if !holders.is_empty() {
        let named: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
        write!(f, "; held by {}", named.join("; "))?;
    }
    f.write_str(". Nothing was changed")
}

/// The server's own words: SQLSTATE, message, detail and hint.
fn database(
    f: &mut fmt::Formatter<'_>,
    reason: &str,
    [sqlstate, detail, hint]: [Option<&str>; 3],
) -> fmt::Result {
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
