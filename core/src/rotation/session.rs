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

/// What each setting must read back as, in PostgreSQL's own display
/// (`SHOW`, `current_setting`):
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
fn wanted(lock_ms: u128, durable_commit: bool) -> Vec<(&'static str, String, String)> {
    let mut out: Vec<(&'static str, String, String)> = TIMEOUTS
        .iter()
        .map(|t| (*t, "0".into(), "0".into()))
        .collect();
    out.push(("lock_timeout", lock_ms.to_string(), shown_ms(lock_ms)));
    for (name, value) in [("row_security", "off"), ("jit", "off")]
        .into_iter()
        .chain(durable_commit.then_some(("synchronous_commit", "on")))
    {
        out.push((name, value.into(), value.into()));
    }
    out
}

/// Milliseconds as PostgreSQL displays a setting in them: in the largest
/// unit that holds the value whole.
fn shown_ms(ms: u128) -> String {
    const UNITS: [(&str, u128); 4] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ];
    if ms == 0 {
        return "0".into();
    }
    UNITS
        .iter()
        .find(|(_, size)| ms.is_multiple_of(*size))
        .map_or_else(
            || format!("{ms}ms"),
            |(unit, size)| format!("{}{unit}", ms / size),
        )
}

/// Set the transaction's settings and check that they took, in one
/// statement: `set_config` returns what the setting now reads. A timeout
/// this server does not have (`transaction_timeout` before PostgreSQL 17)
/// is left alone and reads back NULL. The values are keyrotate's own
/// integers and words, never operator text.
pub async fn apply(tx: &Transaction<'_>, lock_ms: u128, durable_commit: bool) -> Result<()> {
    let wanted = wanted(lock_ms, durable_commit);
    let calls: Vec<String> = wanted
        .iter()
        .map(|(name, value, _)| {
            let set = format!("pg_catalog.set_config('{name}', '{value}', true)");
            match TIMEOUTS.contains(name) {
                true => format!(
                    "CASE WHEN pg_catalog.current_setting('{name}', true) IS NOT NULL THEN {set} END"
                ),
                false => set,
            }
        })
        .collect();
    let messages = tx
        .simple_query(&format!("SELECT {}", calls.join(", ")))
        .await
        .map_err(db_error)?;
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let wrong: Vec<String> = wanted
        .iter()
        .enumerate()
        .filter(|(i, (name, _, shown))| match row.map(|r| r.get(*i)) {
            Some(None) => !TIMEOUTS.contains(name),
            Some(Some(read)) => read != shown,
            None => true,
        })
        .map(|(_, (name, value, _))| format!("{name} is not {value}"))
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

#[cfg(test)]
mod tests {
    use super::shown_ms;

    #[test]
    fn milliseconds_are_shown_in_the_largest_whole_unit() {
        for (ms, shown) in [
            (0, "0"),
            (1, "1ms"),
            (1_500, "1500ms"),
            (10_000, "10s"),
            (90_000, "90s"),
            (120_000, "2min"),
            (7_200_000, "2h"),
            (172_800_000, "2d"),
            (90_061_001, "90061001ms"),
        ] {
            assert_eq!(shown_ms(ms), shown);
        }
    }
}
