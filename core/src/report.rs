//! What a run tells the operator: per-column counts, failures by location,
//! columns found outside the registry, and the one-line summary the request
//! asks for. Reports hold counts, names and fingerprints only — never a key,
//! a plaintext or a ciphertext.

use serde::Serialize;

use crate::error::Location;
use crate::key::Warning;

/// At most this many failures are listed in a report; the count is exact.
pub const MAX_LISTED_FAILURES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ColumnStatus {
    /// The column exists and every value in it was examined.
    Processed,
    /// A registry default this database does not have (e.g. the legacy
    /// `mcp_server_configs` table after its migration dropped it).
    Absent,
}

/// Counts for one column. `alreadyOnNewKey` means "opens with the new key" in
/// a rotation and "opens with the given key" in a verify, so both reports
/// read the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnReport {
    pub schema: String,
    pub table: String,
    pub primary_key: String,
    pub column: String,
    pub status: ColumnStatus,
    pub rows: u64,
    pub reencrypted: u64,
    pub already_on_new_key: u64,
    pub empty: u64,
    pub failed: u64,
}

impl ColumnReport {
    pub fn new(
        schema: &str,
        table: &str,
        primary_key: &str,
        column: &str,
        status: ColumnStatus,
    ) -> Self {
        ColumnReport {
            schema: schema.to_owned(),
            table: table.to_owned(),
            primary_key: primary_key.to_owned(),
            column: column.to_owned(),
            status,
            rows: 0,
            reencrypted: 0,
            already_on_new_key: 0,
            empty: 0,
            failed: 0,
        }
    }
}

/// A value that would not open, by location only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(flatten)]
    pub location: Location,
    pub reason: String,
}

/// A column outside the registry that holds values opening with the key
/// being rotated away from (or verified): ciphertext a rotation would leave
/// behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredColumn {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// Values that opened with the key in the batch of candidates where the
    /// first one did (discovery stops there): at least 1.
    pub matches: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Findings {
    pub failures: Vec<Failure>,
    pub failure_count: u64,
    pub discovered: Vec<DiscoveredColumn>,
    pub warnings: Vec<Warning>,
    pub notices: Vec<String>,
}

impl Findings {
    pub fn record_failure(&mut self, failure: Failure) {
        self.failure_count += 1;
        if self.failures.len() < MAX_LISTED_FAILURES {
            self.failures.push(failure);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    pub dry_run: bool,
    /// True only when the transaction committed. A dry run never commits.
    pub committed: bool,
    pub rows_reencrypted: u64,
    pub already_on_new_key: u64,
    pub empty: u64,
    /// Tables that exist and were examined.
    pub tables: u64,
    /// `X rows re-encrypted across Y tables`.
    pub summary: String,
    pub columns: Vec<ColumnReport>,
    #[serde(flatten)]
    pub findings: Findings,
    pub duration_ms: u64,
    pub old_key_fingerprint: String,
    pub new_key_fingerprint: String,
    /// `host:port/database`, no credentials.
    pub database: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Every non-empty value opens with the key and no column outside the
    /// registry holds values under it.
    pub ok: bool,
    pub values_verified: u64,
    pub empty: u64,
    pub tables: u64,
    pub summary: String,
    pub columns: Vec<ColumnReport>,
    #[serde(flatten)]
    pub findings: Findings,
    pub duration_ms: u64,
    pub key_fingerprint: String,
    pub database: String,
}

/// Distinct existing tables among the processed columns.
pub fn table_count(columns: &[ColumnReport]) -> u64 {
    let mut seen: Vec<(&str, &str)> = columns
        .iter()
        .filter(|c| c.status == ColumnStatus::Processed)
        .map(|c| (c.schema.as_str(), c.table.as_str()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() as u64
}

/// The request's exact wording, kept literal (no singular forms) so scripts
/// can match it.
pub fn rotation_summary(rows: u64, tables: u64) -> String {
    format!("{rows} rows re-encrypted across {tables} tables")
}

pub fn verify_summary(values: u64, tables: u64, failed: u64) -> String {
    format!("{values} values open with the key across {tables} tables; {failed} do not")
}
