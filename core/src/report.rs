//! What a run tells the operator: per-location counts, failures by location,
//! ciphertext found outside the registry, the migrations the database has,
//! and the one-line summary the request asks for. Reports hold counts, names and fingerprints only — never a key,
//! a plaintext or a ciphertext.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::connection::DatabaseIdentity;
use crate::error::{Error, Place, Unopened, ValueAddress};
use crate::locations::{Location, ResolvedLocation};
use crate::warning::Warning;

/// At most this many failures are listed in a report; the count is exact.
pub const MAX_LISTED_FAILURES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LocationStatus {
    /// The location exists and every value in it was examined.
    Processed,
    /// A registry default this database does not have (a table from a newer
    /// release, or the legacy `mcp_server_configs.auth_config`).
    Absent,
}

/// A location as a run looks for it: what `describeLocations` lists and
/// every location report begins with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationDescription {
    pub schema: String,
    pub table: String,
    pub primary_key: String,
    pub column: String,
    /// The JSON member holding the sealed string, or null for the whole value.
    pub member: Option<String>,
    /// `none`, `constant` or `template`: how the AAD is built (never the AAD).
    pub aad: &'static str,
    /// The row filter's columns and values, when the location has one.
    #[serde(rename = "where")]
    pub filter: Option<BTreeMap<String, String>>,
}

impl From<&ResolvedLocation> for LocationDescription {
    fn from(location: &ResolvedLocation) -> Self {
        LocationDescription {
            schema: location.schema().to_owned(),
            table: location.table.clone(),
            primary_key: location.primary_key.clone(),
            column: location.column.clone(),
            member: location.member.clone(),
            aad: location.aad.kind(),
            filter: filter_of(location),
        }
    }
}

/// Counts for one location. `alreadyOnNewKey` means "opens with the new key"
/// in a rotation and "opens with the given key" in a verify, so both reports
/// read the same way. For a processed location,
/// `rows = reencrypted + alreadyOnNewKey + empty + failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationReport {
    #[serde(flatten)]
    pub location: LocationDescription,
    pub status: LocationStatus,
    /// Why an absent location is absent.
    pub absent_reason: Option<String>,
    /// Rows the location covers (those its filter selects).
    pub rows: u64,
    pub reencrypted: u64,
    pub already_on_new_key: u64,
    /// NULL, empty, or (JSON members) a document without the member.
    pub empty: u64,
    pub failed: u64,
}

impl LocationReport {
    pub fn new(location: &ResolvedLocation, status: LocationStatus) -> Self {
        LocationReport {
            location: LocationDescription::from(location),
            status,
            absent_reason: None,
            rows: 0,
            reencrypted: 0,
            already_on_new_key: 0,
            empty: 0,
            failed: 0,
        }
    }

    /// Whether this report is about `location`.
    pub fn is_for(&self, location: &ResolvedLocation) -> bool {
        LocationDescription::from(location) == self.location
    }
}

fn filter_of(location: &Location) -> Option<BTreeMap<String, String>> {
    (!location.filter.is_empty()).then(|| location.filter.iter().cloned().collect())
}

/// The graph as a run found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeGraph {
    /// The release has `kg_value_seen`.
    pub present: bool,
    /// It holds hashes that a change of their key would orphan.
    pub has_rows: bool,
    /// What keys them after the rotation: `KG_HASH_SECRET` (pinned), or
    /// `ENCRYPTION_KEY` (unpinned: the new key, once rotated).
    pub keyed_by: KeyedBy,
    /// The operator chose to relink.
    pub relink: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum KeyedBy {
    #[default]
    #[serde(rename = "ENCRYPTION_KEY")]
    EncryptionKey,
    #[serde(rename = "KG_HASH_SECRET")]
    HashSecret,
}

impl KnowledgeGraph {
    /// A rotation that would re-key hashes the operator has not chosen about.
    pub fn unresolved(&self) -> bool {
        self.has_rows && self.keyed_by == KeyedBy::EncryptionKey && !self.relink
    }
}

