//! An error's machine-readable details and its advice to the operator:
//! what the API puts beside the message, and what the CLI prints after it.

use super::about::KeyRole;
use super::variants::Error;

impl Error {
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
}
