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
mod variants;

pub use about::{
    KeyRole, LockHolder, LockKind, Missing, Place, Unopened, Unsupported, ValueAddress,
};
pub use invalid::{Invalid, JsonFault, NameFault, NameOf, TemplateFault};
pub use variants::Error;

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
            reason: Unopened::Authentication,
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
