//! The settings keyrotate's transactions run under, whatever the server,
//! the database or the role has as defaults.
//!
//! Every one is transaction-local (`set_config(..., true)`), set as the
//! transaction's first statement and read back before anything else runs:
//! behind a pooler in transaction mode a session-level setting would land
//! on whichever server connection the statement happened to get, and then
//! outlive the run on a connection other clients share.

use tokio_postgres::{Client, IsolationLevel, SimpleQueryMessage, Transaction};

use crate::error::{Error, Result};

use super::dberror::db_error;

/// The role or database defaults that would cut a long rotation short and
/// roll it back. `transaction_timeout` exists from PostgreSQL 17; reading
/// the names from `pg_settings` sets only those the server has.
const TIMEOUTS: [&str; 3] = [
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "transaction_timeout",
];

/// What each setting must read back as (`pg_settings.setting`).
/// - the timeouts: 0, off;
/// - `lock_timeout`: the run's own bound on waiting for a lock;
/// - `row_security = off`: under row-level security a rotation would see,
///   and rewrite, only some rows and still commit; off, PostgreSQL refuses
///   with an error instead;
/// - `synchronous_commit = on` (rotations): the operator switches keys once
///   the command says it committed, so the commit must be durable whatever
///   the server, database or role default is;
/// - `jit = off`: measured (docs/benchmarks.md), JIT only adds compile time
///   to these plain scans.
fn wanted(lock_ms: u128, durable_commit: bool) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = TIMEOUTS.iter().map(|t| (*t, "0".into())).collect();
    out.push(("lock_timeout", lock_ms.to_string()));
    out.push(("row_security", "off".into()));
    out.push(("jit", "off".into()));
    if durable_commit {
        out.push(("synchronous_commit", "on".into()));
    }
    out
}

/// Set the transaction's settings and check that they took, in one round
/// trip. The values are keyrotate's own integers and words, never operator
/// text.
pub async fn apply(tx: &Transaction<'_>, lock_ms: u128, durable_commit: bool) -> Result<()> {
    let wanted = wanted(lock_ms, durable_commit);
    let names = |list: &[&str]| {
        list.iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fixed: Vec<String> = wanted
        .iter()
        .filter(|(name, _)| !TIMEOUTS.contains(name))
        .map(|(name, value)| format!("pg_catalog.set_config('{name}', '{value}', true)"))
        .collect();
    let all: Vec<&str> = wanted.iter().map(|(name, _)| *name).collect();
    let sql = format!(
        "SELECT pg_catalog.set_config(name, '0', true) FROM pg_catalog.pg_settings WHERE name IN ({}); \
         SELECT {}; \
         SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN ({})",
        names(&TIMEOUTS),
        fixed.join(", "),
        names(&all)
    );
    let messages = tx.simple_query(&sql).await.map_err(db_error)?;
    let mut seen = Vec::new();
    // The read-back is the last statement: its rows come after the last
    // completion of the statements before it.
    let last = messages
        .iter()
        .rposition(|m| matches!(m, SimpleQueryMessage::CommandComplete(_)))
        .unwrap_or(0);
    let start = messages[..last]
        .iter()
        .rposition(|m| matches!(m, SimpleQueryMessage::CommandComplete(_)))
        .map_or(0, |i| i + 1);
    for message in &messages[start..last] {
        if let SimpleQueryMessage::Row(row) = message {
            seen.push((
                row.get(0).unwrap_or("").to_owned(),
                row.get(1).unwrap_or("").to_owned(),
            ));
        }
    }
    let wrong: Vec<String> = wanted
        .iter()
        .filter(|(name, _)| seen.iter().any(|(n, _)| n == name) || !TIMEOUTS.contains(name))
        .filter(|(name, value)| !seen.iter().any(|(n, v)| n == name && v == value))
        .map(|(name, value)| format!("{name} is not {value}"))
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(Error::Db {
        reason: format!(
            "the transaction's own settings did not take ({}); nothing was run under them",
            wrong.join(", ")
        ),
        sqlstate: None,
        detail: None,
        hint: None,
    })
}

/// Before the writes. Each batch's UPDATE finds its rows by ctid; costing
/// every TID fetch as a random page read, the planner would rather hash the
/// whole table for each batch, which on a table of a few thousand rows
/// costs more than the batch's own writes (docs/benchmarks.md). With hash
/// and merge joins off, for the rest of the transaction only, it fetches
/// exactly the batch's rows. Set after the catalogue reads, which keep
/// their own plans.
pub async fn prefer_row_lookups(tx: &Transaction<'_>) -> Result<()> {
    tx.simple_query(
        "SELECT pg_catalog.set_config('enable_hashjoin', 'off', true), \
         pg_catalog.set_config('enable_mergejoin', 'off', true)",
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// A read-only transaction on one snapshot of the whole database: what
/// verify and discovery read, without taking a lock any writer waits for.
pub(super) async fn read_only(client: &mut Client, lock_ms: u128) -> Result<Transaction<'_>> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db_error)?;
    apply(&tx, lock_ms, false).await?;
    Ok(tx)
}
