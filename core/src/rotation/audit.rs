//! The rotation in AnythingMCP's own audit trail: one `security_events` row,
//! written in the rotation's transaction, so it exists exactly when the
//! rotation committed. It holds fingerprints, counts and who ran it, never a
//! key or a plaintext; and no metadata key the admin UI would redact
//! (`/secret|password|token|credential|api[-_]?key/i`), so it shows as
//! written.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::rand_core::RngCore;
use serde_json::{json, Value};
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use crate::error::Result;
use crate::ident::quote_ident;
use crate::key::KeyPair;
use crate::report::{LocationStatus, RotationReport};
use crate::warning::{Warning, WarningCode};

use super::dberror::db_error;

const TABLE: &str = "security_events";
pub const EVENT: &str = "ENCRYPTION_KEY_ROTATED";
const USER_AGENT: &str = concat!("keyrotate/", env!("CARGO_PKG_VERSION"));

/// Who ran the rotation, as the caller's process knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    pub os_user: Option<String>,
    pub host: Option<String>,
}

/// Whether this release has the audit trail.
pub async fn present(tx: &Transaction<'_>, schema: &str) -> Result<bool> {
    Ok(tx
        .query_typed_one(
            "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
            &[(&qualified(schema), Type::TEXT)],
        )
        .await
        .map_err(db_error)?
        .get(0))
}

/// Write the event of the rotation `report` describes; returns its id. A
/// table whose shape refuses the row must not cost the rotation: the row is
/// written under a savepoint, and a refusal is a warning.
pub async fn record(
    tx: &Transaction<'_>,
    keys: &KeyPair,
    actor: &Actor,
    started: Instant,
    report: &mut RotationReport,
) -> Result<Option<String>> {
    let schema = report.target.schema.clone();
    let schema = schema.as_str();
    let id = cuid();
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let metadata = metadata(keys, actor, duration_ms, report).to_string();
    tx.batch_execute("SAVEPOINT keyrotate_audit")
        .await
        .map_err(db_error)?;
    let written = tx
        .query_typed(
            &format!(
                "INSERT INTO {} (id, event, actor_type, organization_id, actor_user_id, target_user_id, metadata, ip, user_agent) \
                 VALUES ($1, $2, 'SYSTEM', NULL, NULL, NULL, $3::text::jsonb, NULL, $4)",
                qualified(schema)
            ),
            &[
                (&id, Type::TEXT),
                (&EVENT, Type::TEXT),
                (&metadata, Type::TEXT),
                (&USER_AGENT, Type::TEXT),
            ],
        )
        .await;
    match written {
        Ok(_) => {
            tx.batch_execute("RELEASE SAVEPOINT keyrotate_audit")
                .await
                .map_err(db_error)?;
            Ok(Some(id))
        }
        Err(e) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT keyrotate_audit")
                .await
                .map_err(db_error)?;
            let why = e
                .as_db_error()
                .map(|d| format!("[{}] {}", d.code().code(), d.message()))
                .unwrap_or_else(|| e.to_string());
            report.findings.warnings.push(Warning {
                code: WarningCode::AuditNotWritten,
                message: format!("{schema}.{TABLE} exists but refused the rotation's event ({why}); the rotation is committed without it"),
            });
            Ok(None)
        }
    }
}

fn qualified(schema: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(TABLE))
}

fn metadata(keys: &KeyPair, actor: &Actor, duration_ms: u64, report: &RotationReport) -> Value {
    let locations: Vec<Value> = report
        .locations
        .iter()
        .filter(|l| l.status == LocationStatus::Processed)
        .map(|l| {
            let place = &l.location;
            let member = place
                .member
                .as_ref()
                .map(|m| format!(".{m}"))
                .unwrap_or_default();
            json!({
                "location": format!("{}.{}.{}{member}", place.schema, place.table, place.column),
                "reencrypted": l.reencrypted,
                "alreadyOnNewKey": l.already_on_new_key,
                "empty": l.empty,
            })
        })
        .collect();
    json!({
        "tool": "keyrotate",
        "version": env!("CARGO_PKG_VERSION"),
        "oldKeyFingerprint": keys.old.fingerprint(),
        "newKeyFingerprint": keys.new.fingerprint(),
        "valuesReencrypted": report.values_reencrypted,
        "rowsReencrypted": report.rows_reencrypted,
        "alreadyOnNewKey": report.already_on_new_key,
        "durationMs": duration_ms,
        "locations": locations,
        "osUser": actor.os_user,
        "host": actor.host,
    })
}

/// An id shaped like the cuids Prisma writes: `c`, then 24 lowercase
/// letters and digits (time first, so ids sort roughly by creation).
fn cuid() -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut id = String::with_capacity(25);
    id.push('c');
    let mut time = Vec::new();
    let mut t = millis;
    while t > 0 {
        time.push(ALPHABET[(t % 36) as usize] as char);
        t /= 36;
    }
    id.extend(time.iter().rev().take(8));
    let mut random = [0u8; 24];
    aes_gcm::aead::OsRng.fill_bytes(&mut random);
    id.extend(
        random
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % 36] as char),
    );
    id.truncate(25);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_cuids_and_do_not_repeat() {
        let ids: Vec<String> = (0..1000).map(|_| cuid()).collect();
        for id in &ids {
            assert_eq!(id.len(), 25, "{id}");
            assert!(id.starts_with('c'));
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
