//! What a run tells the operator without stopping. Each warning has a
//! stable code, part of the public contract like the error codes: never
//! rename one.

use serde::Serialize;

/// Something worth telling the operator that does not stop the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
}

/// Every warning's code; index.d.ts names the same list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WarningCode {
    /// The old key (or the key verified) looks like a placeholder.
    #[serde(rename = "WARN_KEY_PLACEHOLDER")]
    KeyPlaceholder,
    /// The database has migrations the registry does not know.
    #[serde(rename = "WARN_UNKNOWN_MIGRATIONS")]
    UnknownMigrations,
    /// A column outside the registry holds values that open with the key.
    #[serde(rename = "WARN_UNREGISTERED_CIPHERTEXT")]
    UnregisteredCiphertext,
    /// The audit table refused the rotation's event; the rotation stands.
    #[serde(rename = "WARN_AUDIT_NOT_WRITTEN")]
    AuditNotWritten,
    /// A rotated table has user triggers, which fire on the UPDATE.
    #[serde(rename = "WARN_TABLE_TRIGGERS")]
    TableTriggers,
    /// `KG_HASH_SECRET` is set, but not to the old key.
    #[serde(rename = "WARN_KG_PIN_DIFFERS")]
    KgPinDiffers,
    /// The knowledge graph's hashes are keyed by `ENCRYPTION_KEY`.
    #[serde(rename = "WARN_KG_UNPINNED")]
    KgUnpinned,
}

impl WarningCode {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::KeyPlaceholder => "WARN_KEY_PLACEHOLDER",
            WarningCode::UnknownMigrations => "WARN_UNKNOWN_MIGRATIONS",
            WarningCode::UnregisteredCiphertext => "WARN_UNREGISTERED_CIPHERTEXT",
            WarningCode::AuditNotWritten => "WARN_AUDIT_NOT_WRITTEN",
            WarningCode::TableTriggers => "WARN_TABLE_TRIGGERS",
            WarningCode::KgPinDiffers => "WARN_KG_PIN_DIFFERS",
            WarningCode::KgUnpinned => "WARN_KG_UNPINNED",
        }
    }
}

impl PartialEq<&str> for WarningCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_serializes_as_its_name() {
        for code in [
            WarningCode::KeyPlaceholder,
            WarningCode::UnknownMigrations,
            WarningCode::UnregisteredCiphertext,
            WarningCode::AuditNotWritten,
            WarningCode::TableTriggers,
            WarningCode::KgPinDiffers,
            WarningCode::KgUnpinned,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
    }
}