/// A value that would not open, by location only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(flatten)]
    pub location: ValueAddress,
    pub reason: Unopened,
    /// Not in a shape the backend stores: no key was tried.
    #[serde(skip)]
    pub malformed: bool,
}

/// A place outside the registry that holds values opening with the key
/// being rotated away from (or verified): ciphertext a rotation would leave
/// behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredColumn {
    #[serde(flatten)]
    pub place: Place,
    /// The AAD that opened it: null for none, else a constant (never a
    /// per-row AAD, which discovery cannot guess).
    pub aad: Option<String>,
    /// Values that opened with the key in the batch of candidates where the
    /// first one did (discovery stops there): at least 1.
    pub matches: u64,
}

/// What `_prisma_migrations` says about the database's release.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migrations {
    /// The table exists (and could be read).
    pub present: bool,
    /// Migrations applied and not rolled back.
    pub applied: u64,
    /// The newest of them, by name (Prisma applies them in name order).
    pub newest: Option<String>,
    /// Applied migrations the registry does not know: a newer release may
    /// seal secrets in places the registry does not list.
    pub unknown: Vec<String>,
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
    /// Rows rewritten, or in a dry run that would be (a row with several
    /// locations is one row).
    pub rows_reencrypted: u64,
    /// Values re-encrypted (or that would be), summed over the locations.
    pub values_reencrypted: u64,
    /// Values that already open with the new key, left alone.
    pub already_on_new_key: u64,
    /// NULL or empty values, and documents without the member.
    pub empty: u64,
    /// Tables where rows were (or would be) rewritten.
    pub tables: u64,
    /// `X rows re-encrypted across Y tables` (a dry run: `would be`).
    pub summary: String,
    /// Whether any value opened with the old key; null when nothing is
    /// sealed at all, so there was nothing for it to open.
    pub old_key_matches: Option<bool>,
    pub locations: Vec<LocationReport>,
    pub migrations: Migrations,
    #[serde(flatten)]
    pub findings: Findings,
    pub duration_ms: u64,
    pub old_key_fingerprint: String,
    pub new_key_fingerprint: String,
    /// `host:port/database`, no credentials.
    pub database: String,
    /// User, host, port, database and schema acted on.
    pub target: DatabaseIdentity,
    /// The knowledge graph's hashes, and what keys them after the run.
    pub knowledge_graph: KnowledgeGraph,
    /// The `security_events` row the committed rotation wrote, if the
    /// release has the table.
    pub audit_event_id: Option<String>,
}

/// A rotation that did not succeed: why, and the report when the run got
/// that far (a dry run's findings, or a run that found nothing to rotate),
/// so that a caller who catches the error still sees every finding.
#[derive(Debug)]
pub struct Rejection {
    pub error: Error,
    pub report: Option<Box<RotationReport>>,
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection {
            error,
            report: None,
        }
    }
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
    pub locations: Vec<LocationReport>,
    pub migrations: Migrations,
    #[serde(flatten)]
    pub findings: Findings,
    pub duration_ms: u64,
    pub key_fingerprint: String,
    pub database: String,
    pub target: DatabaseIdentity,
    pub knowledge_graph: KnowledgeGraph,
}

/// Distinct existing tables among the processed locations.
pub fn table_count(locations: &[LocationReport]) -> u64 {
    let mut seen: Vec<(&str, &str)> = locations
        .iter()
        .filter(|c| c.status == LocationStatus::Processed)
        .map(|c| (c.location.schema.as_str(), c.location.table.as_str()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() as u64
}

/// The request's exact wording, kept literal (no singular forms) so scripts
/// can match it; a dry run says what would happen.
pub fn rotation_summary(rows: u64, tables: u64, dry_run: bool) -> String {
    let verb = if dry_run {
        "would be re-encrypted"
    } else {
        "re-encrypted"
    };
    format!("{rows} rows {verb} across {tables} tables")
}

pub fn verify_summary(values: u64, tables: u64, failed: u64) -> String {
    format!("{values} values open with the key across {tables} tables; {failed} do not")
}
